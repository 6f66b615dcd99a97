"""Gated weighted sum of N inputs: z = sigmoid(W[x_1; x_2]) for two, a softmax gate for more.

The gate sees the raw concatenated inputs and weighs each input after projecting it to a common width.
For N inputs the gate emits N-1 logits per channel and the last input is the reference with logit 0
(multinomial-logit form), so for N = 2 the weights are exactly z = sigmoid(W[v; t]) and 1 - z, the
paper's gated fusion, and no gate parameter is redundant for larger N.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class GatedSum(nn.Module):
    """fused = sum_i w_i * P_i(x_i) with per-channel weights w = softmax([W[x_1..x_N]; 0]) over inputs."""

    def __init__(self, in_dims: Sequence[int], dim: int) -> None:
        super().__init__()
        if len(in_dims) < 2:
            raise ValueError(f"a gate needs at least 2 inputs, got {len(in_dims)}")
        self.dim = dim
        self.proj = nn.ModuleList(nn.Linear(d, dim) for d in in_dims)
        self.gate = nn.Linear(sum(in_dims), (len(in_dims) - 1) * dim)

    def weights(self, xs: Sequence[Tensor]) -> Tensor:
        """Per-input, per-channel gate weights [B, N, dim], summing to 1 over N."""
        logits = self.gate(torch.cat(list(xs), dim=-1)).unflatten(-1, (len(xs) - 1, self.dim))
        reference = logits.new_zeros(*logits.shape[:-2], 1, self.dim)
        return torch.cat([logits, reference], dim=-2).softmax(dim=-2)

    def forward(self, xs: Sequence[Tensor]) -> Tensor:
        if len(xs) != len(self.proj):
            raise ValueError(f"gate built for {len(self.proj)} inputs, got {len(xs)}")
        w = self.weights(xs)
        return sum(w[..., i, :] * proj(x) for i, (proj, x) in enumerate(zip(self.proj, xs, strict=True)))
