"""Optimisers and LR schedules by name from the `trainer` config section.

Schedules are epoch-level (stepped once per epoch by the trainer). `trainer.scheduler.warmup_epochs`
adds a linear warm-up on top of any of them: during the first N epochs the learning rate the schedule
sets is multiplied, per optimiser step, by a factor rising linearly from `warmup_start_factor` to 1.
The schedule's epochs still count from the start of the phase (a multistep milestone 10 stays epoch 10),
so warm-up changes only the first N epochs. Per step, because CPU-scale phases have a handful of epochs:
an epoch-level warm-up of one epoch would jump from the start factor to the full rate in one go.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mmdiag.config.fields import fill
from mmdiag.config.sections import OptimizerConfig, SchedulerConfig
from mmdiag.errors import ConfigError


def build_optimizer(params: Iterable[nn.Parameter], cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """The optimiser `cfg` names (a `trainer.optimizer` section; keys left out take its defaults)."""
    c = fill(OptimizerConfig, cfg)
    name = c.name
    lr = float(c.lr)
    wd = float(c.weight_decay)
    params = [p for p in params if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(c.momentum), weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    raise ConfigError(f"trainer.optimizer.name: unknown optimiser '{name}' (sgd | adam | adamw)")


def build_scheduler(opt: torch.optim.Optimizer, cfg: Mapping[str, Any] | None, epochs: int) -> Any:
    """An epoch-level scheduler, or None. `plateau` steps on the selection metric (see trainer)."""
    c = fill(SchedulerConfig, cfg)  # keys left out take the `trainer.scheduler` defaults
    name = c.name
    if name == "none":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(opt, int(c.step_size), float(c.gamma))
    if name == "multistep":  # e.g. TMM-Net: x0.1 once, after 10 epochs
        return torch.optim.lr_scheduler.MultiStepLR(opt, list(c.milestones), float(c.gamma))
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="max", factor=float(c.factor), patience=int(c.patience)
        )
    raise ConfigError(
        f"trainer.scheduler.name: unknown scheduler '{name}' (none | step | multistep | cosine | plateau)"
    )


@dataclass(frozen=True)
class Warmup:
    """Linear warm-up over the first `steps` optimiser steps of a phase (see the module docstring)."""

    steps: int
    start_factor: float

    def factor(self, step: int) -> float:
        """LR multiplier of optimiser step `step` (0-based, counted from the start of the phase)."""
        if step >= self.steps:
            return 1.0
        return self.start_factor + (1.0 - self.start_factor) * step / self.steps


def build_warmup(cfg: Mapping[str, Any] | None, steps_per_epoch: int) -> Warmup | None:
    """The warm-up of `trainer.scheduler` (`warmup_epochs`, `warmup_start_factor`), or None when off."""
    c = fill(SchedulerConfig, cfg)
    epochs = int(c.warmup_epochs or 0)
    if epochs <= 0:
        return None
    start = float(c.warmup_start_factor)
    if not (0.0 < start <= 1.0) or not math.isfinite(start):
        raise ConfigError(f"trainer.scheduler.warmup_start_factor: must be in (0, 1], got {start}")
    return Warmup(steps=epochs * max(1, steps_per_epoch), start_factor=start)
