"""Knowledge distillation (Hinton et al. 2015), for the Swin paper's student with ~40% of the parameters.

L = alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, y). The T^2 factor keeps
the soft-target gradients on the scale of the hard-label ones as T changes. The teacher's logits come
in the model outputs (`mmdiag.models.image_text.Distiller` runs the frozen teacher) or precomputed in
`batch["teacher_logits"]`, and are detached.
The paper prints neither T nor alpha; the defaults are ours.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from mmdiag.losses.classification import logits_and_labels, require
from mmdiag.registry import LOSSES


@LOSSES.register("distillation")
class DistillationLoss(nn.Module):
    """Soft-target KD term `kd_loss` plus hard-label `ce_loss`; alpha = 0 is plain CE."""

    def __init__(self, T: float = 4.0, alpha: float = 0.5) -> None:
        super().__init__()
        if T <= 0 or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"need T > 0 and 0 <= alpha <= 1, got T={T}, alpha={alpha}")
        self.T, self.alpha = T, alpha

    def forward(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits, labels = logits_and_labels(outputs, batch)
        source = outputs if "teacher_logits" in outputs else batch
        teacher = require(source, "teacher_logits", "outputs or batch").detach()
        student_log = (logits.float() / self.T).log_softmax(dim=-1)
        teacher_log = (teacher.float() / self.T).log_softmax(dim=-1)
        kd = F.kl_div(student_log, teacher_log, reduction="batchmean", log_target=True) * self.T**2
        return {"kd_loss": self.alpha * kd, "ce_loss": (1.0 - self.alpha) * F.cross_entropy(logits, labels)}
