"""Config files: read one (bounded YAML, every failure naming the file) and merge one into another.

A leaf of `mmdiag.config`: layering (`mmdiag.config.layering`) and the checks (`mmdiag.config.checks`)
use these without importing the package that imports them (`mmdiag.config` re-exports both).
"""

from __future__ import annotations

import copy
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
