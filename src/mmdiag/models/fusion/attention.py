"""Attention fusions: text->image cross-attention and bidirectional co-attention (Table 3, rows 4-5).

Cross-attention follows the paper: "text tokens as Query, image features as Key and Value" (§2.4 ③),
so with inputs ordered [image, text] the query is input 1 (`query_index=1`); the text tokens, updated
by what they attend in the image, are mean-pooled over valid (unpadded) positions. The paper found
2 layers no better than 1; both are registered. Co-attention runs both directions in parallel in
every layer (each direction reads the other stream's previous state) and returns
[Attn(I, T); Attn(T, I)] pooled, eq. (13), so its `out_dim` is 2 * dim.

Inputs without tokens (`tokens is None`) take part as one token, their pooled vector. These
families fuse exactly two inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mmdiag.layers import CrossAttentionBlock, masked_mean
from mmdiag.models.features import ModalityFeatures
from mmdiag.models.fusion.base import FusionModule
from mmdiag.registry import FUSIONS


def _tokens(feat: ModalityFeatures) -> tuple[Tensor, Tensor | None]:
    """The token view of one input, falling back to the pooled vector as a single token."""
    if feat.tokens is None:
        return feat.pooled.unsqueeze(1), None
    return feat.tokens, feat.mask


class AttentionFusion(FusionModule):
    """Stacked cross-attention between two token sequences, one or both directions.

    Args:
        in_dims: widths of the two inputs (tokens and pooled share a width per input).
        dim: attention width; every input is projected to it.
        dropout: dropout inside attention/FFN and on the output.
        num_layers: stacked cross-attention layers.
        num_heads: attention heads (must divide `dim`).
        mlp_ratio: FFN width as a multiple of `dim`.
        query_index: which input supplies the queries for one-way attention (1 = text for [image, text]).
        bidirectional: also let the other input attend this one (co-attention).
    """

    max_inputs = 2
    uses_tokens = True

    def __init__(
        self,
        in_dims: Sequence[int],
        dim: int = 256,
        dropout: float = 0.0,
        num_layers: int = 1,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        query_index: int = 1,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.check_inputs(len(in_dims), "co-attention" if bidirectional else "cross-attention")
        if query_index not in (0, 1):
            raise ValueError(f"query_index must be 0 or 1, got {query_index}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.query_index = query_index
        self.num_layers = num_layers
        # Stream s is updated by attending the other input; one-way attention updates only the query.
        self.streams = (0, 1) if bidirectional else (query_index,)
        self.proj = nn.ModuleList(nn.Linear(d, dim) for d in in_dims)
        self.layers = nn.ModuleList(
            nn.ModuleList(CrossAttentionBlock(dim, num_heads, mlp_ratio, dropout) for _ in range(num_layers))
            for _ in self.streams
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in self.streams)
        self.drop = nn.Dropout(dropout)
        self.out_dim = dim * len(self.streams)

    def forward(self, feats: list[ModalityFeatures]) -> Tensor:
        if len(feats) != 2:
            raise ValueError(f"attention fusion takes exactly 2 inputs, got {len(feats)}")
        views = [_tokens(f) for f in feats]
        x = [proj(tokens) for proj, (tokens, _) in zip(self.proj, views, strict=True)]
        masks = [mask for _, mask in views]
        for depth in range(self.num_layers):
            # Both directions read the previous state of the other stream (parallel co-attention).
            updated = {s: stack[depth](x[s], x[1 - s], masks[1 - s]) for s, stack in zip(self.streams, self.layers)}
            x = [updated.get(s, x[s]) for s in (0, 1)]
        pooled = [masked_mean(norm(x[s]), masks[s]) for s, norm in zip(self.streams, self.norms, strict=True)]
        return self.drop(torch.cat(pooled, dim=-1))


def _create_attention(in_dims: Sequence[int], variant_args: dict[str, Any], **kwargs: Any) -> AttentionFusion:
    return AttentionFusion(in_dims, **dict(variant_args, **kwargs))


@FUSIONS.register("cross_attention", builds=AttentionFusion)
def cross_attention(in_dims: Sequence[int], **kwargs: Any) -> AttentionFusion:
    """Text->image cross-attention; `num_layers` free (default 1)."""
    return _create_attention(in_dims, dict(bidirectional=False), **kwargs)


@FUSIONS.register("cross_attention_1l", builds=AttentionFusion)
def cross_attention_1l(in_dims: Sequence[int], **kwargs: Any) -> AttentionFusion:
    """Text->image cross-attention, 1 layer (Table 3, row 4, the study's best)."""
    return _create_attention(in_dims, dict(bidirectional=False, num_layers=1), **kwargs)


@FUSIONS.register("cross_attention_2l", builds=AttentionFusion)
def cross_attention_2l(in_dims: Sequence[int], **kwargs: Any) -> AttentionFusion:
    """Text->image cross-attention, 2 stacked layers (Table 3, row 4, 2-layer arm)."""
    return _create_attention(in_dims, dict(bidirectional=False, num_layers=2), **kwargs)


@FUSIONS.register("co_attention", builds=AttentionFusion)
def co_attention(in_dims: Sequence[int], **kwargs: Any) -> AttentionFusion:
    """Bidirectional co-attention, image<->text (Table 3, row 5; MIBF-Net IBFA form, eq. 13)."""
    return _create_attention(in_dims, dict(bidirectional=True), **kwargs)
