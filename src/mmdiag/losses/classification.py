"""Classification objectives on `outputs["logits"]` and `batch["label"]`.

- `ce`: cross-entropy with optional label smoothing (the baseline).
- `focal`: -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017; fusion paper eq. 12).
- `ldam`: label-distribution-aware margin (Cao et al. 2019), margins m_c proportional to n_c^(-1/4),
  largest = `max_margin`, logits scaled by `s`, optional DRW class weights.
- `ce_ldam`: CE + weight * LDAM, the dual-branch CRC paper's "CCE combined with LDAM" (§2.3; the paper
  prints no weight, so `ldam_weight` defaults to 1).
- `logit_adjusted`: logit-adjusted CE (Menon et al. 2021), CE(z + tau * log pi, y); `posthoc_adjust`
  gives the inference-time form z - tau * log pi of the fusion paper's eq. (12).
Class-dependent arguments (counts, priors) are plain sequences given at construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdiag.registry import LOSSES


def require(mapping: Mapping[str, Tensor], key: str, where: str) -> Tensor:
    """`mapping[key]`, or a KeyError naming what was expected and what is there."""
    try:
        return mapping[key]
    except KeyError:
        raise KeyError(f"{where} has no {key!r} (keys: {', '.join(sorted(mapping)) or 'none'})") from None


def logits_and_labels(
    outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor], key: str = "logits"
) -> tuple[Tensor, Tensor]:
    """The logits a classification loss reads and the integer labels they are scored against."""
    return require(outputs, key, "model outputs"), require(batch, "label", "batch")


def _as_probabilities(values: Sequence[float], name: str) -> Tensor:
    t = torch.as_tensor(values, dtype=torch.float32)
    if t.ndim != 1 or (t <= 0).any():
        raise ValueError(f"{name} must be a 1-D sequence of positive numbers, got {values}")
    return t / t.sum()


@LOSSES.register("ce")
class CrossEntropyLoss(nn.Module):
    """Cross-entropy, optionally label-smoothed."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits, labels = logits_and_labels(outputs, batch)
        return {"ce_loss": F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)}


@LOSSES.register("focal")
class FocalLoss(nn.Module):
    """Focal loss; gamma = 0 and alpha = None is plain CE.

    Args:
        gamma: focusing exponent; larger down-weights easy examples more.
        alpha: class balance factor: one number for all classes or one per class; None = 1.
    """

    def __init__(self, gamma: float = 2.0, alpha: float | Sequence[float] | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("alpha", None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32))

    def forward(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits, labels = logits_and_labels(outputs, batch)
        log_pt = logits.float().log_softmax(dim=-1).gather(1, labels.unsqueeze(1)).squeeze(1)
        loss = -((1.0 - log_pt.exp()) ** self.gamma) * log_pt
        if self.alpha is not None:
            loss = loss * (self.alpha[labels] if self.alpha.ndim else self.alpha)
        return {"focal_loss": loss.mean()}


@LOSSES.register("ldam")
class LDAMLoss(nn.Module):
    """LDAM: CE(s * (z - m_y e_y), y) with m_c = max_margin * (n_min / n_c)^(1/4).

    LDAM was designed for cosine logits in [-1, 1] (a normalised classifier), where s = 30 is its
    scale; with an unnormalised head a smaller `s` may suit better.

    Args:
        class_counts: training samples per class.
        max_margin: margin of the rarest class.
        s: logit scale.
        drw_beta: when set, class weights (1 - beta) / (1 - beta^n_c) normalised to mean 1 (the
            effective-number weights of LDAM-DRW). Deferring them to a later epoch ("DRW") is a
            training-schedule choice: build the loss with them from that epoch on.
    """

    def __init__(
        self,
        class_counts: Sequence[int],
        max_margin: float = 0.5,
        s: float = 30.0,
        drw_beta: float | None = None,
    ) -> None:
        super().__init__()
        counts = torch.as_tensor(class_counts, dtype=torch.float32)
        if counts.ndim != 1 or (counts <= 0).any():
            raise ValueError(f"class_counts must be positive per class, got {class_counts}")
        margins = counts**-0.25
        self.register_buffer("margins", margins * (max_margin / margins.max()))
        self.s = s
        weights = None
        if drw_beta is not None:
            weights = (1.0 - drw_beta) / (1.0 - drw_beta**counts)
            weights = weights / weights.mean()
        self.register_buffer("class_weights", weights)

    def forward(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits, labels = logits_and_labels(outputs, batch)
        shifted = logits - F.one_hot(labels, logits.shape[-1]) * self.margins  # m_y on the true class only
        return {"ldam_loss": F.cross_entropy(self.s * shifted, labels, weight=self.class_weights)}


@LOSSES.register("ce_ldam")
class CeLdamLoss(nn.Module):
    """CE + ldam_weight * LDAM on the same logits (dual-branch CRC paper, §2.3)."""

    def __init__(
        self,
        class_counts: Sequence[int],
        ldam_weight: float = 1.0,
        max_margin: float = 0.5,
        s: float = 30.0,
        drw_beta: float | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.ldam_weight = ldam_weight
        self.ce = CrossEntropyLoss(label_smoothing=label_smoothing)
        self.ldam = LDAMLoss(class_counts, max_margin=max_margin, s=s, drw_beta=drw_beta)

    def forward(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        ldam = self.ldam(outputs, batch)["ldam_loss"]
        return {**self.ce(outputs, batch), "ldam_loss": self.ldam_weight * ldam}


@LOSSES.register("logit_adjusted")
class LogitAdjustedLoss(nn.Module):
    """Logit-adjusted CE: CE(z + tau * log pi, y), so the model learns balanced-error logits.

    Args:
        class_priors: class frequencies or counts (normalised here).
        tau: adjustment strength; 0 gives plain CE.
    """

    def __init__(self, class_priors: Sequence[float], tau: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("shift", tau * _as_probabilities(class_priors, "class_priors").log())

    def posthoc_adjust(self, logits: Tensor) -> Tensor:
        """Inference-time adjustment z - tau * log pi for a model trained with plain CE (paper eq. 12)."""
        return logits - self.shift

    def forward(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits, labels = logits_and_labels(outputs, batch)
        return {"logit_adjusted_loss": F.cross_entropy(logits + self.shift, labels)}
