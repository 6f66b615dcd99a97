"""Kolmogorov-Arnold layer with a B-spline basis (Liu et al. 2024, KAN; vectorised as in efficient-kan).

Each edge carries a learnable function phi(x) = w_b * SiLU(x) + sum_k c_k B_k(x): the SiLU base
branch keeps a useful gradient outside the grid, and the spline branch is eq. (3)-(4) of the fusion
paper, y = W phi(x) + b with phi(x) = [B_1(x), ..., B_K(x)]. All inputs share one uniform knot
vector, so the Cox-de Boor recursion runs once on the whole [B, in, K] tensor and the spline branch is
one matrix product. Grid updates (re-fitting knots to data) are not implemented.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class KANLinear(nn.Module):
    """in_features -> out_features through per-edge spline + SiLU functions."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: tuple[float, float] = (-2.0, 2.0),
    ) -> None:
        super().__init__()
        if grid_size < 1 or spline_order < 0:
            raise ValueError(f"need grid_size >= 1 and spline_order >= 0, got {grid_size}, {spline_order}")
        lo, hi = grid_range
        step = (hi - lo) / grid_size
        # grid_size intervals on [lo, hi] plus spline_order extra knots each side: K = grid_size + order bases.
        knots = lo + step * torch.arange(-spline_order, grid_size + spline_order + 1, dtype=torch.float32)
        self.register_buffer("grid", knots)
        self.spline_order = spline_order
        self.base = nn.Linear(in_features, out_features)
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features, grid_size + spline_order))
        nn.init.normal_(self.spline_weight, std=0.1 / math.sqrt(in_features))

    def b_splines(self, x: Tensor) -> Tensor:
        """B-spline bases of `x` [..., in] -> [..., in, grid_size + spline_order]; they sum to 1 on the grid."""
        g = self.grid.to(x.dtype)
        x = x.unsqueeze(-1)
        bases = ((x >= g[:-1]) & (x < g[1:])).to(x.dtype)
        for k in range(1, self.spline_order + 1):
            left = (x - g[: -(k + 1)]) / (g[k:-1] - g[: -(k + 1)]) * bases[..., :-1]
            right = (g[k + 1 :] - x) / (g[k + 1 :] - g[1:-k]) * bases[..., 1:]
            bases = left + right
        return bases

    def forward(self, x: Tensor) -> Tensor:
        spline = F.linear(self.b_splines(x).flatten(-2), self.spline_weight.flatten(1))
        return self.base(F.silu(x)) + spline
