"""TMM-Net stage 2: prototype matching and per-attribute classification (§3.2).

Per sample, the K image prototypes and the K text prototypes of one modality form a K x K matching
matrix (6x6 EUS, 5x5 WLE) whose diagonal is the target: image prototype k must match text
prototype k of the same case. Our choice: CE over rows and columns, averaged (as in stage 1),
with a learnable temperature. Each image prototype also predicts its attribute (softmax CE).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdiag.registry import LOSSES


def prototype_matrix(p_img: Tensor, p_txt: Tensor, scale: Tensor | float = 1.0) -> Tensor:
    """[B, K, K] matching matrices Mp = P_img @ P_text^T per sample."""
    return scale * torch.einsum("bkp,blp->bkl", p_img, p_txt)


def prototype_matching_loss(p_img: Tensor, p_txt: Tensor, scale: Tensor | float = 1.0) -> Tensor:
    mp = prototype_matrix(p_img, p_txt, scale)
    b, k, _ = mp.shape
    target = torch.arange(k, device=mp.device).repeat(b)
    rows = F.cross_entropy(mp.reshape(b * k, k), target)
    cols = F.cross_entropy(mp.transpose(1, 2).reshape(b * k, k), target)
    return (rows + cols) / 2


def attribute_loss(logits: Sequence[Tensor], targets: Tensor) -> Tensor:
    """Sum over attributes of the CE of each attribute classifier (targets -1 = not annotated)."""
    return sum(F.cross_entropy(lg, targets[:, k], ignore_index=-1) for k, lg in enumerate(logits))


@LOSSES.register("prototype")
class PrototypeLoss(nn.Module):
    """`proto_loss` (matching, when text prototypes are present) and `attr_loss`, summed over modalities."""

    def forward(self, outputs: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        if "protos" in outputs:
            scale = outputs.get("proto_scale", 1.0)
            terms["proto_loss"] = sum(prototype_matching_loss(pi, pt, scale) for pi, pt in outputs["protos"].values())
        if "attr_logits" in outputs:
            terms["attr_loss"] = sum(attribute_loss(lg, batch["attrs"][m]) for m, lg in outputs["attr_logits"].items())
        return terms
