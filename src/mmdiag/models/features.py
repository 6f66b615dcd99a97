"""The one currency between encoders, fusion modules and heads.

Encoders return `ModalityFeatures`; fusion modules take a list of them (one per input: an image
modality or the text) and return one fused vector; heads take that vector. Keeping this contract
fixed is what lets any encoder meet any fusion module and any head by name from config.
"""

from __future__ import annotations

from dataclasses import dataclass

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
