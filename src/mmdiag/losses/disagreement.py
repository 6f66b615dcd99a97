"""Modality-disagreement weighting (fusion paper §2.6.1, eq. 10; the MP-Loss of MIBF-Net).

L = alpha * CE(z_img) + beta * CE(z_txt) + gamma * mean_i[ exp(min(KL_i, clip)) * CE_i(z_fusion) ].
When the image-only and text-only heads disagree the case is harder, so its fusion loss is scaled up.
Choices where the paper is silent or loose (named here, METHODS.md §3 is the spec):
- KL is symmetric, KL_sym = (KL(p_img || p_txt) + KL(p_txt || p_img)) / 2 (the text says symmetric,
  eq. 10 prints one direction); it is computed per sample, so the weight is a per-case weight.
- The weight is detached: it re-weights the fusion loss and is not itself minimised (otherwise the
  model could lower the loss by making the two unimodal heads agree).
- The paper clips KL ("KL 上限裁剪") without printing the bound; `kl_clip` = 2.0 is ours (weight <= e^2).
  NaNs in KL become 0 (weight 1) and infinities the clip, as the paper's nan_to_num guard.
The paper also ramps the weighting in after warm-up; that is a schedule (engine) concern.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdiag.losses.classification import logits_and_labels
from mmdiag.registry import LOSSES


def symmetric_kl(logits_p: Tensor, logits_q: Tensor) -> Tensor:
    """Per-sample (KL(p||q) + KL(q||p)) / 2 of the softmax distributions, [B]."""
    log_p = logits_p.float().log_softmax(dim=-1)
    log_q = logits_q.float().log_softmax(dim=-1)
    return 0.5 * ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=-1)


@LOSSES.register("modality_disagreement")
class ModalityDisagreementLoss(nn.Module):
    """Unimodal CE terms plus the disagreement-weighted fusion CE.

    Reads `logits_img`, `logits_txt` and `logits` (fusion) from the model outputs.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0, kl_clip: float = 2.0) -> None:
        super().__init__()
        self.alpha, self.beta, self.gamma, self.kl_clip = alpha, beta, gamma, kl_clip

    def sample_weights(self, logits_img: Tensor, logits_txt: Tensor) -> Tensor:
        """exp(min(KL_sym, clip)) per sample, detached."""
        kl = symmetric_kl(logits_img.detach(), logits_txt.detach())
        kl = torch.nan_to_num(kl, nan=0.0, posinf=self.kl_clip).clamp(max=self.kl_clip)
        return kl.exp()

    def forward(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits, labels = logits_and_labels(outputs, batch)
        logits_img, _ = logits_and_labels(outputs, batch, key="logits_img")
        logits_txt, _ = logits_and_labels(outputs, batch, key="logits_txt")
        weights = self.sample_weights(logits_img, logits_txt)
        fusion = (weights * F.cross_entropy(logits, labels, reduction="none")).mean()
        return {
            "img_loss": self.alpha * F.cross_entropy(logits_img, labels),
            "txt_loss": self.beta * F.cross_entropy(logits_txt, labels),
            "fusion_loss": self.gamma * fusion,
        }
