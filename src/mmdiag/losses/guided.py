"""The objective of text-guided training: the classification loss plus the active guidance terms.

Which terms are active depends on the training phase of a TMM-Net arm (stage 1 CLIP, stage 2
prototypes + attributes, classification), so the same module serves every phase; each term is
weighted (`loss_weights` in config) and returned under its own name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from mmdiag.losses.contrastive import ClipLoss
from mmdiag.losses.prototype import PrototypeLoss
from mmdiag.registry import LOSSES


@LOSSES.register("guided")
class GuidedLoss(nn.Module):
    """Weighted sum of classification (`cls`), `clip`, `proto` and `attr` terms present in the outputs."""

    def __init__(self, classification: nn.Module | None = None, weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.classification = classification if classification is not None else LOSSES.create("ce")
        self.weights = {"cls": 1.0, "clip": 1.0, "proto": 1.0, "attr": 1.0, **(weights or {})}
        self.clip = ClipLoss()
        self.prototype = PrototypeLoss()

    def forward(self, outputs: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        if "logits" in outputs:
            cls = self.classification(outputs, batch)
            terms.update({k: v * self.weights["cls"] for k, v in cls.items()})
        if "clip" in outputs:
            terms["clip_loss"] = self.clip(outputs, batch)["clip_loss"] * self.weights["clip"]
        for k, v in self.prototype(outputs, batch).items():
            terms[k] = v * self.weights[k.removesuffix("_loss")]
        return terms
