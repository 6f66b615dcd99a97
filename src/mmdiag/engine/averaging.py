"""Exponential moving average of a model's weights (`trainer.ema`), for small, noisy training sets.

On a few hundred images the weights after any one epoch are a noisy point of the trajectory, and best-epoch
selection on a small validation split then picks the luckiest one. The average of the recent weights is a
steadier model (Polyak averaging; timm's `ModelEmaV3`, TensorFlow's `ExponentialMovingAverage`). Every
floating-point entry of the state (parameters and BatchNorm running statistics) is averaged; integer ones
(`num_batches_tracked`) are copied. The decay is capped by `(1 + t) / (10 + t)` at update `t` (TensorFlow's
`num_updates`), so the first updates are not dominated by the random initial weights.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


class WeightAverage:
    """The averaged copy (`module`) of a model, updated after each optimiser step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"trainer.ema: the decay must lie in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.module = copy.deepcopy(model)
        self.module.requires_grad_(False)
        self._source: tuple[int, list[Tensor], list[Tensor], list[Tensor], list[Tensor]] | None = None

    def _pairs(self, model: nn.Module) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        """(average, model) tensors of the floating-point entries, then of the others; built once per model."""
        if self._source is None or self._source[0] != id(model):
            mine, theirs = self.module.state_dict(), model.state_dict()
            floats = [k for k, v in mine.items() if v.is_floating_point()]
            others = [k for k, v in mine.items() if not v.is_floating_point()]
            self._source = (
                id(model),
                [mine[k] for k in floats],
                [theirs[k] for k in floats],
                [mine[k] for k in others],
                [theirs[k] for k in others],
            )
        return self._source[1:]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards `model`'s current weights."""
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        avg_f, cur_f, avg_o, cur_o = self._pairs(model)
        torch._foreach_lerp_(avg_f, cur_f, 1.0 - decay)
        for a, c in zip(avg_o, cur_o):
            a.copy_(c)
        self.updates += 1

    def state_dict(self) -> dict[str, object]:
        """What a resume checkpoint keeps of the average."""
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.module.load_state_dict(state["module"])  # type: ignore[arg-type]
        self.updates = int(state["updates"])  # type: ignore[arg-type]
