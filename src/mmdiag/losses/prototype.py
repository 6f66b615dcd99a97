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
    """Sum over attributes of the mean CE of each attribute classifier over its annotated samples.

    Targets -1 = not annotated (sparse annotation, or the modality is missing for that sample). A batch in
    which no sample carries an attribute contributes 0 for it, not NaN (plain `ignore_index` would divide by 0).
    """
    total = logits[0].new_zeros(()) if logits else torch.zeros(())
    for k, lg in enumerate(logits):
        t = targets[:, k]
        n = (t != -1).sum()
        total = total + F.cross_entropy(lg.float(), t, ignore_index=-1, reduction="sum") / n.clamp(min=1)
    return total


def present_mask(batch: Mapping[str, Any], modality: str) -> Tensor | None:
    """Which samples of the batch really have `modality` (None: all of them)."""
    present = (batch.get("present") or {}).get(modality)
    if present is None or bool(present.all()):
        return None
    return present.bool()


@LOSSES.register("prototype")
class PrototypeLoss(nn.Module):
    """`proto_loss` (matching, when text prototypes are present) and `attr_loss`, summed over modalities.

    Samples without a modality (`batch["present"]`) take no part in that modality's terms.
    """

    def forward(self, outputs: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        if "protos" in outputs:
            scale = outputs.get("proto_scale", 1.0)
            parts = []
            for m, (pi, pt) in outputs["protos"].items():
                keep = present_mask(batch, m)
                if keep is not None:
                    pi, pt = pi[keep], pt[keep]
                if len(pi):
                    parts.append(prototype_matching_loss(pi, pt, scale))
            if parts:
                terms["proto_loss"] = sum(parts)
        if "attr_logits" in outputs:
            total = None
            for m, lg in outputs["attr_logits"].items():
                targets = batch["attrs"][m]
                keep = present_mask(batch, m)
                if keep is not None:
                    targets = targets.masked_fill(~keep[:, None], -1)
                term = attribute_loss(lg, targets)
                total = term if total is None else total + term
            if total is not None:
                terms["attr_loss"] = total
        return terms
