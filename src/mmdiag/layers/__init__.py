"""Shared building blocks, one concept per file (timm `layers/` practice)."""

from mmdiag.layers.attention import CrossAttentionBlock
from mmdiag.layers.attention_pool import AttentionPool
from mmdiag.layers.create_act import LayerType, get_act_layer
from mmdiag.layers.gate import GatedSum
from mmdiag.layers.kan import KANLinear
from mmdiag.layers.mlp import Mlp, ResidualMlp
from mmdiag.layers.pool import masked_mean

__all__ = [
    "AttentionPool",
    "CrossAttentionBlock",
    "GatedSum",
    "KANLinear",
    "LayerType",
    "Mlp",
    "ResidualMlp",
    "get_act_layer",
    "masked_mean",
]
