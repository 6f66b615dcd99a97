"""Gated fusion: z = sigmoid(W[v; t]), fused = z * v' + (1 - z) * t' (Table 3, row 3).

A per-sample, per-channel gate lets the model lean on whichever modality is informative for that
case. With N > 2 inputs the gate is the softmax generalisation (see `mmdiag.layers.gate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from mmdiag.layers import GatedSum
from mmdiag.models.features import ModalityFeatures
from mmdiag.models.fusion.base import FusionModule
from mmdiag.registry import FUSIONS


class GatedFusion(FusionModule):
    """Gated weighted sum of the projected pooled inputs."""

    def __init__(self, in_dims: Sequence[int], dim: int = 256, dropout: float = 0.0) -> None:
        super().__init__()
        self.check_inputs(len(in_dims), "gated")
        self.gate = GatedSum(in_dims, dim)
        self.drop = nn.Dropout(dropout)
        self.out_dim = dim

    def forward(self, feats: list[ModalityFeatures]) -> Tensor:
        return self.drop(self.gate([f.pooled for f in feats]))


def _create_gated(in_dims: Sequence[int], **kwargs: Any) -> GatedFusion:
    return GatedFusion(in_dims, **kwargs)


@FUSIONS.register("gated", builds=GatedFusion)
def gated(in_dims: Sequence[int], **kwargs: Any) -> GatedFusion:
    """Dynamic modality weighting z = sigmoid(W[v, t]) (Table 3, row 3)."""
    return _create_gated(in_dims, **kwargs)
