"""Optimisers and LR schedules by name from the `trainer` config section."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from mmdiag.errors import ConfigError


def build_optimizer(params: Iterable[nn.Parameter], cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    name = cfg.get("name", "sgd")
    lr = float(cfg.get("lr", 1e-3))
    wd = float(cfg.get("weight_decay", 0.0))
    params = [p for p in params if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(cfg.get("momentum", 0.9)), weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    raise ConfigError(f"trainer.optimizer.name: unknown optimiser '{name}' (sgd | adam | adamw)")


def build_scheduler(opt: torch.optim.Optimizer, cfg: Mapping[str, Any] | None, epochs: int) -> Any:
    """An epoch-level scheduler, or None. `plateau` steps on the selection metric (see trainer)."""
    cfg = cfg or {}
    name = cfg.get("name", "none")
    if name == "none":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(opt, int(cfg.get("step_size", 10)), float(cfg.get("gamma", 0.1)))
    if name == "multistep":  # e.g. TMM-Net: x0.1 once, after 10 epochs
        return torch.optim.lr_scheduler.MultiStepLR(
            opt, list(cfg.get("milestones", [10])), float(cfg.get("gamma", 0.1))
        )
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="max", factor=float(cfg.get("factor", 0.1)), patience=int(cfg.get("patience", 5))
        )
    raise ConfigError(
        f"trainer.scheduler.name: unknown scheduler '{name}' (none | step | multistep | cosine | plateau)"
    )
