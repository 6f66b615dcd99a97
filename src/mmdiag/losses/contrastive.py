"""CLIP-style image-report matching (TMM-Net stage 1, Algorithm 1; open_clip's `ClipLoss` shape).

`M = scale * I @ T.T` over L2-normalised embeddings; `(CE(M, targets, rows) + CE(M, targets, cols)) / 2`.
Several images of one case share one report, so same-case pairs in a batch are positives, not
negatives: the target of a row is uniform over the columns of its own case. With one image per case
in the batch this is exactly the paper's `arange(batch)` target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdiag.registry import LOSSES


def clip_logits(img: Tensor, txt: Tensor, scale: Tensor | float = 1.0) -> Tensor:
    """Matching matrix M[i, j] = scale * <img_i, txt_j> (inputs already L2-normalised)."""
    return scale * img @ txt.t()


def multi_positive_targets(case: Tensor) -> Tensor:
    """Row-normalised same-case indicator: the soft target of each row (and, by symmetry, column)."""
    same = (case[:, None] == case[None, :]).float()
    return same / same.sum(1, keepdim=True)


def clip_loss(img: Tensor, txt: Tensor, case: Tensor | None = None, scale: Tensor | float = 1.0) -> Tensor:
    """Symmetric cross-entropy of the matching matrix; `case` marks same-case positives."""
    logits = clip_logits(img, txt, scale)
    if case is None:
        target = torch.arange(logits.shape[0], device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
    soft = multi_positive_targets(case)
    rows = -(soft * F.log_softmax(logits, dim=1)).sum(1).mean()
    cols = -(soft * F.log_softmax(logits.t(), dim=1)).sum(1).mean()
    return (rows + cols) / 2


@LOSSES.register("clip")
class ClipLoss(nn.Module):
    """Sum over modalities of the CLIP loss of `outputs["clip"][m] = (img_emb, txt_emb)`."""

    def forward(self, outputs: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, Tensor]:
        scale = outputs.get("logit_scale", 1.0)
        case = batch.get("case")
        total = sum(clip_loss(img, txt, case, scale) for img, txt in outputs["clip"].values())
        return {"clip_loss": total}
