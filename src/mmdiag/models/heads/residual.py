"""Residual MLP head, y = x + f(x) (§2.6.1, eq. 5): steadier gradients than a deep plain MLP.

The input is projected to `hidden` so the residual blocks (pre-norm `ResidualMlp`) have equal in/out
widths, then a final LayerNorm and linear classifier.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from mmdiag.layers import ResidualMlp
from mmdiag.registry import HEADS


class ResidualMlpHead(nn.Module):
    """Linear stem -> `num_blocks` residual MLP blocks -> LayerNorm -> dropout -> linear."""

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden: int = 256,
        dropout: float = 0.0,
        num_blocks: int = 2,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        self.stem = nn.Linear(in_dim, hidden)
        self.blocks = nn.Sequential(
            *(ResidualMlp(hidden, int(hidden * mlp_ratio), drop=dropout) for _ in range(num_blocks))
        )
        self.norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"logits": self.fc(self.drop(self.norm(self.blocks(self.stem(x)))))}


def _create_residual_head(in_dim: int, num_classes: int, **kwargs: Any) -> ResidualMlpHead:
    return ResidualMlpHead(in_dim, num_classes, **kwargs)


@HEADS.register("residual_mlp")
def residual_mlp(in_dim: int, num_classes: int, **kwargs: Any) -> ResidualMlpHead:
    """Residual MLP head (Table 4, "Residual / Attention Pool")."""
    return _create_residual_head(in_dim, num_classes, **kwargs)
