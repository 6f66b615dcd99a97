"""The `pretrained: required | preferred | off` policy shared by image and text encoders.

Weights come from the local cache (timm / Hugging Face hub cache) or a file path in the config; no
code here ever forces a download. When weights cannot be loaded, `preferred` continues from random
initialisation and says so in one log line and in the run's metadata; `required` stops the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mmdiag.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")
POLICIES = ("required", "preferred", "off")


@dataclass
class PretrainedStatus:
    """What happened to the weights of one encoder, for the run's provenance."""

    policy: str
    source: str
    loaded: bool
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "source": self.source, "loaded": self.loaded, "message": self.message}


def with_pretrained(
    policy: str, source: str, load: Callable[[], T], scratch: Callable[[], T]
) -> tuple[T, PretrainedStatus]:
    """Build with `load()` (weights) or `scratch()` according to `policy`."""
    if policy not in POLICIES:
        raise ConfigError(f"pretrained: '{policy}' is not one of {', '.join(POLICIES)}")
    if policy == "off":
        return scratch(), PretrainedStatus(policy, source, False, "pretrained weights off by config")
    try:
        return load(), PretrainedStatus(policy, source, True, "loaded")
    except Exception as exc:  # hub/cache/file errors come in many types (OSError, LocalEntryNotFoundError, ...)
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        if policy == "required":
            raise ConfigError(
                f"pretrained weights for '{source}' are required but could not be loaded ({reason}); "
                "put them in the local cache or give a file path (pretrained_file), or set pretrained: preferred|off"
            ) from exc
        msg = f"pretrained weights for '{source}' unavailable ({reason}); training from scratch (pretrained: preferred)"
        log.warning(msg)
        return scratch(), PretrainedStatus(policy, source, False, msg)
