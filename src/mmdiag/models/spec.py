"""Model specs: `{"name": <MODELS name>, **kwargs}` names a model in configs, run folders and studies.

`build_model` builds one; `config_of` turns a family's registry kwargs into its config dataclass, naming
unknown keys (a typo in a config) instead of raising a bare TypeError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from torch import nn

from mmdiag.registry import MODELS

T = TypeVar("T")


def build_model(spec: Mapping[str, Any]) -> nn.Module:
    """The model of a spec `{"name": ..., **kwargs}`."""
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    return MODELS.create(spec["name"], **kwargs)


def config_of(cls: type[T], cfg: Mapping[str, Any], model: str) -> T:
    """`cls(**cfg)` for the model family `model`, refusing keys the dataclass `cls` does not have."""
    unknown = set(cfg) - set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    if unknown:
        raise ValueError(f"unknown {model} model keys: {sorted(unknown)}")
    return cls(**cfg)
