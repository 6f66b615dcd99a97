"""Configuration of the synthetic dataset: typed dataclasses, device presets, the JSON schema and a checker.

The dataclass fields are the single source of truth: each carries its default, a one-line description and
its limits (`mmdiag.config.fields.option`), from which both `SYNTHETIC_SCHEMA` (embedded by the pipeline
under `dataset.synthetic`) and `SyntheticConfig.from_dict` (which names the offending key in every error)
are derived with the shared helpers of `mmdiag.config.fields`.

Device settings work as overrides: a centre names a device preset (`um2r`, like an Olympus UM-2R 12 MHz
miniprobe with its endoscopy processor, or `um3r`, 20 MHz) and may override single settings under `eus:` /
`wle:`; a setting left out or null keeps the preset's value. That keeps the schema's defaults (null)
harmless when a validator fills them in.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mmdiag.config.fields import (
    Section,
    check_keys,
    convert,
    convert_fields,
    field_schema,
    object_schema,
    option,
    plain,
)
from mmdiag.data.synthetic.generative import DEFAULT_TABLES, LABELS, VOCABULARIES, GenerativeModel
from mmdiag.errors import ConfigError

CONFIG_PREFIX = "dataset.synthetic"


# Settings both device kinds have: one meaning and one set of limits, each kind its own default.
def _size(default: tuple[int, int]) -> Any:
    return option(default, "native image size [width, height] in pixels", minimum=16, maximum=1024)


def _resolution(default: float, formed: str) -> Any:
    return option(
        default,
        f"fraction of the native size {formed} before upscaling (lower = blurrier)",
        exclusiveMinimum=0,
        maximum=1,
    )


def _contrast(default: float) -> Any:
    return option(default, "contrast around mid-grey", exclusiveMinimum=0, maximum=5)


def _gamma(default: float, doc: str) -> Any:
    return option(default, doc, exclusiveMinimum=0, maximum=5)


def _noise(default: float, source: str) -> Any:
    return option(default, f"additive {source} noise (std, on a 0-1 scale)", minimum=0, maximum=0.5)


@dataclass(frozen=True)
class EusDevice:
    """How one centre's ultrasound system renders: field of view, resolution, speckle, gain curve."""

    size: tuple[int, int] = _size((80, 64))
    fan_degrees: float = option(100.0, "opening angle of the sector (fan) field of view", minimum=30, maximum=170)
    resolution: float = _resolution(0.7, "the scan is formed at")
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
    contrast: float = _contrast(1.0)
    gamma: float = _gamma(1.0, "display gamma applied after gain")
    noise: float = _noise(0.02, "electronic")


@dataclass(frozen=True)
class WleDevice:
    """How one centre's endoscopy processor renders: optics mask, colour cast, sharpness, sensor noise."""

    size: tuple[int, int] = _size((72, 64))
    resolution: float = _resolution(0.85, "the sensor resolves")
    colour_cast: tuple[float, float, float] = option(
        (1.0, 1.0, 1.0), "per-channel [R, G, B] gain (white balance)", minimum=0, maximum=3
    )
    saturation: float = option(1.0, "colour saturation (1 = unchanged)", minimum=0, maximum=3)
    contrast: float = _contrast(1.0)
    gamma: float = _gamma(1.0, "display gamma")
    noise: float = _noise(0.015, "sensor")
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
class CentreConfig(Section):
    """One centre (hospital / device): its cases and how its devices render them."""

    REQUIRED = ("name", "n_cases")
    REQUIRED_FIRST = True

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
        return plain(self)

    def images_for(self, centre: CentreConfig) -> int:
        """Images per modality per case at `centre`."""
        return centre.images_per_modality or self.images_per_modality


# --------------------------------------------------------------------------- checking and conversion


def _build_device(cls: type, preset: Any, d: Any, path: str) -> Any:
    """A device dataclass: the preset with the non-null entries of `d` applied."""
    d = {} if d is None else d
    check_keys(d, cls, path)
    return dataclasses.replace(preset, **convert_fields(cls, d, path, keep_none=False))


def _build_centre(d: Any, path: str) -> CentreConfig:
    check_keys(d, CentreConfig, path)
    for required in CentreConfig.REQUIRED:
        if required not in d:
            raise ConfigError(f"{path}.{required}: required key is missing")
    values = convert_fields(CentreConfig, d, path, skip=("eus", "wle"))
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
            probs = convert(rows[label], tuple[(float,) * len(values)], {"minimum": 0, "maximum": 1}, where)
            if abs(sum(probs) - 1.0) > 1e-6:
                raise ConfigError(f"{where}: probabilities of {list(values)} must sum to 1, got {sum(probs):.6g}")
            tables[column][label] = probs
    return tables


def _build(cls: type[SyntheticConfig], d: Any, path: str) -> SyntheticConfig:
    check_keys(d, cls, path)
    values = convert_fields(cls, d, path, skip=("tables", "centres"))  # the two last fields, checked last
    if "tables" in d:
        values["tables"] = _build_tables(d["tables"], f"{path}.tables")
    if "centres" in d:
        where, centres = f"{path}.centres", d["centres"]
        if not isinstance(centres, list) or not centres:
            raise ConfigError(f"{where}: expected a non-empty list of centres, got {centres!r}")
        values["centres"] = [_build_centre(c, f"{where}[{i}]") for i, c in enumerate(centres)]
        names = [c.name for c in values["centres"]]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ConfigError(f"{where}: centre names must be unique, repeated: {duplicated}")
    config = cls(**values)
    low, high = config.lesion_size_mm
    if low > high:
        raise ConfigError(f"{path}.lesion_size_mm: min {low} is above max {high}")
    return config


# --------------------------------------------------------------------------- JSON schema


def _device_schema(cls: type, doc: str) -> dict[str, Any]:
    """Every device setting nullable with default null (null: the preset's value, listed per preset)."""
    hints = typing.get_type_hints(cls)
    props = {}
    for f in dataclasses.fields(cls):
        preset_values = ", ".join(
            f"{name}: {plain(getattr(p[1 if cls is EusDevice else 2], f.name))}" for name, p in DEVICE_PRESETS.items()
        )
        props[f.name] = field_schema(f, hints[f.name] | None, default=None)
        props[f.name]["description"] += f" (null: the preset's value; {preset_values})"
    return object_schema(cls, doc, default={}, props=props)


def _centre_schema() -> dict[str, Any]:
    hints = typing.get_type_hints(CentreConfig)
    props: dict[str, Any] = {}
    for f in dataclasses.fields(CentreConfig):
        if f.name in ("eus", "wle"):
            props[f.name] = _device_schema(EusDevice if f.name == "eus" else WleDevice, f.metadata["doc"])
        else:
            props[f.name] = field_schema(f, hints[f.name])
    return object_schema(CentreConfig, props=props)


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
            props[f.name] = field_schema(f, hints[f.name])
    return object_schema(
        SyntheticConfig, "the embedded synthetic dataset generator (docs/synthetic_data.md)", default={}, props=props
    )


SYNTHETIC_SCHEMA: dict[str, Any] = _synthetic_schema()
