"""Checking a source's config section against its schema fragment and filling in the defaults.

Each source states its section as a dataclass (`mmdiag.config.fields`: every key with its default,
description and limits) and publishes the fragment derived from it, `<SOURCE>_SCHEMA` (JSON Schema
draft 2020-12), which the pipeline's config schema embeds under `dataset.<source>`. Sources call
`resolve_config` too, so the library behaves the same when called without the pipeline.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from mmdiag.errors import ConfigError


def resolve_config(cfg: Mapping[str, Any] | None, schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`cfg` validated against `schema`, with every missing top-level key set to its default.

    Args:
        cfg: the source's config section (None or empty for all defaults).
        schema: the source's schema fragment.
        where: the dotted config path of the section, used in error messages (e.g. `dataset.medmnist`).

    Raises:
        ConfigError: naming the key and what is wrong with it.
    """
    data = dict(cfg or {})
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [f"{'.'.join([where, *map(str, e.absolute_path)])}: {e.message}" for e in errors]
        raise ConfigError("; ".join(lines))
    resolved = {key: copy.deepcopy(spec.get("default")) for key, spec in schema["properties"].items()}
    resolved.update(data)
    return resolved


def download_dir(value: str | None, out_dir: Path, source: str) -> Path:
    """Where a source's raw files live: the configured folder, else `<out_dir's parent>/downloads/<source>`.

    Kept outside the dataset folder, which `atomic_dir` replaces wholesale on every conversion.
    """
    if value:
        return Path(value).expanduser()
    return Path(out_dir).parent / "downloads" / source
