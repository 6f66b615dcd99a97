"""Configuration of the synthetic dataset: typed dataclasses, device presets, the JSON schema and a checker.

The dataclass fields are the single source of truth: each carries its default, a one-line description and
its limits, from which both `SYNTHETIC_SCHEMA` (embedded by the pipeline under `dataset.synthetic`) and
`SyntheticConfig.from_dict` (which names the offending key in every error) are derived.

Device settings work as overrides: a centre names a device preset (`um2r`, like an Olympus UM-2R 12 MHz
miniprobe with its endoscopy processor, or `um3r`, 20 MHz) and may override single settings under `eus:` /
`wle:`; a setting left out or null keeps the preset's value. That keeps the schema's defaults (null)
harmless when a validator fills them in.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mmdiag.data.synthetic.generative import DEFAULT_TABLES, LABELS, VOCABULARIES, GenerativeModel
from mmdiag.errors import ConfigError

CONFIG_PREFIX = "dataset.synthetic"


def option(default: Any, doc: str, **limits: Any) -> Any:
    """A dataclass field with an immutable default, its schema description and limits (minimum, enum...)."""
    return field(default=default, metadata={"doc": doc, **limits})


@dataclass(frozen=True)
class EusDevice:
    """How one centre's ultrasound system renders: field of view, resolution, speckle, gain curve."""

    size: tuple[int, int] = option((80, 64), "native image size [width, height] in pixels", minimum=16, maximum=1024)
    fan_degrees: float = option(100.0, "opening angle of the sector (fan) field of view", minimum=30, maximum=170)
    resolution: float = option(
        0.7,
        "fraction of the native size the scan is formed at before upscaling (lower = blurrier)",
        exclusiveMinimum=0,
        maximum=1,
    )
    speckle: float = option(
        0.5, "multiplicative speckle strength (0 = none, 1 = fully developed)", minimum=0, maximum=1
    )
    speckle_grain: float = option(
        0.022,
        "speckle correlation length as a fraction of the image height (coarser at low MHz)",
        minimum=0,
        maximum=0.2,
    )
    attenuation: float = option(
        0.35, "depth attenuation left after gain compensation (higher at high MHz)", minimum=0, maximum=5
    )
    gain: float = option(1.0, "overall brightness multiplier", exclusiveMinimum=0, maximum=5)
    contrast: float = option(1.0, "contrast around mid-grey", exclusiveMinimum=0, maximum=5)
    gamma: float = option(1.0, "display gamma applied after gain", exclusiveMinimum=0, maximum=5)
    noise: float = option(0.02, "additive electronic noise (std, on a 0-1 scale)", minimum=0, maximum=0.5)


@dataclass(frozen=True)
class WleDevice:
    """How one centre's endoscopy processor renders: optics mask, colour cast, sharpness, sensor noise."""

    size: tuple[int, int] = option((72, 64), "native image size [width, height] in pixels", minimum=16, maximum=1024)
    resolution: float = option(
        0.85,
        "fraction of the native size the sensor resolves before upscaling (lower = blurrier)",
        exclusiveMinimum=0,
        maximum=1,
    )
    colour_cast: tuple[float, float, float] = option(
        (1.0, 1.0, 1.0), "per-channel [R, G, B] gain (white balance)", minimum=0, maximum=3
    )
    saturation: float = option(1.0, "colour saturation (1 = unchanged)", minimum=0, maximum=3)
    contrast: float = option(1.0, "contrast around mid-grey", exclusiveMinimum=0, maximum=5)
    gamma: float = option(1.0, "display gamma", exclusiveMinimum=0, maximum=5)
    noise: float = option(0.015, "additive sensor noise (std, on a 0-1 scale)", minimum=0, maximum=0.5)
    vignette: float = option(0.35, "light fall-off towards the corners (0 = none)", minimum=0, maximum=1)
    mask: str = option("circle", "shape of the optics' field-of-view mask", enum=["circle", "octagon", "none"])


DEVICE_PRESETS: dict[str, tuple[str, EusDevice, WleDevice]] = {
    # 12 MHz: coarse speckle, deep penetration, lower resolution; round optics mask.
    "um2r": ("Olympus UM-2R-like miniprobe, 12 MHz", EusDevice(), WleDevice()),
    # 20 MHz: fine speckle, stronger attenuation, sharper; square scan; slightly bluer, sharper processor.
    "um3r": (
        "Olympus UM-3R-like miniprobe, 20 MHz",
        EusDevice(
            size=(64, 64),
            fan_degrees=80.0,
            resolution=1.0,
            speckle=0.35,
            speckle_grain=0.012,
            attenuation=0.8,
            gain=1.15,
            contrast=1.15,
            gamma=0.85,
            noise=0.03,
        ),
        WleDevice(
            size=(80, 64),
            resolution=1.0,
            colour_cast=(0.98, 1.0, 1.03),
            saturation=1.0,
            contrast=1.04,
            gamma=0.97,
            noise=0.025,
            vignette=0.25,
            mask="octagon",
        ),
    ),
}
# Centre names whose device defaults to a preset other than um2r when `device` is left out.
_DEFAULT_DEVICE_BY_CENTRE = {"centre_a": "um2r", "centre_b": "um3r"}


@dataclass(frozen=True)
class CentreConfig:
    """One centre (hospital / device): its cases and how its devices render them."""

    name: str = option("centre_a", "centre name written to cases.csv", pattern=r"^[A-Za-z0-9_-]+$")
    n_cases: int = option(240, "number of cases (patients, one lesion each)", minimum=1, maximum=100000)
    device: str | None = option(
        None,
        "device preset the eus/wle settings start from; null: um3r for 'centre_b', else um2r",
        enum=[*DEVICE_PRESETS, None],
    )
    description: str | None = option(None, "free text describing the centre; null: the preset's description")
    images_per_modality: int | None = option(
        None,
        "images per modality per case at this centre; null: the global images_per_modality",
        minimum=1,
        maximum=100,
    )
    eus: EusDevice = field(
        default_factory=EusDevice,
        metadata={"doc": "EUS device settings; each overrides the preset when not null"},
    )
    wle: WleDevice = field(
        default_factory=WleDevice,
        metadata={"doc": "WLE device settings; each overrides the preset when not null"},
    )


def _default_centres() -> list[CentreConfig]:
    return [
        CentreConfig(name="centre_a", n_cases=240, device="um2r", description=DEVICE_PRESETS["um2r"][0]),
        CentreConfig(
            name="centre_b",
            n_cases=80,
            device="um3r",
            description=DEVICE_PRESETS["um3r"][0],
            eus=DEVICE_PRESETS["um3r"][1],
            wle=DEVICE_PRESETS["um3r"][2],
        ),
    ]


@dataclass(frozen=True)
class SyntheticConfig:
    """The whole synthetic dataset: size, randomness, generative model and centres."""

    name: str = option("synthetic_gist", "dataset name (results/<name>/)", pattern=r"^[a-z0-9_]+$")
    seed: int = option(0, "master seed; the same seed gives byte-identical files", minimum=0, maximum=2**63 - 1)
    images_per_modality: int = option(3, "images per modality per case", minimum=1, maximum=100)
    prevalence: float = option(
        0.5,
        "fraction of cases labelled gist (per centre, exact up to rounding)",
        exclusiveMinimum=0,
        exclusiveMaximum=1,
    )
    lesion_size_mm: tuple[float, float] = option(
        (10.0, 40.0),
        "range [min, max] of the lesion size in mm (uniform, independent of the class)",
        minimum=1,
        maximum=200,
    )
    report_omit_probability: float = option(
        0.0,
        "chance that a report leaves out any one attribute (0 = every attribute is described)",
        minimum=0,
        exclusiveMaximum=1,
    )
    attribute_annotation: float = option(
        1.0,
        "fraction of each centre's cases whose attributes are annotated in cases.csv (the rest have empty "
        "attribute cells; every case keeps its report, which still describes them: structured annotation is "
        "scarce, reports are not). true_attributes.csv always holds every case's attributes (for the "
        "test-split ceiling only; no model reads it)",
        minimum=0,
        maximum=1,
    )
    tables: dict[str, dict[str, tuple[float, ...]]] = field(
        default_factory=dict,
        metadata={
            "doc": "overrides of P(value | class): "
            "{'<modality>.<attribute>': {non_gist: [...], gist: [...]}}, probabilities in vocabulary "
            "order; attributes left out keep the documented defaults"
        },
    )
    centres: list[CentreConfig] = field(default_factory=_default_centres, metadata={"doc": "the centres, in order"})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, prefix: str = CONFIG_PREFIX) -> SyntheticConfig:
        """Check and convert a config mapping; raises `ConfigError` naming the first bad key."""
        return _build(cls, d or {}, prefix)

    def model(self) -> GenerativeModel:
        """The generative model: default tables with this config's overrides applied."""
        return GenerativeModel.from_tables({**DEFAULT_TABLES, **self.tables}, prevalence=self.prevalence)

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML-safe mapping of the resolved config (every device setting filled in)."""
        return _plain(dataclasses.asdict(self))

    def images_for(self, centre: CentreConfig) -> int:
        """Images per modality per case at `centre`."""
        return centre.images_per_modality or self.images_per_modality


# --------------------------------------------------------------------------- checking and conversion


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _type_name(hint: Any) -> str:
    return {int: "int", float: "number", str: "string", bool: "bool"}.get(hint, str(hint))


def _check_limits(value: Any, meta: Mapping[str, Any], path: str) -> None:
    if "enum" in meta and value not in meta["enum"]:
        raise ConfigError(f"{path}: {value!r} is not one of {meta['enum']}")
    if value is None:
        return
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        raise ConfigError(f"{path}: {value!r} does not match {meta['pattern']}")
    checks = [
        ("minimum", lambda v, lim: v >= lim, ">="),
        ("maximum", lambda v, lim: v <= lim, "<="),
        ("exclusiveMinimum", lambda v, lim: v > lim, ">"),
        ("exclusiveMaximum", lambda v, lim: v < lim, "<"),
    ]
    for key, ok, op in checks:
        if key in meta and isinstance(value, int | float) and not ok(value, meta[key]):
            raise ConfigError(f"{path}: {value!r} must be {op} {meta[key]}")


def _convert(value: Any, hint: Any, meta: Mapping[str, Any], path: str) -> Any:
    """Convert one value to `hint` (int, float, str, fixed tuples, optionals), checking its limits."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            _check_limits(value, meta, path)
            return None
        return _convert(value, next(a for a in args if a is not type(None)), meta, path)
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ConfigError(f"{path}: expected a list of {len(args)} {_type_name(args[0])}s, got {value!r}")
        return tuple(_convert(v, a, meta, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    elif hint is bool:
        ok = isinstance(value, bool)
    else:  # pragma: no cover - a field type this checker was not taught
        raise TypeError(f"{path}: unsupported field type {hint}")
    if not ok:
        raise ConfigError(f"{path}: expected {_type_name(hint)}, got {value!r}")
    _check_limits(value, meta, path)
    return value


def _check_keys(d: Any, cls: type, path: str) -> None:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {d!r}")
    known = [f.name for f in dataclasses.fields(cls)]
    for key in d:
        if key not in known:
            raise ConfigError(f"{path}.{key}: unknown key (known: {', '.join(known)})")


def _build_device(cls: type, preset: Any, d: Any, path: str) -> Any:
    """A device dataclass: the preset with the non-null entries of `d` applied."""
    d = {} if d is None else d
    _check_keys(d, cls, path)
    hints = typing.get_type_hints(cls)
    changes = {
        f.name: _convert(d[f.name], hints[f.name], f.metadata, f"{path}.{f.name}")
        for f in dataclasses.fields(cls)
        if d.get(f.name) is not None
    }
    return dataclasses.replace(preset, **changes)


def _build_centre(d: Any, path: str) -> CentreConfig:
    _check_keys(d, CentreConfig, path)
    for required in ("name", "n_cases"):
        if required not in d:
            raise ConfigError(f"{path}.{required}: required key is missing")
    hints = typing.get_type_hints(CentreConfig)
    values = {
        f.name: _convert(d[f.name], hints[f.name], f.metadata, f"{path}.{f.name}")
        for f in dataclasses.fields(CentreConfig)
        if f.name not in ("eus", "wle") and f.name in d
    }
    device = values.get("device") or _DEFAULT_DEVICE_BY_CENTRE.get(values["name"], "um2r")
    description, eus_preset, wle_preset = DEVICE_PRESETS[device]
    values["device"] = device
    values["description"] = values.get("description") or description
    values["eus"] = _build_device(EusDevice, eus_preset, d.get("eus"), f"{path}.eus")
    values["wle"] = _build_device(WleDevice, wle_preset, d.get("wle"), f"{path}.wle")
    return CentreConfig(**values)


def _build_tables(d: Any, path: str) -> dict[str, dict[str, tuple[float, ...]]]:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {d!r}")
    tables: dict[str, dict[str, tuple[float, ...]]] = {}
    for column, rows in d.items():
        modality, _, attribute = str(column).partition(".")
        if attribute not in VOCABULARIES.get(modality, {}):
            raise ConfigError(f"{path}.{column}: unknown attribute (known: {', '.join(DEFAULT_TABLES)})")
        values = VOCABULARIES[modality][attribute]
        if not isinstance(rows, Mapping) or set(rows) != set(LABELS):
            raise ConfigError(f"{path}.{column}: expected a mapping with exactly the labels {list(LABELS)}")
        tables[column] = {}
        for label in LABELS:
            where = f"{path}.{column}.{label}"
            probs = _convert(rows[label], tuple[(float,) * len(values)], {"minimum": 0, "maximum": 1}, where)
            if abs(sum(probs) - 1.0) > 1e-6:
                raise ConfigError(f"{where}: probabilities of {list(values)} must sum to 1, got {sum(probs):.6g}")
            tables[column][label] = probs
    return tables


def _build(cls: type[SyntheticConfig], d: Any, path: str) -> SyntheticConfig:
    _check_keys(d, cls, path)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        where = f"{path}.{f.name}"
        if f.name == "tables":
            values["tables"] = _build_tables(d[f.name], where)
        elif f.name == "centres":
            centres = d[f.name]
            if not isinstance(centres, list) or not centres:
                raise ConfigError(f"{where}: expected a non-empty list of centres, got {centres!r}")
            values["centres"] = [_build_centre(c, f"{where}[{i}]") for i, c in enumerate(centres)]
            names = [c.name for c in values["centres"]]
            duplicated = sorted({n for n in names if names.count(n) > 1})
            if duplicated:
                raise ConfigError(f"{where}: centre names must be unique, repeated: {duplicated}")
        else:
            values[f.name] = _convert(d[f.name], hints[f.name], f.metadata, where)
    config = cls(**values)
    low, high = config.lesion_size_mm
    if low > high:
        raise ConfigError(f"{path}.lesion_size_mm: min {low} is above max {high}")
    return config


# --------------------------------------------------------------------------- JSON schema


def _json_type(hint: Any, nullable: bool = False) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _json_type(next(a for a in args if a is not type(None)), nullable=True)
    if origin is tuple:
        item = _json_type(args[0])
        out: dict[str, Any] = {"type": "array", "items": item, "minItems": len(args), "maxItems": len(args)}
    else:
        out = {"type": {int: "integer", float: "number", str: "string", bool: "boolean"}[hint]}
    if nullable:
        out["type"] = [out["type"], "null"]
    return out


def _field_schema(f: dataclasses.Field, hint: Any, default: Any, nullable: bool = False) -> dict[str, Any]:
    schema = _json_type(hint, nullable=nullable)
    limits = {k: v for k, v in f.metadata.items() if k != "doc"}
    if schema["type"] == "array" or schema["type"] == ["array", "null"]:
        schema["items"].update({k: v for k, v in limits.items() if k != "enum"})
    else:
        schema.update(limits)
    if nullable and "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    schema["description"] = f.metadata["doc"]
    schema["default"] = _plain(default)
    return schema


def _device_schema(cls: type, doc: str) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props = {}
    for f in dataclasses.fields(cls):
        preset_values = ", ".join(
            f"{name}: {_plain(getattr(p[1 if cls is EusDevice else 2], f.name))}" for name, p in DEVICE_PRESETS.items()
        )
        props[f.name] = _field_schema(f, hints[f.name], None, nullable=True)
        props[f.name]["description"] += f" (null: the preset's value; {preset_values})"
    return {
        "type": "object",
        "description": doc,
        "default": {},
        "additionalProperties": False,
        "properties": props,
    }


def _centre_schema() -> dict[str, Any]:
    hints = typing.get_type_hints(CentreConfig)
    props: dict[str, Any] = {}
    for f in dataclasses.fields(CentreConfig):
        if f.name in ("eus", "wle"):
            props[f.name] = _device_schema(EusDevice if f.name == "eus" else WleDevice, f.metadata["doc"])
        else:
            default = f.default if f.name not in ("device", "description") else None
            props[f.name] = _field_schema(f, hints[f.name], default)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "n_cases"],
        "properties": props,
    }


def _tables_schema(f: dataclasses.Field) -> dict[str, Any]:
    props = {}
    for column in DEFAULT_TABLES:
        modality, attribute = column.split(".")
        n = len(VOCABULARIES[modality][attribute])
        row = {
            "type": "array",
            "items": {"type": "number", "minimum": 0, "maximum": 1},
            "minItems": n,
            "maxItems": n,
        }
        props[column] = {
            "type": "object",
            "description": f"P({column} | class) over {list(VOCABULARIES[modality][attribute])}",
            "default": {label: list(p) for label, p in DEFAULT_TABLES[column].items()},
            "additionalProperties": False,
            "required": list(LABELS),
            "properties": {
                label: {
                    **row,
                    "description": f"probabilities given {label}",
                    "default": list(DEFAULT_TABLES[column][label]),
                }
                for label in LABELS
            },
        }
    return {
        "type": "object",
        "description": f.metadata["doc"],
        "default": {},
        "additionalProperties": False,
        "properties": props,
    }


def _synthetic_schema() -> dict[str, Any]:
    hints = typing.get_type_hints(SyntheticConfig)
    defaults = SyntheticConfig()
    props: dict[str, Any] = {}
    for f in dataclasses.fields(SyntheticConfig):
        if f.name == "tables":
            props[f.name] = _tables_schema(f)
        elif f.name == "centres":
            props[f.name] = {
                "type": "array",
                "minItems": 1,
                "description": f.metadata["doc"],
                "items": _centre_schema(),
                "default": [{"name": c.name, "n_cases": c.n_cases, "device": c.device} for c in defaults.centres],
            }
        else:
            props[f.name] = _field_schema(f, hints[f.name], getattr(defaults, f.name))
    return {
        "type": "object",
        "description": "the embedded synthetic dataset generator (docs/synthetic_data.md)",
        "default": {},
        "additionalProperties": False,
        "properties": props,
    }


SYNTHETIC_SCHEMA: dict[str, Any] = _synthetic_schema()
