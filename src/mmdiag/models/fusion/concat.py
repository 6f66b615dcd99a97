"""Concatenation fusion: the baseline of the image+text fusion study (ResNet-18 512 + BERT [CLS] 768).

The pooled vectors are concatenated as they are; the head does all mixing, as in the baseline, so
the study's other fusions are compared against exactly that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mmdiag.models.features import ModalityFeatures
from mmdiag.models.fusion.base import FusionModule
from mmdiag.registry import FUSIONS


class ConcatFusion(FusionModule):
    """[x_1; ...; x_N] of the pooled vectors; `dim` is accepted for the common signature and unused."""

    def __init__(self, in_dims: Sequence[int], dim: int = 256, dropout: float = 0.0) -> None:
        super().__init__()
        self.check_inputs(len(in_dims), "concat")
        self.in_dims = tuple(in_dims)
        self.out_dim = sum(in_dims)
        self.drop = nn.Dropout(dropout)

    def forward(self, feats: list[ModalityFeatures]) -> Tensor:
        return self.drop(torch.cat([f.pooled for f in feats], dim=-1))


def _create_concat(in_dims: Sequence[int], **kwargs: Any) -> ConcatFusion:
    return ConcatFusion(in_dims, **kwargs)


@FUSIONS.register("concat", builds=ConcatFusion)
def concat(in_dims: Sequence[int], **kwargs: Any) -> ConcatFusion:
    """Baseline concatenation (Table 3, row "baseline")."""
    return _create_concat(in_dims, **kwargs)
