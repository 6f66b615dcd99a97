"""Training objectives; importing this package registers every loss module in `LOSSES`.

A loss is an `nn.Module` with `forward(outputs, batch) -> dict` of named scalar terms whose keys end
in `_loss` (open_clip `output_dict` practice). The engine adds every `*_loss` term from the loss and
from the model outputs (e.g. a MoE head's `moe_balance_loss`) with `sum_losses`, so a new term never
touches the training loop. New loss modules: add one line to the import list below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mmdiag.losses import (  # noqa: F401  (imported to register their losses)
    classification,
    contrastive,
    disagreement,
    distillation,
    guided,
    prototype,
)
from mmdiag.registry import LOSSES

__all__ = ["build_loss", "sum_losses"]


def build_loss(name: str, **kwargs: Any) -> nn.Module:
    """The loss registered as `name`; None kwargs fall back to defaults, unknown names list the known."""
    return LOSSES.create(name, **kwargs)


def sum_losses(*terms: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    """Total of every scalar `*_loss` entry across `terms`, and each term plus the total ("loss"), detached.

    The logged values stay tensors so the training loop never synchronises with the device per step.

    Keys not ending in `_loss` (logits, ...) are ignored. A key present in two mappings is an error,
    since silently adding it twice (or keeping one) would hide a naming clash.
    """
    picked: dict[str, Tensor] = {}
    for mapping in terms:
        for key, value in mapping.items():
            if not key.endswith("_loss"):
                continue
            if key in picked:
                raise ValueError(f"loss term {key!r} is produced twice; rename one of them")
            if value.ndim != 0:
                raise ValueError(f"loss term {key!r} must be a scalar, got shape {tuple(value.shape)}")
            picked[key] = value
    if not picked:
        raise ValueError("no '*_loss' terms to sum")
    total = torch.stack([v.float() for v in picked.values()]).sum()
    logged = {k: v.detach().float() for k, v in picked.items()}
    logged["loss"] = total.detach()
    return total, logged
