"""Dataset sources: each turns some raw data into a BYO folder, atomically.

A source is a function `prepare(cfg, out_dir) -> DatasetSpec` registered under a name with the JSON
Schema fragment (draft 2020-12) of its config keys; the pipeline config embeds that fragment under
`dataset.<name>`, and `prepare_source` is the one entry point the pipeline's first rule calls.
Built in: `medmnist`, `medmnist_pair`, `ham10000`, `folder` and `synthetic` (the embedded generator).
Source modules import medmnist (hence torch) only when run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mmdiag.data.format import DatasetSpec
from mmdiag.data.sources import folder, ham10000, medmnist, medmnist_pair, synthetic
from mmdiag.data.sources.download import RemoteFile, fetch, fetch_all
from mmdiag.errors import ConfigError
from mmdiag.registry import Registry

__all__ = [
    "FOLDER_SCHEMA",
    "HAM10000_SCHEMA",
    "MEDMNIST_PAIR_SCHEMA",
    "MEDMNIST_SCHEMA",
    "SOURCES",
    "PrepareFn",
    "RemoteFile",
    "fetch",
    "fetch_all",
    "list_sources",
    "prepare_source",
    "register_source",
    "source_schema",
]

PrepareFn = Callable[[Mapping[str, Any], Path], DatasetSpec]

SOURCES = Registry("dataset source")
_SCHEMAS: dict[str, dict[str, Any]] = {}

MEDMNIST_SCHEMA = medmnist.MEDMNIST_SCHEMA
MEDMNIST_PAIR_SCHEMA = medmnist_pair.MEDMNIST_PAIR_SCHEMA
HAM10000_SCHEMA = ham10000.HAM10000_SCHEMA
FOLDER_SCHEMA = folder.FOLDER_SCHEMA


def register_source(name: str, prepare: PrepareFn, schema: Mapping[str, Any]) -> PrepareFn:
    """Register `prepare` as source `name` with its config schema fragment; a second `name` is an error."""
    SOURCES.register(name)(prepare)
    _SCHEMAS[name] = copy.deepcopy(dict(schema))
    return prepare


def list_sources() -> list[str]:
    """Registered source names, sorted."""
    return SOURCES.list()


def source_schema(name: str) -> dict[str, Any]:
    """A copy of source `name`'s config schema fragment (for `dataset.<name>` in the pipeline schema)."""
    if name not in _SCHEMAS:
        raise ConfigError(f"unknown dataset source {name!r}; known: {', '.join(list_sources()) or '(none)'}")
    return copy.deepcopy(_SCHEMAS[name])


def prepare_source(name: str, cfg: Mapping[str, Any] | None, out_dir: str | Path) -> DatasetSpec:
    """Build the BYO folder `out_dir` with source `name`, configured by its section `cfg`.

    `out_dir` is written atomically: on any error the previous folder (or nothing) remains.

    Raises:
        ConfigError: unknown source or bad config; DownloadError / DataFormatError from the source.
    """
    if name not in SOURCES:
        raise ConfigError(f"unknown dataset source {name!r}; known: {', '.join(list_sources())}")
    return SOURCES.get(name)(cfg or {}, Path(out_dir))


register_source("medmnist", medmnist.prepare, MEDMNIST_SCHEMA)
register_source("medmnist_pair", medmnist_pair.prepare, MEDMNIST_PAIR_SCHEMA)
register_source("ham10000", ham10000.prepare, HAM10000_SCHEMA)
register_source("folder", folder.prepare, FOLDER_SCHEMA)
register_source("synthetic", synthetic.prepare, synthetic.SYNTHETIC_SCHEMA)
