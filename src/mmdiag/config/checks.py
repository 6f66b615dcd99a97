"""Checks a configuration must pass when it loads, before any job starts.

The JSON schema holds types, ranges and caps; this module adds what a schema cannot say, each refusal a
`ConfigError` naming the key, the value and what to do:
- every number is finite (`lr: .nan` or `.inf` would train to NaN or crash deep in a job);
- schema violations read as one human line (`dualbranch.modalities: needs exactly 2 modalities, got
  ['us']`), and a capped value says why it is capped (`x-cap-reason` in the schema);
- `trainer.device` names a device this machine has (`gpu0` is no device; `cuda` needs a visible GPU);
- every encoder recipe a configured study uses is a timm model that exists and takes `preprocess.size`
  (VGG16 and DenseNet201 pool 5 times and cannot take 28 px), and stage-3 attention gets a feature grid
  of at least 2 x 2. Found by building each encoder on PyTorch's meta device (no weights, no memory)
  and running one forward pass; the answers are cached per (recipe, size, torch, timm, encoder code)
  in `$MMDIAG_CACHE_DIR` (default `~/.cache/mmdiag`), so a dry run pays the timm import once.

`mmdiag.config.validate_config` runs these after the schema; `rules/common.smk` runs them (through
`mmdiag.workflow.check_config_or_exit`) before Snakemake's own `validate`, so a dry run stops too.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import json
import math
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmdiag.config.fields import fill
from mmdiag.config.sections import MAX_IMAGE_SIZE, EncoderConfig
from mmdiag.errors import ConfigError

DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?|mps)$"


# ------------------------------------------------------------------------------------------- numbers
def non_finite(obj: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """(dotted key path, value) of every NaN or infinite float anywhere in `obj`."""
    if isinstance(obj, float) and not math.isfinite(obj):
        yield prefix or "(top level)", obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from non_finite(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            yield from non_finite(value, f"{prefix}[{i}]")


def check_finite(config: Mapping[str, Any], source: str = "config") -> None:
    bad = list(non_finite(config))
    if bad:
        path, value = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ConfigError(f"{source}: {path}: must be a finite number, got {value}{more}")


# ------------------------------------------------------------------------------------ schema messages
_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _things(path: list[Any]) -> str:
    """What the items of a list are called in a message: its key when that is a plural, else 'items'."""
    last = str(path[-1]) if path else ""
    return last if last.endswith("s") and not last.isdigit() else "items"


def humanise(error: Any, prefix: str = "") -> str:
    """`<dotted key>: <what is wrong>, got <value>` for one jsonschema ValidationError (keys under `prefix`)."""
    path = [prefix] if prefix else []
    path += list(error.absolute_path)
    where = ".".join(str(p) for p in path) or "(top level)"
    kind, schema, value = error.validator, error.schema, error.instance
    if kind in ("minItems", "maxItems"):
        lo, hi, what = schema.get("minItems"), schema.get("maxItems"), _things(path)
        if lo is not None and lo == hi:
            need = f"exactly {lo}"
        elif lo is not None and hi is not None:
            need = f"{lo} to {hi}"
        else:
            need = f"at least {lo}" if kind == "minItems" else f"at most {hi}"
        return f"{where}: needs {need} {what}, got {_short(value)}"
    if kind == "type":
        types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{where}: must be {' or '.join(_TYPE_NAMES.get(t, t) for t in types)}, got {_short(value)}"
    if kind == "enum":
        return f"{where}: must be one of {' | '.join(map(str, error.validator_value))}, got {_short(value)}"
    if kind == "additionalProperties":
        known = list((schema.get("properties") or {}).keys())
        extra = [k for k in value if k not in known] if isinstance(value, Mapping) else []
        key = extra[0] if extra else "?"
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(known)})" if known else ""
        inside = f"{where}: " if path else ""
        return f"{inside}unknown key '{key}'{hint}"
    if kind == "required":
        return f"{where}: {error.message.replace(' is a required property', '')} is required"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        reason = schema.get("x-cap-reason") if kind.endswith("aximum") else None
        because = f" (capped because {reason})" if reason else ""
        return f"{where}: must be {op} {error.validator_value}, got {_short(value)}{because}"
    if kind == "pattern":
        return f"{where}: {_short(value)} does not match {error.validator_value} ({schema.get('description', '')})"
    return f"{where}: {error.message}"


def schema_errors(config: Mapping[str, Any], validator: Any, source: str = "config", prefix: str = "") -> None:
    """ConfigError with the first violation (by key path) as one human line, and how many more there are."""
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {humanise(errors[0], prefix)}{more}")


# ------------------------------------------------------------------------------------------- devices
def visible_gpus() -> int:
    """How many CUDA devices this process can use, without importing torch when the driver says so."""
    if "torch" not in sys.modules and sys.platform == "linux":
        present = len(list(Path("/proc/driver/nvidia/gpus").glob("*")))
        cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
        if cvd is not None:
            present = min(present, len([d for d in cvd.split(",") if d.strip() and d.strip() != "-1"]))
        if present:
            return present
    import torch  # no driver entry (or not Linux): ask torch before refusing anything

    return torch.cuda.device_count()


def check_device(name: str, where: str = "trainer.device") -> None:
    """`auto`, `cpu`, `mps`, or a CUDA device this machine has."""
    import re

    if not re.match(DEVICE_PATTERN, str(name)):
        raise ConfigError(f"{where}: unknown device '{name}'; use auto, cpu, cuda or cuda:<index> (e.g. cuda:0)")
    if name.startswith("cuda"):
        n = visible_gpus()
        index = int(name.split(":")[1]) if ":" in name else 0
        if n == 0:
            raise ConfigError(
                f"{where}: '{name}' but no CUDA GPU is visible here; use auto (CUDA where a job finds one) or cpu"
            )
        if index >= n:
            raise ConfigError(f"{where}: '{name}' but only {n} GPU(s) are visible (cuda:0 to cuda:{n - 1})")


# ------------------------------------------------------------------------------------------ encoders
STUDY_ENCODERS = {
    "tmmnet": ("tmmnet.encoder", "tmmnet.comparison.backbones", "tmmnet.text_guidance.backbones"),
    "fusion_study": ("fusion_study.encoder",),
    "distillation": ("distillation.teacher_encoder",),
}


def _get(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def used_encoders(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Encoder recipe name -> the keys that use it, over the configured `studies` (defined recipes only)."""
    defined = config["encoders"]
    used: dict[str, list[str]] = {}
    for study in config["studies"]:
        for key in STUDY_ENCODERS.get(study, ()):
            value = _get(config, key)
            for name in value if isinstance(value, list) else [value]:
                if isinstance(name, str) and name in defined:
                    used.setdefault(name, []).append(key)
    return used


def attention_pairs(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Encoder name -> TMM-Net arms with stage-3 attention it is trained with (tmmnet study only)."""
    if "tmmnet" not in config["studies"]:
        return {}
    tm = config["tmmnet"]
    arms = tm["arms"]
    pairs: dict[str, set[str]] = {}

    def add(encoders: list[str], arm_names: list[str]) -> None:
        for arm in arm_names:
            if arm in arms and arms[arm]["attention"]:
                for e in encoders:
                    pairs.setdefault(e, set()).add(arm)

    main = [tm["encoder"]] if tm["encoder"] else []
    add(main, list(arms))  # Table 3 runs every arm with the main encoder
    for table in ("comparison", "text_guidance"):
        add(list(tm[table]["backbones"]), list(tm[table]["arms"]))
    return {e: sorted(a) for e, a in pairs.items()}


@dataclass(frozen=True)
class EncoderProbe:
    """What one encoder recipe does with a square input of `size` pixels."""

    size: int
    ok: bool
    grid: tuple[int, int] | None = None  # last feature map (h, w)
    error: str = ""
    min_size: int | None = None  # smallest size that works, when `size` does not (None: none up to the cap)
    unknown_model: bool = False
    invalid_recipe: bool = False  # the recipe is refused at every size (a ConfigError, e.g. its stem)
    suggestions: tuple[str, ...] = ()


def _encoder_code_hash() -> str:
    """Hash of the encoder code the probe runs, read as a file (importing it would import timm and torch)."""
    source = Path(__file__).resolve().parents[1] / "models" / "encoders" / "timm_image.py"
    try:
        return hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    except OSError:
        return "?"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def cache_dir() -> Path:
    return Path(os.environ.get("MMDIAG_CACHE_DIR") or Path.home() / ".cache" / "mmdiag")


PROBE_FORMAT = 2  # fields of a cached EncoderProbe; a new field makes older cache entries unreachable


def _probe_key(entry: Mapping[str, Any], size: int) -> str:
    keep = {k: v for k, v in entry.items() if k not in ("label", "description", "pretrained", "pretrained_file")}
    facts = [keep, size, _version("torch"), _version("timm"), _encoder_code_hash(), PROBE_FORMAT]
    blob = json.dumps(facts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _forward(entry: Mapping[str, Any], size: int) -> tuple[int, int]:
    """Grid of the last feature map of `entry` at `size` px, built and run on the meta device."""
    import torch

    from mmdiag.models.encoders.timm_image import TimmImageEncoder

    recipe = fill(EncoderConfig, entry)  # a recipe as written (tests) or validated: the same defaults
    kwargs = dict(recipe.model_kwargs)
    if kwargs.get("img_size") == "auto":
        kwargs["img_size"] = size
    with torch.device("meta"):
        enc = TimmImageEncoder(
            recipe.model_name, in_chans=3, pretrained="off", width=recipe.width, model_kwargs=kwargs, stem=recipe.stem
        )
        out = enc.eval()(torch.empty(2, 3, size, size))
    return tuple(int(v) for v in out.grid)  # type: ignore[return-value]


def probe_encoder(entry: Mapping[str, Any], size: int, cap: int = MAX_IMAGE_SIZE) -> EncoderProbe:
    """Build `entry` (an `encoders.<name>` recipe of type timm) on the meta device and run it at `size`.

    When `size` fails, the smallest working size up to `cap` is searched (doubling, then bisection).
    Results are cached (see the module docstring).
    """
    key = _probe_key(entry, size)
    cache = cache_dir() / "encoder_probes.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        d = known[key]
        return EncoderProbe(
            **{**d, "grid": tuple(d["grid"]) if d.get("grid") else None, "suggestions": tuple(d.get("suggestions", ()))}
        )
    result = _probe(entry, size, cap)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        known[key] = asdict(result)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home: probe again next time
    return result


def _probe(entry: Mapping[str, Any], size: int, cap: int) -> EncoderProbe:
    import warnings

    import timm

    name = str(entry["model_name"])
    if not timm.is_model(name):
        close = tuple(difflib.get_close_matches(name, timm.list_models(), n=3))
        return EncoderProbe(size, False, error="not a timm model", unknown_model=True, suggestions=close)

    def attempt(s: int) -> tuple[tuple[int, int] | None, str, bool]:
        """(grid, error, whether the error is the recipe's own: a ConfigError, which no size helps)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return _forward(entry, s), "", False
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            return None, f"{type(exc).__name__}: {first}", isinstance(exc, ConfigError)

    grid, error, invalid = attempt(size)
    if grid is not None:
        return EncoderProbe(size, True, grid=grid)
    if invalid:
        return EncoderProbe(size, False, error=error, invalid_recipe=True)
    lo, hi = size, None  # lo fails; find a working hi by doubling, then bisect
    s = size
    while s < cap:
        s = min(cap, s * 2)
        if attempt(s)[0] is not None:
            hi = s
            break
        lo = s
    if hi is not None:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if attempt(mid)[0] is not None:
                hi = mid
            else:
                lo = mid
    return EncoderProbe(size, False, error=error, min_size=hi)


def check_encoders(config: Mapping[str, Any], source: str = "config") -> None:
    """Every timm encoder a configured study uses exists and takes `preprocess.size` (see module docstring)."""
    used = used_encoders(config)
    size = int(config["preprocess"]["size"])
    attention = attention_pairs(config)
    too_small: list[str] = []
    for name, keys in used.items():
        entry = config["encoders"][name]
        if entry["type"] != "timm" or str(entry["model_name"]).startswith(("hf-hub:", "hf_hub:")):
            continue
        probe = probe_encoder(entry, size)
        if probe.unknown_model:
            hint = f"; did you mean {' or '.join(probe.suggestions)}?" if probe.suggestions else ""
            raise ConfigError(
                f"{source}: encoders.{name}.model_name: '{entry['model_name']}' is not a timm model "
                f"(used by {', '.join(keys)}){hint}"
            )
        if probe.invalid_recipe:
            raise ConfigError(f"{source}: encoders.{name}: {probe.error.removeprefix('ConfigError: ')}")
        if not probe.ok:
            need = f"needs >= {probe.min_size}" if probe.min_size else f"fails up to {MAX_IMAGE_SIZE}: {probe.error}"
            too_small.append(f"{name} ({entry['model_name']}, {need}; used by {', '.join(keys)})")
        elif name in attention and probe.grid is not None and min(probe.grid) < 2:
            raise ConfigError(
                f"{source}: encoders.{name} ({entry['model_name']}) gives a {probe.grid[0]}x{probe.grid[1]} feature "
                f"grid at preprocess.size {size}, and stage-3 attention (arms {', '.join(attention[name])}) needs at "
                "least 2x2; raise preprocess.size or use an encoder with a smaller output stride"
            )
    if too_small:
        raise ConfigError(
            f"{source}: preprocess.size {size} is too small for encoders {'; '.join(too_small)}: "
            "raise preprocess.size or use other encoders there"
        )


# --------------------------------------------------------------------------------------------- other
def check_results(config: Mapping[str, Any], source: str = "config") -> None:
    """`results` must not be the working folder or one above it (outputs would mix with the repository)."""
    root = Path(str(config["results"])).expanduser().resolve()
    cwd = Path.cwd().resolve()
    if root == cwd or root in cwd.parents:
        raise ConfigError(
            f"{source}: results: '{config['results']}' is the working folder or above it; "
            "name a folder of its own (e.g. results)"
        )


def check_trainer_overrides(config: Mapping[str, Any], source: str = "config") -> None:
    """Per-study trainer overrides merged into `trainer` must still be a valid trainer section."""
    from mmdiag.config.files import deep_merge
    from mmdiag.config.schema import trainer_validator

    for key in ("distillation.recipe.trainer", "dualbranch.trainer"):
        override = _get(config, key)
        if override:
            merged = deep_merge(config["trainer"], override)
            schema_errors(merged, trainer_validator(), source, prefix=key)
            if "device" in override:
                check_device(str(override["device"]), f"{key}.device")


def check_config(config: Mapping[str, Any], source: str = "config") -> None:
    """Every check beyond the schema, on a schema-valid config with defaults filled (see module docstring)."""
    check_results(config, source)
    device = str(config["trainer"]["device"])
    try:
        check_device(device)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    check_trainer_overrides(config, source)
    check_encoders(config, source)
