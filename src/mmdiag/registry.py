"""Name -> constructor registries, one per kind of component (timm `_registry.py` style).

Every model part the config can name (encoders, fusion modules, heads, losses, architectures) is
registered here, so experiments select components by string and no script builds models inline.
Unlike timm, registering a name twice is an error: silent overwrites hide copy-paste mistakes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Registry:
    """A named collection of constructors with `register`, `list` and `create`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str | None = None) -> Callable[[F], F]:
        """Decorator recording `fn` under `name` (default: the function/class name)."""

        def deco(fn: F) -> F:
            key = name or fn.__name__
            if key in self._entries:
                raise KeyError(f"{self.kind} '{key}' is already registered by {self._entries[key]!r}")
            self._entries[key] = fn
            return fn

        return deco

    def list(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._entries)

    def get(self, name: str) -> Callable[..., Any]:
        """The constructor for `name`; raises with the known names on a miss."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.list()) or "(none)"
            raise KeyError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build `name`, dropping None kwargs so unset options fall back to the defaults."""
        return self.get(name)(**{k: v for k, v in kwargs.items() if v is not None})

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


ENCODERS = Registry("encoder")
TEXT_ENCODERS = Registry("text encoder")
FUSIONS = Registry("fusion")
HEADS = Registry("head")
LOSSES = Registry("loss")
MODELS = Registry("model")
