"""Configuration: load, merge, validate against the JSON schema, fill defaults, hash.

Snakemake validates the same schema (the generated `config/schema/config.schema.yaml`) in
`rules/common.smk`; the library validates again when an entry point is called directly, so a wrong
key or type stops with one message naming the file and the key path, whichever way a run starts.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mmdiag.errors import ConfigError


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge `override` into a copy of `base` (mappings merge, everything else replaces).

    Same semantics as Snakemake's `--configfile` layering, so a preset holds only its deltas.
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse one YAML mapping with `mmdiag.io.load_yaml` (safe tags, bounded size and aliases).

    Every failure names the file (and line): missing, binary or not UTF-8, indented with tabs,
    invalid YAML, an alias bomb, or not a mapping at the top level.
    """
    from mmdiag.io import YAML_MAX_BYTES, load_yaml

    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > YAML_MAX_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size:,} bytes; a config file is limited to {YAML_MAX_BYTES:,}")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if b"\0" in raw:
        raise ConfigError(f"{path}: is a binary file (it holds NUL bytes), not a YAML config file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); a config file is YAML saved as UTF-8"
        ) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if "'\\t'" in problem:
            problem += " (YAML indents with spaces, never tabs)"
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_config(*paths: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge config files left to right (then `overrides`), validate, and fill schema defaults."""
    if not paths:
        raise ConfigError("no config file given")
    from mmdiag.config.layering import load_layered  # recipe layer + `_replace: true` (docs/data_format.md)

    merged = load_layered(paths, overrides)
    return validate_config(merged, source=" + ".join(str(p) for p in paths))


def validate_config(config: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """Return a validated copy of `config` with every schema default filled in.

    Then the checks a schema cannot express (`mmdiag.config.checks`: finite numbers, devices, encoders
    against the input size), so a config that would crash in a job stops here.

    Raises:
        ConfigError: naming `source` and the dotted key path of the first violation, in one human line.
    """
    from mmdiag.config.checks import check_config, check_finite, schema_errors
    from mmdiag.config.schema import validator  # local: jsonschema import only when validating

    data = copy.deepcopy(dict(config))
    check_finite(data, source)
    schema_errors(data, validator(), source)
    check_config(data, source)
    return data


def lookup(config: Mapping[str, Any], dotted: str, default: Any = ...) -> Any:
    """`config['a']['b']` for 'a.b'; raises ConfigError naming the key unless a default is given."""
    node: Any = config
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif default is not ...:
            return default
        else:
            raise ConfigError(f"missing config key '{dotted}'")
    return node


def config_hash(obj: Any) -> str:
    """Short, stable hash of a JSON-able value: identifies the exact settings of a run."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
