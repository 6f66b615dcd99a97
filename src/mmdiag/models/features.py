"""The one currency between encoders, fusion modules and heads.

Encoders return `ModalityFeatures`; fusion modules take a list of them (one per input: an image
modality or the text) and return one fused vector; heads take that vector. Keeping this contract
fixed is what lets any encoder meet any fusion module and any head by name from config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class ModalityFeatures:
    """Features of one input for a batch.

    Attributes:
        pooled: [B, D] global vector (pooled image map, or text [CLS]/mean).
        tokens: [B, N, D] spatial tokens (flattened H*W grid) or text tokens, same D as `pooled`;
            None when the encoder has no token view.
        mask: [B, N] bool, True where a token is real (text padding is False); None = all valid.
        levels: per-level pooled vectors [B, D_l] from shallow to deep, for hierarchical fusion;
            None when the encoder does not expose levels.
        grid: (H, W) of `tokens` when they come from a spatial map, so they can be reshaped back.
    """

    pooled: Tensor
    tokens: Tensor | None = None
    mask: Tensor | None = None
    levels: list[Tensor] | None = None
    grid: tuple[int, int] | None = None

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[-1])


def case_rows(case: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(distinct cases, each sample's position among them, one sample row per distinct case)."""
    uniq, inverse = torch.unique(case, return_inverse=True)
    first = torch.zeros_like(uniq).scatter_(0, inverse, torch.arange(len(inverse), device=inverse.device))
    return uniq, inverse, first


def encode_once_per_case(encoder: Callable[[Tensor], ModalityFeatures], ids: Tensor, case: Tensor) -> ModalityFeatures:
    """Run `encoder` on each case's row once and map the features back to every sample of the batch.

    Several images of a case share its report; the text tower dominates a guided step, so encoding each
    distinct report once and indexing back saves most of its cost without changing any result.
    """
    _, inverse, first = case_rows(case)
    f = encoder(ids[first])
    return ModalityFeatures(
        pooled=f.pooled[inverse],
        tokens=None if f.tokens is None else f.tokens[inverse],
        mask=None if f.mask is None else f.mask[inverse],
        levels=None if f.levels is None else [lv[inverse] for lv in f.levels],
        grid=f.grid,
    )
