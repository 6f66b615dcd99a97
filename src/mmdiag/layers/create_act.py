"""Activation factory: config names an activation by string, code may pass a class (timm `create_act.py`)."""

from __future__ import annotations

from torch import nn

LayerType = str | type[nn.Module]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


def get_act_layer(act: LayerType) -> type[nn.Module]:
    """The activation class for a name or a class; raises with the known names on a miss."""
    if isinstance(act, type) and issubclass(act, nn.Module):
        return act
    try:
        return _ACTIVATIONS[str(act).lower()]
    except KeyError:
        raise ValueError(f"unknown activation {act!r}; known: {', '.join(sorted(_ACTIVATIONS))}") from None
