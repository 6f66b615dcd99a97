"""Image(s) + report classifier of the fusion study (METHODS.md §3; `papers/image_text_fusion_ham10000_spine.txt`).

Baseline of the paper: ResNet-18 image features + BERT [CLS] text features, concatenated, MLP head. Every
study row swaps one part by name — the fusion module (`FUSIONS`), the head (`HEADS`), the objective
(`LOSSES`, chosen by the runner) — on the same encoders, so rows differ only in what the row names.

Inputs are any image modalities of the dataset plus, optionally, one report column as text; the text is an
input at inference too (`uses_text_at_inference`), unlike TMM-Net. With `unimodal_heads` the model also
returns image-only and text-only logits (`logits_img`, `logits_txt`) for the modality-disagreement loss.
Hierarchical fusion reads per-level features (image stages x text layers).

Missing modalities (docs/data_format.md, `data.missing_modality: token`): where `batch["present"][m]` is False
for a sample, that image modality's features (pooled vector, tokens, per-level vectors) are replaced by a
learned per-modality token, so a case without some modality is classified from what it has. The tokens start
at zero (no random draw: adding them changes no other parameter's initialisation) and are only used, hence
only trained, when a batch lacks a modality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from mmdiag.config.sections import FusionBaseConfig
from mmdiag.models.encoders import create_image_encoder, create_text_encoder
from mmdiag.models.features import ModalityFeatures, encode_once_per_case
from mmdiag.models.spec import config_of
from mmdiag.registry import FUSIONS, HEADS, MODELS


@dataclass
class ImageTextCfg:
    """Keys of a fusion-study model config."""

    modalities: list[str]
    num_classes: int
    in_chans: dict[str, int]
    encoder: dict[str, Any]
    text: str | None = None  # report column used as text input (None: images only)
    text_encoder: dict[str, Any] = field(default_factory=dict)
    vocab_size: int = 0
    text_length: int = 0
    id_to_char: list[str] = field(default_factory=list)  # corpus id -> character (Hugging Face text towers)
    fusion: str = FusionBaseConfig.fusion  # the fusion study's baseline (`fusion_study.base`)
    fusion_kwargs: dict[str, Any] = field(default_factory=dict)
    head: str = FusionBaseConfig.head
    head_kwargs: dict[str, Any] = field(default_factory=dict)
    hidden: int = 256  # fusion width and head hidden width (a model built directly; the study passes base.hidden)
    dropout: float = FusionBaseConfig.dropout
    num_levels: int = 1  # image stages fed to hierarchical fusion (text uses its last as many layers)
    unimodal_heads: bool = False


class ImageTextClassifier(nn.Module):
    """Encoders -> fusion -> head; `forward(batch) -> {"logits", ...}`."""

    supports_missing_modality = True  # learned token per image modality (batch["present"])

    def __init__(self, cfg: ImageTextCfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.modalities = list(cfg.modalities)
        self.image = nn.ModuleDict(
            {m: create_image_encoder(cfg.encoder, cfg.in_chans[m], num_levels=cfg.num_levels) for m in self.modalities}
        )
        self.text = (
            create_text_encoder(cfg.text_encoder, cfg.vocab_size, cfg.text_length, cfg.id_to_char) if cfg.text else None
        )
        self.uses_text_at_inference = self.text is not None
        self.missing_token = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(e.num_features)) for m, e in self.image.items()}
        )
        self.missing_levels = nn.ParameterDict(
            {
                m: nn.Parameter(torch.zeros(sum(list(e.level_dims)[-cfg.num_levels :])))
                for m, e in self.image.items()
                if cfg.num_levels > 1
            }
        )
        encoders = [*self.image.values(), *([self.text] if self.text is not None else [])]
        in_dims = [e.num_features for e in encoders]
        if len(in_dims) > 1:
            kwargs = dict(cfg.fusion_kwargs)
            if cfg.num_levels > 1:
                kwargs["level_dims"] = [list(e.level_dims)[-cfg.num_levels :] for e in encoders]
            self.fusion = FUSIONS.create(cfg.fusion, in_dims=in_dims, dim=cfg.hidden, dropout=cfg.dropout, **kwargs)
            fused = self.fusion.out_dim
        else:
            self.fusion, fused = None, in_dims[0]
        self.head = HEADS.create(
            cfg.head,
            in_dim=fused,
            num_classes=cfg.num_classes,
            hidden=cfg.hidden,
            dropout=cfg.dropout,
            **cfg.head_kwargs,
        )
        if cfg.unimodal_heads:
            if self.text is None:
                raise ValueError("unimodal_heads needs a text input (image-only vs text-only logits)")
            self.img_head = nn.Linear(sum(e.num_features for e in self.image.values()), cfg.num_classes)
            self.txt_head = nn.Linear(self.text.num_features, cfg.num_classes)

    def encode(self, batch: Mapping[str, Any]) -> list[ModalityFeatures]:
        feats = [self.image[m](batch["images"][m]) for m in self.modalities]
        present = batch.get("present") or {}
        for i, m in enumerate(self.modalities):
            if m in present and not bool(present[m].all()):
                feats[i] = self._fill_missing(m, feats[i], present[m])
        if self.text is not None:
            ids = batch["text"][self.cfg.text]
            feats.append(encode_once_per_case(self.text, ids, batch["case"]) if "case" in batch else self.text(ids))
        if self.cfg.num_levels > 1:  # the text tower may have more layers than the image has stages
            for f in feats:
                if f.levels is not None:
                    f.levels = f.levels[-self.cfg.num_levels :]
        return feats

    def _fill_missing(self, modality: str, f: ModalityFeatures, present: Tensor) -> ModalityFeatures:
        """`f` with the samples where `present` is False replaced by the modality's learned token."""
        keep = present.to(device=f.pooled.device, dtype=torch.bool)
        token = self.missing_token[modality].to(f.pooled.dtype)
        pooled = torch.where(keep[:, None], f.pooled, token.expand_as(f.pooled))
        tokens = f.tokens
        if tokens is not None:
            tokens = torch.where(keep[:, None, None], tokens, token.expand_as(tokens))
        levels = f.levels
        if levels is not None and modality in self.missing_levels:
            deep = levels[-self.cfg.num_levels :]
            parts = torch.split(self.missing_levels[modality].to(f.pooled.dtype), [lv.shape[-1] for lv in deep])
            filled = [torch.where(keep[:, None], lv, t.expand_as(lv)) for lv, t in zip(deep, parts)]
            levels = [*levels[: len(levels) - len(deep)], *filled]
        return ModalityFeatures(pooled=pooled, tokens=tokens, mask=f.mask, levels=levels, grid=f.grid)

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        feats = self.encode(batch)
        fused = self.fusion(feats) if self.fusion is not None else feats[0].pooled
        out: dict[str, Any] = {**self.head(fused), "fused": fused, "features": feats}
        if self.cfg.unimodal_heads:
            n_img = len(self.modalities)
            out["logits_img"] = self.img_head(torch.cat([f.pooled for f in feats[:n_img]], dim=-1))
            out["logits_txt"] = self.txt_head(feats[n_img].pooled)
        return out


class Distiller(nn.Module):
    """Student trained against a frozen teacher: adds `teacher_logits` to the student's outputs.

    Only the student is saved/evaluated (`student`); the teacher runs in eval mode without gradients.
    Distillation matches the student to the teacher on the same complete samples, so the study runs with
    `data.missing_modality: drop` (`supports_missing_modality`; mmdiag.models.student).
    """

    supports_missing_modality = False

    def __init__(self, student: nn.Module, teacher: nn.Module) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.uses_text_at_inference = getattr(student, "uses_text_at_inference", False)

    def train(self, mode: bool = True) -> Distiller:
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        out = self.student(batch)
        if self.training:
            with torch.no_grad():
                out["teacher_logits"] = self.teacher(batch)["logits"]
        return out


def _create_image_text(cfg: Mapping[str, Any]) -> ImageTextClassifier:
    return ImageTextClassifier(config_of(ImageTextCfg, cfg, "image_text"))


@MODELS.register("image_text")
def image_text(**cfg: Any) -> ImageTextClassifier:
    """Images (+ report) -> fusion -> head."""
    return _create_image_text(cfg)
