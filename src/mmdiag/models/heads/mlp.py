"""Linear and MLP classification heads (the baseline's head and its hyper-parameter study, Tables 1-2).

`linear` is dropout + one linear layer (timm classifier order); `mlp` is the baseline
Linear(in, hidden) -> ReLU -> Dropout -> Linear(hidden, classes). They differ only in `num_layers`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from mmdiag.layers import LayerType, get_act_layer
from mmdiag.registry import HEADS


class MlpHead(nn.Module):
    """`num_layers` linear layers; hidden layers are width `hidden` with activation and dropout."""

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden: int = 256,
        dropout: float = 0.0,
        num_layers: int = 2,
        act_layer: LayerType = "relu",
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        act = get_act_layer(act_layer)
        blocks: list[nn.Module] = []
        width = in_dim
        for _ in range(num_layers - 1):
            blocks += [nn.Linear(width, hidden), act(), nn.Dropout(dropout)]
            width = hidden
        if num_layers == 1:
            blocks.append(nn.Dropout(dropout))
        blocks.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"logits": self.net(x)}


def _create_mlp_head(in_dim: int, num_classes: int, variant_args: dict[str, Any], **kwargs: Any) -> MlpHead:
    return MlpHead(in_dim, num_classes, **dict(variant_args, **kwargs))


@HEADS.register("linear")
def linear(in_dim: int, num_classes: int, **kwargs: Any) -> MlpHead:
    """Dropout + linear classifier (`hidden` unused)."""
    return _create_mlp_head(in_dim, num_classes, dict(num_layers=1), **kwargs)


@HEADS.register("mlp")
def mlp(in_dim: int, num_classes: int, **kwargs: Any) -> MlpHead:
    """The baseline two-layer MLP head."""
    return _create_mlp_head(in_dim, num_classes, dict(num_layers=2), **kwargs)
