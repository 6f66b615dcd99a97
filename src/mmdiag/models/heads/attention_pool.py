"""Attention-pooling head (§2.6.1, eq. 6): a learned query weighs tokens, h = sum_i a_i v_i.

The paper pools token/patch features in front of the head. Our head contract hands over one fused
vector, so the head first re-tokenises it: a linear map to `num_tokens` tokens of width `hidden`
(each token its own learned view of the fused vector; works for any input width, unlike slicing it
into equal chunks). A learned query then attention-pools the tokens (`AttentionPool`, single head by
default, exactly eq. 6), and a linear layer classifies.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from mmdiag.layers import AttentionPool
from mmdiag.registry import HEADS


class AttentionPoolHead(nn.Module):
    """Vector -> `num_tokens` learned tokens -> learned-query attention pool -> LayerNorm -> linear."""

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden: int = 256,
        dropout: float = 0.0,
        num_tokens: int = 8,
        num_heads: int = 1,
    ) -> None:
        super().__init__()
        if num_tokens < 1:
            raise ValueError(f"num_tokens must be >= 1, got {num_tokens}")
        self.num_tokens = num_tokens
        self.tokenize = nn.Linear(in_dim, num_tokens * hidden)
        self.pool = AttentionPool(hidden, num_heads=num_heads, drop=dropout)
        self.norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        tokens = self.tokenize(x).unflatten(-1, (self.num_tokens, -1))
        return {"logits": self.fc(self.drop(self.norm(self.pool(tokens))))}


def _create_attention_pool_head(in_dim: int, num_classes: int, **kwargs: Any) -> AttentionPoolHead:
    return AttentionPoolHead(in_dim, num_classes, **kwargs)


@HEADS.register("attention_pool")
def attention_pool(in_dim: int, num_classes: int, **kwargs: Any) -> AttentionPoolHead:
    """Learned-query attention pooling head (Table 4, "Residual / Attention Pool")."""
    return _create_attention_pool_head(in_dim, num_classes, **kwargs)
