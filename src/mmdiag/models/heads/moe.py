"""Mixture-of-experts head (§2.6.1, eqs. 7-8): experts split the work, a router picks top-k per sample.

Router g = softmax(W_g x); each sample uses its `top_k` most probable experts, weighted by their router
probabilities renormalised over the chosen k (GShard/Mixtral; with top_k = 1 the raw probability is
kept, as in Switch, so the router still gets a task gradient). Each expert is an MLP that outputs
logits. The experts run densely on the whole batch and the chosen outputs are gathered: with a few
small experts this beats dispatching.

Load balance (returned as `moe_balance_loss`, already multiplied by `balance_weight`):
- "switch" (default; Switch Transformer / GShard): E * sum_e f_e * P_e, with f_e the fraction of the
  batch's top-k assignments sent to expert e and P_e its mean router probability; 1 when balanced.
- "squared": the paper's eq. (8), sum_e (P_e - 1/E)^2; 0 when balanced. It only sees probabilities,
  not the hard top-k choices.
The paper uses 4 experts and top-2; `balance_weight` 0.01 is the Switch paper's value.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdiag.layers import Mlp
from mmdiag.registry import HEADS

_BALANCE = ("switch", "squared")


class MoEHead(nn.Module):
    """Top-k routed mixture of MLP experts with an auxiliary load-balance loss."""

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden: int = 256,
        dropout: float = 0.0,
        num_experts: int = 4,
        top_k: int = 2,
        balance_weight: float = 0.01,
        balance_type: str = "switch",
    ) -> None:
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"need 1 <= top_k <= num_experts, got top_k={top_k}, num_experts={num_experts}")
        if balance_type not in _BALANCE:
            raise ValueError(f"unknown balance_type {balance_type!r}; known: {', '.join(_BALANCE)}")
        self.num_experts = num_experts
        self.top_k = top_k
        self.balance_weight = balance_weight
        self.balance_type = balance_type
        self.router = nn.Linear(in_dim, num_experts)
        self.experts = nn.ModuleList(Mlp(in_dim, hidden, num_classes, drop=dropout) for _ in range(num_experts))

    def route(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Router probabilities [B, E], chosen experts [B, k] and their mixing weights [B, k]."""
        probs = self.router(x).softmax(dim=-1)
        top_p, top_i = probs.topk(self.top_k, dim=-1)
        weights = top_p / top_p.sum(dim=-1, keepdim=True) if self.top_k > 1 else top_p
        return probs, top_i, weights

    def balance_loss(self, probs: Tensor, top_i: Tensor) -> Tensor:
        """Unweighted load-balance term for one batch (see module docstring)."""
        mean_prob = probs.mean(dim=0)
        if self.balance_type == "squared":
            return ((mean_prob - 1.0 / self.num_experts) ** 2).sum()
        assigned = F.one_hot(top_i, self.num_experts).to(probs.dtype).sum(dim=1).mean(dim=0) / self.top_k
        return self.num_experts * (assigned * mean_prob).sum()

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        probs, top_i, weights = self.route(x)
        outputs = torch.stack([expert(x) for expert in self.experts], dim=1)  # [B, E, C]
        chosen = outputs.gather(1, top_i.unsqueeze(-1).expand(-1, -1, outputs.shape[-1]))  # [B, k, C]
        logits = (weights.unsqueeze(-1) * chosen).sum(dim=1)
        return {"logits": logits, "moe_balance_loss": self.balance_weight * self.balance_loss(probs, top_i)}


def _create_moe_head(in_dim: int, num_classes: int, **kwargs: Any) -> MoEHead:
    return MoEHead(in_dim, num_classes, **kwargs)


@HEADS.register("moe")
def moe(in_dim: int, num_classes: int, **kwargs: Any) -> MoEHead:
    """4 experts, top-2, Switch load balance (Table 4, "MoE classification head")."""
    return _create_moe_head(in_dim, num_classes, **dict(dict(num_experts=4, top_k=2), **kwargs))
