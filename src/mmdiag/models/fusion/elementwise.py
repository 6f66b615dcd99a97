"""Element-wise fusions: add, multiply and low-rank bilinear (Hadamard) pooling.

All three project every pooled input to a common width and combine them element-wise; they differ
only in arguments:
- `add`: sum of projections to `dim` (Table 3, row 1).
- `multiply`: product of projections to `dim` (Table 3, row 2).
- `bilinear`: low-rank bilinear pooling (Kim et al. 2017, MLB; Table 3, row 6),
  f = P^T (tanh(U_1 x_1) * ... * tanh(U_N x_N)): the Hadamard product of rank-r projections
  approximates the full outer-product (bilinear) interaction, then P maps rank r to `dim`.
The paper lists add/multiply as parameter-free; its encoders' widths differ (512 vs 768), so a
projection is needed before any element-wise op (our choice, as METHODS.md §3 specifies).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

import torch
from torch import Tensor, nn

from mmdiag.layers import LayerType, get_act_layer
from mmdiag.models.features import ModalityFeatures
from mmdiag.models.fusion.base import FusionModule
from mmdiag.registry import FUSIONS

_OPS = {"add": torch.add, "multiply": torch.mul}


class ElementwiseFusion(FusionModule):
    """Combine projected pooled inputs with an element-wise op, optionally through a low-rank bottleneck.

    Args:
        in_dims: pooled width of each input, in input order.
        dim: output width.
        dropout: dropout on the combined vector.
        op: "add" or "multiply".
        rank: width of the projections when `out_proj` is set (default `dim`).
        act: activation on each projection before combining (MLB uses tanh); None for none.
        out_proj: project the combined rank-r vector to `dim` (low-rank bilinear form).
    """

    def __init__(
        self,
        in_dims: Sequence[int],
        dim: int = 256,
        dropout: float = 0.0,
        op: str = "add",
        rank: int | None = None,
        act: LayerType | None = None,
        out_proj: bool = False,
    ) -> None:
        super().__init__()
        self.check_inputs(len(in_dims), "element-wise")
        if op not in _OPS:
            raise ValueError(f"unknown element-wise op {op!r}; known: {', '.join(sorted(_OPS))}")
        width = (rank or dim) if out_proj else dim
        self.op = _OPS[op]
        self.proj = nn.ModuleList(nn.Linear(d, width) for d in in_dims)
        self.act = get_act_layer(act)() if act is not None else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(width, dim) if out_proj else nn.Identity()
        self.out_dim = dim

    def forward(self, feats: list[ModalityFeatures]) -> Tensor:
        projected = [self.act(proj(f.pooled)) for proj, f in zip(self.proj, feats, strict=True)]
        return self.out(self.drop(reduce(self.op, projected)))


def _create_elementwise(in_dims: Sequence[int], variant_args: dict[str, Any], **kwargs: Any) -> ElementwiseFusion:
    return ElementwiseFusion(in_dims, **dict(variant_args, **kwargs))


@FUSIONS.register("add", builds=ElementwiseFusion)
def add(in_dims: Sequence[int], **kwargs: Any) -> ElementwiseFusion:
    """Element-wise sum of projections (Table 3, row 1)."""
    return _create_elementwise(in_dims, dict(op="add"), **kwargs)


@FUSIONS.register("multiply", builds=ElementwiseFusion)
def multiply(in_dims: Sequence[int], **kwargs: Any) -> ElementwiseFusion:
    """Element-wise product of projections (Table 3, row 2)."""
    return _create_elementwise(in_dims, dict(op="multiply"), **kwargs)


@FUSIONS.register("bilinear", builds=ElementwiseFusion)
def bilinear(in_dims: Sequence[int], **kwargs: Any) -> ElementwiseFusion:
    """Low-rank bilinear / Hadamard pooling, MLB form (Table 3, row 6)."""
    return _create_elementwise(in_dims, dict(op="multiply", act="tanh", out_proj=True), **kwargs)
