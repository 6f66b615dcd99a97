"""MLP blocks: the plain two-layer MLP and its pre-norm residual form (transformer FFN, residual heads)."""

from __future__ import annotations

from torch import Tensor, nn

from mmdiag.layers.create_act import LayerType, get_act_layer


class Mlp(nn.Module):
    """Linear -> activation -> dropout -> linear; the building block of heads, experts and FFNs."""

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        out_features: int | None = None,
        act_layer: LayerType = "gelu",
        drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = get_act_layer(act_layer)()
        self.drop = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))


class ResidualMlp(nn.Module):
    """y = x + Dropout(Mlp(LayerNorm(x))): pre-norm keeps the identity path clean, so depth stays stable."""

    def __init__(self, dim: int, hidden_features: int, act_layer: LayerType = "gelu", drop: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden_features, dim, act_layer=act_layer, drop=drop)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop(self.mlp(self.norm(x)))
