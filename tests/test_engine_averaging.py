"""`trainer.ema`: the weight average is what is validated, selected, saved and resumed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from mmdiag.engine.averaging import WeightAverage
from mmdiag.engine.seed import seed_everything
from mmdiag.engine.trainer import fit
from mmdiag.losses import build_loss
from test_engine import SPEC, TinyNet, _killed_in_epoch, _samples, _val

EMA_SPEC = dataclasses.replace(SPEC, ema=0.9)


def _fit(tiny_cache: Path, ckpt: Path, evaluate, spec=EMA_SPEC):
    seed_everything(0)
    model = TinyNet()
    result = fit(model, build_loss("ce"), _samples(tiny_cache), spec, ckpt, evaluate=evaluate, fingerprint="ema")
    return model, result


def test_average_follows_the_capped_decay() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    avg = WeightAverage(net, 0.9)
    start = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
        net[1].num_batches_tracked.fill_(7)
    avg.update(net)  # decay min(0.9, 1/10) = 0.1: 90 % of the new weights
    assert torch.allclose(avg.module[0].weight, 0.1 * start + 0.9 * net[0].weight)
    assert int(avg.module[1].num_batches_tracked) == 7  # integer state is copied, not averaged
    before = avg.module[0].weight.clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    avg.update(net)  # decay min(0.9, 2/11)
    d = 2 / 11
    assert torch.allclose(avg.module[0].weight, d * before + (1 - d) * net[0].weight)
    assert not any(p.requires_grad for p in avg.module.parameters())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_decay_outside_the_open_unit_interval_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match=r"trainer\.ema"):
        WeightAverage(nn.Linear(2, 2), decay)


def test_the_average_is_validated_and_kept(tiny_cache: Path, tmp_path: Path) -> None:
    samples = _samples(tiny_cache)
    seen: list[nn.Module] = []
    val = _val(samples)

    def evaluate(model: nn.Module) -> dict[str, float]:
        seen.append(model)
        return val(model)

    model, result = _fit(tiny_cache, tmp_path / "r", evaluate)
    assert seen and all(m is not model for m in seen) and len({id(m) for m in seen}) == 1  # the average, each epoch
    best = min(result.history, key=lambda h: h["val_loss"])
    assert val(model)["val_loss"] == pytest.approx(best["val_loss"], rel=1e-5)  # its weights at the best epoch
    seed_everything(0)
    plain = TinyNet()
    fit(plain, build_loss("ce"), samples, SPEC, tmp_path / "plain", evaluate=val, fingerprint="plain")
    assert any(not torch.equal(a, b) for a, b in zip(plain.state_dict().values(), model.state_dict().values()))


def test_resume_restores_the_average(tiny_cache: Path, tmp_path: Path) -> None:
    samples = _samples(tiny_cache)
    full_model, full = _fit(tiny_cache, tmp_path / "full", _val(samples))
    with pytest.raises(KeyboardInterrupt):
        _fit(tiny_cache, tmp_path / "resumed", _killed_in_epoch(3, _val(samples)))
    resumed_model, resumed = _fit(tiny_cache, tmp_path / "resumed", _val(samples))
    assert resumed.resumed_from == 2
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)


def test_without_validation_the_final_average_is_kept(tiny_cache: Path, tmp_path: Path) -> None:
    samples = _samples(tiny_cache)
    seed_everything(0)
    model = TinyNet()
    spec = dataclasses.replace(EMA_SPEC, epochs=2)
    fit(model, build_loss("ce"), samples, spec, tmp_path / "r", evaluate=None, fingerprint="ema")
    seed_everything(0)
    plain = TinyNet()
    fit(plain, build_loss("ce"), samples, dataclasses.replace(SPEC, epochs=2), tmp_path / "p", fingerprint="p")
    assert any(not torch.equal(a, b) for a, b in zip(plain.state_dict().values(), model.state_dict().values()))
