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

from mmdiag.config.files import deep_merge, read_yaml
from mmdiag.errors import ConfigError

__all__ = ["config_hash", "deep_merge", "load_config", "lookup", "read_yaml", "validate_config"]


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
