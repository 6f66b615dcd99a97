"""Efficiency measurement: real, positive numbers; a bigger model has more parameters, lower throughput and
more activation memory; the RSS sampler sees an allocation; the model's mode is restored."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import mmdiag.models.dualbranch  # noqa: F401  (registers the dual-branch models)
from mmdiag.engine.efficiency import RssPeak, measure_efficiency
from mmdiag.registry import MODELS

torch.set_num_threads(1)

KEYS = {
    "params",
    "weights_mb",
    "images_per_s",
    "ms_per_batch",
    "peak_memory_mb",
    "memory_source",
    "batch_size",
    "device",
}


class ConvNet(nn.Module):
    """`depth` 3x3 convs of `channels` on a batch dict: cost grows with both."""

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, channels, 3, padding=1)]
        for _ in range(depth):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, 2)

    def forward(self, batch: dict[str, dict[str, Tensor]]) -> dict[str, Tensor]:
        return {"logits": self.fc(self.body(batch["images"]["x"]).mean((2, 3)))}


def _batch() -> dict[str, dict[str, Tensor]]:
    return {"images": {"x": torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))}}


def test_bigger_model_costs_more() -> None:
    torch.manual_seed(0)
    small = measure_efficiency(ConvNet(4, 1), _batch(), "cpu", warmup=1, iters=5)
    big = measure_efficiency(ConvNet(64, 6), _batch(), "cpu", warmup=1, iters=3)
    for report in (small, big):
        assert set(report) == KEYS
        assert report["images_per_s"] > 0 and report["ms_per_batch"] > 0 and report["weights_mb"] > 0
        assert report["memory_source"] == "cpu_rss" and report["batch_size"] == 4
        assert report["images_per_s"] == pytest.approx(4 / (report["ms_per_batch"] / 1e3))
    assert big["params"] > 100 * small["params"]
    assert big["images_per_s"] < small["images_per_s"]  # ~100x the FLOPs: no timing noise closes that gap
    assert big["peak_memory_mb"] > small["peak_memory_mb"]  # 1 MiB per activation vs 64 KiB


def test_dualbranch_model_and_mode_restored() -> None:
    torch.manual_seed(0)
    model = MODELS.create("dualbranch_resnet18", modalities=["a", "b"], num_classes=3, width=0.125).train()
    g = torch.Generator().manual_seed(0)
    batch = {"images": {m: torch.randn(2, 3, 32, 32, generator=g) for m in ("a", "b")}}
    report = measure_efficiency(model, batch, "cpu", warmup=1, iters=2)
    assert report["params"] == sum(p.numel() for p in model.parameters())
    assert report["batch_size"] == 2 and report["images_per_s"] > 0
    assert model.training


def test_plain_tensor_models() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2))
    report = measure_efficiency(model, torch.randn(3, 3, 16, 16), "cpu", warmup=1, iters=2)
    assert report["batch_size"] == 3 and report["params"] > 0
    with pytest.raises(ValueError, match="iters >= 1"):
        measure_efficiency(model, torch.randn(3, 3, 16, 16), "cpu", iters=0)


def test_rss_sampler_sees_an_allocation() -> None:
    with RssPeak() as rss:
        block = torch.ones(16 * 2**20)  # 64 MiB, every page touched
        del block
    assert rss.growth >= 60 * 2**20
