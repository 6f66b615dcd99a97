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


def multi_positive_targets(img_case: Tensor, txt_case: Tensor | None = None) -> Tensor:
    """Same-case indicator [n_img, n_txt] (1 where image i and report j belong to one case)."""
    txt_case = img_case if txt_case is None else txt_case
    return (img_case[:, None] == txt_case[None, :]).float()


def clip_loss(
    img: Tensor,
    txt: Tensor,
    case: Tensor | None = None,
    scale: Tensor | float = 1.0,
    txt_case: Tensor | None = None,
) -> Tensor:
    """Symmetric cross-entropy of the matching matrix.

    `case` (per image) and `txt_case` (per report; defaults to `case`) mark positives: each row's target
    is uniform over its case's reports, each column's over its case's images. Without cases this is the
    paper's `arange` target. Reports may be deduplicated per case (`txt_case` unique): then M is
    [n_images, n_cases] and no report appears twice as its own negative.
    """
    logits = clip_logits(img, txt, scale)
    if case is None:
        target = torch.arange(logits.shape[0], device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
    pos = multi_positive_targets(case, txt_case)
    rows = -((pos / pos.sum(1, keepdim=True)) * F.log_softmax(logits, dim=1)).sum(1).mean()
    cols = -((pos / pos.sum(0, keepdim=True)) * F.log_softmax(logits, dim=0)).sum(0).mean()
    return (rows + cols) / 2


@LOSSES.register("clip")
class ClipLoss(nn.Module):
    """Sum over modalities of the CLIP loss of `outputs["clip"][m] = (img_emb, txt_emb)`.

    When the model embedded each case's report once, `outputs["text_case"]` holds the case of each report.
    """

    def forward(self, outputs: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, Tensor]:
        from mmdiag.losses.prototype import present_mask

        scale = outputs.get("logit_scale", 1.0)
        case = batch.get("case")
        txt_case = outputs.get("text_case")
        parts = []
        for m, (img, txt) in outputs["clip"].items():
            keep = present_mask(batch, m)
            if keep is None or case is None:
                parts.append(clip_loss(img, txt, case, scale, txt_case))
                continue
            # Samples without this modality leave the matching; so do reports of cases left with no image.
            img_case = case[keep]
            if not len(img_case):
                continue
            t_case = txt_case if txt_case is not None else case
            cols = torch.isin(t_case, img_case)
            parts.append(
                clip_loss(
                    img[keep],
                    txt[cols] if txt_case is not None else txt[keep],
                    img_case,
                    scale,
                    t_case[cols] if txt_case is not None else None,
                )
            )
        return {"clip_loss": sum(parts) if parts else outputs["logit_scale"].new_zeros(())}
