"""Attention pooling: one learned query attends a set of tokens, a_i = softmax(q^T k_i), h = sum_i a_i v_i.

This is eq. (6) of the fusion paper ("who matters speaks"); with num_heads > 1 it is the multi-head
form of the same pooling.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class AttentionPool(nn.Module):
    """Pools tokens [B, N, D] to [B, D] with a learned query."""

    def __init__(self, dim: int, num_heads: int = 1, drop: float = 0.0) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, dim) * dim**-0.5)
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=drop, batch_first=True)

    def forward(self, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        kv = self.norm(tokens)
        query = self.query.expand(tokens.shape[0], -1, -1)
        padding = None if mask is None else ~mask
        pooled, _ = self.attn(query, kv, kv, key_padding_mask=padding, need_weights=False)
        return pooled.squeeze(1)
