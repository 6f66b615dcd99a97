"""Masked mean over tokens: text padding must not dilute the pooled vector."""

from __future__ import annotations

from torch import Tensor


def masked_mean(tokens: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of `tokens` [B, N, D] over valid positions (`mask` [B, N], True = valid; None = all)."""
    if mask is None:
        return tokens.mean(dim=1)
    m = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
