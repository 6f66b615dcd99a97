"""Pre-norm cross-attention block: queries from one sequence attend keys/values of another.

Used by the text->image cross-attention and the bidirectional co-attention fusions (one block per
direction and layer). Attention is softmax(QK^T / sqrt(d)) V as in the fusion paper's eq. (14).
"""

from __future__ import annotations

from torch import Tensor, nn

from mmdiag.layers.mlp import ResidualMlp


class CrossAttentionBlock(nn.Module):
    """x = x + MHA(LN(x), LN(ctx), LN(ctx)); x = x + MLP(LN(x))."""

    def __init__(self, dim: int, num_heads: int = 4, mlp_ratio: float = 2.0, drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=drop, batch_first=True)
        self.drop = nn.Dropout(drop)
        self.ffn = ResidualMlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor | None = None) -> Tensor:
        """Update `x` [B, Nq, D] from `context` [B, Nk, D]; `context_mask` [B, Nk] is True where valid.

        Every row needs at least one valid context token (a fully masked row has no softmax support).
        """
        kv = self.norm_kv(context)
        padding = None if context_mask is None else ~context_mask
        attended, _ = self.attn(self.norm_q(x), kv, kv, key_padding_mask=padding, need_weights=False)
        return self.ffn(x + self.drop(attended))
