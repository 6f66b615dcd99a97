"""Hierarchical (multi-level) fusion, the study's `hier_interact` (§2.5, eqs. 1-2).

Level l of every input (e.g. ResNet layer2/3/4 with BERT layers 4/8/12 [CLS]) is fused by its own
gated fusion, F_l = GatedFusion(V_l, T_l), and the levels are summed with learnable weights,
F = sum_l sigmoid(w_l) * F_l. The paper allows "Sigmoid or Softmax"; we use sigmoid (METHODS.md
§3), initialised at w_l = 0 (every level weighted 0.5). Levels are paired by position, so every
input must expose the same number of levels; the per-level widths come from `level_dims`.
Without `level_dims` each input's pooled vector is its one level (any `levels` are ignored) and the
module reduces to `gated`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mmdiag.layers import GatedSum
from mmdiag.models.features import ModalityFeatures
from mmdiag.models.fusion.base import FusionModule
from mmdiag.registry import FUSIONS


class HierarchicalFusion(FusionModule):
    """Per-level gated fusion, summed with sigmoid level weights (reads `levels`: `needs_levels`).

    Args:
        in_dims: pooled width of each input (used when `level_dims` is None).
        dim: width of every level's fused vector and of the output.
        dropout: dropout on the output.
        level_dims: level_dims[i][l] is the width of level l of input i, shallow to deep.
    """

    needs_levels = True

    def __init__(
        self,
        in_dims: Sequence[int],
        dim: int = 256,
        dropout: float = 0.0,
        level_dims: Sequence[Sequence[int]] | None = None,
    ) -> None:
        super().__init__()
        self.check_inputs(len(in_dims), "hierarchical")
        self.pooled_only = level_dims is None
        level_dims = [[d] for d in in_dims] if level_dims is None else [list(ld) for ld in level_dims]
        if len(level_dims) != len(in_dims):
            raise ValueError(f"level_dims has {len(level_dims)} inputs but in_dims has {len(in_dims)}")
        counts = {len(ld) for ld in level_dims}
        if len(counts) != 1 or 0 in counts:
            raise ValueError(f"every input needs the same, non-zero number of levels; got {level_dims}")
        self.num_levels = counts.pop()
        self.level_dims = level_dims
        self.gates = nn.ModuleList(GatedSum([ld[level] for ld in level_dims], dim) for level in range(self.num_levels))
        self.level_logits = nn.Parameter(torch.zeros(self.num_levels))
        self.drop = nn.Dropout(dropout)
        self.out_dim = dim

    def _levels(self, feat: ModalityFeatures, index: int) -> list[Tensor]:
        if self.pooled_only:
            return [feat.pooled]
        if feat.levels is None or len(feat.levels) != self.num_levels:
            found = "no `levels`" if feat.levels is None else f"{len(feat.levels)} levels"
            raise ValueError(f"hierarchical fusion built for {self.num_levels} levels, input {index} has {found}")
        return feat.levels

    def forward(self, feats: list[ModalityFeatures]) -> Tensor:
        per_input = [self._levels(f, i) for i, f in enumerate(feats)]
        weights = torch.sigmoid(self.level_logits)
        fused = sum(
            weights[level] * gate([levels[level] for levels in per_input]) for level, gate in enumerate(self.gates)
        )
        return self.drop(fused)


def _create_hierarchical(in_dims: Sequence[int], **kwargs: Any) -> HierarchicalFusion:
    return HierarchicalFusion(in_dims, **kwargs)


@FUSIONS.register("hierarchical", builds=HierarchicalFusion)
def hierarchical(in_dims: Sequence[int], **kwargs: Any) -> HierarchicalFusion:
    """Level-paired gated fusion with sigmoid level weights (§2.5, `hier_interact`)."""
    return _create_hierarchical(in_dims, **kwargs)
