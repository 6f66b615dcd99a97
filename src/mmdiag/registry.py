"""Name -> constructor registries, one per kind of component (timm `_registry.py` style).

Every model part the config can name (encoders, fusion modules, heads, losses, architectures) is
registered here, so experiments select components by string and no script builds models inline.
Unlike timm, registering a name twice is an error: silent overwrites hide copy-paste mistakes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Registry:
    """A named collection of constructors with `register`, `list` and `create`."""

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package  # imported on first lookup, so its modules have registered themselves
        self._entries: dict[str, Callable[..., Any]] = {}
        self._info: dict[str, dict[str, Any]] = {}
        self._loaded = package is None

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self.package)  # type: ignore[arg-type]

    def register(self, name: str | None = None, **info: Any) -> Callable[[F], F]:
        """Decorator recording `fn` under `name` (default: the function/class name).

        `info` is what the entry declares about itself, read before anything is built: e.g. the class a
        fusion entry builds (whose attributes say what inputs it takes) or the config keys a text-encoder
        family reads.
        """

        def deco(fn: F) -> F:
            key = name or fn.__name__
            if key in self._entries:
                raise KeyError(f"{self.kind} '{key}' is already registered by {self._entries[key]!r}")
            self._entries[key] = fn
            self._info[key] = dict(info)
            return fn

        return deco

    def info(self, name: str) -> dict[str, Any]:
        """What the entry `name` declared when it registered; raises with the known names on a miss."""
        self.get(name)
        return dict(self._info[name])

    def list(self) -> list[str]:
        """Sorted registered names."""
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> Callable[..., Any]:
        """The constructor for `name`; raises with the known names on a miss."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.list()) or "(none)"
            raise KeyError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build `name`, dropping None kwargs so unset options fall back to the defaults."""
        return self.get(name)(**{k: v for k, v in kwargs.items() if v is not None})

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __len__(self) -> int:
        self._load()
        return len(self._entries)


ENCODERS = Registry("encoder", "mmdiag.models.encoders")
TEXT_ENCODERS = Registry("text encoder", "mmdiag.models.encoders")
FUSIONS = Registry("fusion", "mmdiag.models.fusion")
HEADS = Registry("head", "mmdiag.models.heads")
LOSSES = Registry("loss", "mmdiag.losses")
MODELS = Registry("model", "mmdiag.models.zoo")
