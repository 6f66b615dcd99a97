"""KAN classification head (§2.6.1, eqs. 3-4): the MLP's linear maps replaced by spline KAN layers.

The paper swapped its `fc` for a GroupKAN layer keeping the widths; we keep the baseline head's shape,
in -> hidden -> classes, with B-spline `KANLinear` layers (METHODS.md §3 asks for spline KAN). Each KAN
layer is preceded by a LayerNorm so its inputs fall on the spline grid (default [-2, 2]); outside the
grid only the SiLU base branch acts. The paper found KAN sensitive to the learning rate (it used 1e-4
and less weight decay): that is a trainer setting, not a head one.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from mmdiag.layers import KANLinear
from mmdiag.registry import HEADS


class KanHead(nn.Module):
    """LayerNorm -> KAN(in, hidden) -> dropout -> LayerNorm -> KAN(hidden, classes)."""

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden: int = 256,
        dropout: float = 0.0,
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: tuple[float, float] = (-2.0, 2.0),
    ) -> None:
        super().__init__()
        spline = dict(grid_size=grid_size, spline_order=spline_order, grid_range=tuple(grid_range))
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim),
            KANLinear(in_dim, hidden, **spline),
            nn.Dropout(dropout),
            nn.LayerNorm(hidden),
            KANLinear(hidden, num_classes, **spline),
        )

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"logits": self.net(x)}


def _create_kan_head(in_dim: int, num_classes: int, **kwargs: Any) -> KanHead:
    return KanHead(in_dim, num_classes, **kwargs)


@HEADS.register("kan")
def kan(in_dim: int, num_classes: int, **kwargs: Any) -> KanHead:
    """Two-layer B-spline KAN head (Table 4, "KAN classification head")."""
    return _create_kan_head(in_dim, num_classes, **kwargs)
