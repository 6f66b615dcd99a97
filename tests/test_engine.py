"""The training engine: resume after an interruption gives the same result, best-val selection, done marker."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from mmdiag.data.augment import Compose, RandomFlip
from mmdiag.data.batches import Cache, SampleSet
from mmdiag.engine.seed import seed_everything
from mmdiag.engine.trainer import FitSpec, fit
from mmdiag.losses import build_loss


class TinyNet(nn.Module):
    """Small enough for a unit test, with dropout so the RNG state matters for resume."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"logits": self.body(batch["images"]["eus"])}


def _samples(tiny_cache: Path) -> SampleSet:
    cache = Cache.load(tiny_cache / "cache")
    return SampleSet(cache, cache.cases["case_id"].tolist(), ["eus"])


def _val(samples: SampleSet):
    def evaluate(model: nn.Module) -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            b = samples.batch(torch.arange(len(samples)))
            loss = nn.functional.cross_entropy(model(b)["logits"], b["label"])
        model.train()
        return {"val_loss": float(loss)}

    return evaluate


SPEC = FitSpec(
    epochs=4,
    batch_size=8,
    optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9},
    scheduler={"name": "step", "step_size": 2, "gamma": 0.5},
    progress=False,
    select="val_loss",
    checkpoint_every_s=0,  # a resume checkpoint after every epoch but the last
)


def _train(tiny_cache: Path, ckpt: Path, evaluate) -> tuple[TinyNet, Any]:
    seed_everything(0)
    model = TinyNet()
    samples = _samples(tiny_cache)
    result = fit(
        model,
        build_loss("ce"),
        samples,
        SPEC,
        ckpt,
        evaluate=evaluate,
        augment=Compose([RandomFlip(0.5)]),
        fingerprint="tiny",
    )
    return model, result


def _killed_in_epoch(n: int, evaluate):
    """`evaluate`, except that its n-th call raises KeyboardInterrupt: a job killed during epoch n."""
    calls = {"n": 0}

    def wrapped(model: nn.Module) -> dict[str, float]:
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt("killed")
        return evaluate(model)

    return wrapped


def test_resume_after_interruption_matches_uninterrupted(tiny_cache: Path, tmp_path: Path, caplog) -> None:
    samples = _samples(tiny_cache)
    full_model, full = _train(tiny_cache, tmp_path / "full", _val(samples))

    crash_in_epoch_3 = _killed_in_epoch(3, _val(samples))

    with pytest.raises(KeyboardInterrupt):
        _train(tiny_cache, tmp_path / "resumed", crash_in_epoch_3)
    assert (tmp_path / "resumed" / "last.pt").exists() and not (tmp_path / "resumed" / "done.json").exists()
    with caplog.at_level(logging.INFO, logger="mmdiag.engine.trainer"):
        resumed_model, resumed = _train(tiny_cache, tmp_path / "resumed", _val(samples))
    assert resumed.resumed_from == 2
    assert any("resuming from checkpoint" in r.message for r in caplog.records)
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]
    assert resumed.best_epoch == full.best_epoch
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)


def test_best_epoch_weights_are_returned(tiny_cache: Path, tmp_path: Path) -> None:
    samples = _samples(tiny_cache)
    model, result = _train(tiny_cache, tmp_path / "r", _val(samples))
    best = min(result.history, key=lambda h: h["val_loss"])
    assert result.best_epoch == best["epoch"]
    assert _val(samples)(model)["val_loss"] == pytest.approx(best["val_loss"], rel=1e-5)


def test_finished_run_is_loaded_not_retrained(tiny_cache: Path, tmp_path: Path) -> None:
    samples = _samples(tiny_cache)
    _train(tiny_cache, tmp_path / "r", _val(samples))
    mtime = (tmp_path / "r" / "best.pt").stat().st_mtime_ns
    _, again = _train(tiny_cache, tmp_path / "r", _val(samples))
    assert again.seconds == 0.0 and (tmp_path / "r" / "best.pt").stat().st_mtime_ns == mtime


def test_checkpoint_with_other_settings_is_ignored(tiny_cache: Path, tmp_path: Path) -> None:
    samples = _samples(tiny_cache)
    _train(tiny_cache, tmp_path / "r", _val(samples))
    seed_everything(0)
    result = fit(
        TinyNet(), build_loss("ce"), samples, SPEC, tmp_path / "r", evaluate=_val(samples), fingerprint="other settings"
    )
    assert result.resumed_from is None and len(result.history) == SPEC.epochs


def test_accumulation_and_clipping_run(tiny_cache: Path, tmp_path: Path) -> None:
    samples = _samples(tiny_cache)
    spec = FitSpec(
        epochs=1, batch_size=4, accumulate=3, grad_clip=0.5, progress=False, optimizer={"name": "adamw", "lr": 1e-3}
    )
    seed_everything(0)
    result = fit(TinyNet(), build_loss("ce"), samples, spec, tmp_path / "acc", evaluate=None)
    assert len(result.history) == 1 and result.history[0]["train_loss"] > 0


def test_checkpoint_interval_limits_disk_writes(tiny_cache: Path, tmp_path: Path) -> None:
    """With a long interval no resume checkpoint is written mid-stage; the stage ends with best.pt and done.json
    and no last.pt, and the weights are the same as with a checkpoint after every epoch."""
    samples = _samples(tiny_cache)
    seed_everything(0)
    every_epoch = TinyNet()
    fit(every_epoch, build_loss("ce"), samples, SPEC, tmp_path / "every", evaluate=_val(samples))

    crash_in_epoch_3 = _killed_in_epoch(3, _val(samples))

    rare = dataclasses.replace(SPEC, checkpoint_every_s=3600)
    seed_everything(0)
    with pytest.raises(KeyboardInterrupt):
        fit(TinyNet(), build_loss("ce"), samples, rare, tmp_path / "rare", evaluate=crash_in_epoch_3)
    assert not list((tmp_path / "rare").glob("*.pt"))  # nothing written yet: the rerun starts over
    seed_everything(0)
    model = TinyNet()
    result = fit(model, build_loss("ce"), samples, rare, tmp_path / "rare", evaluate=_val(samples))
    assert result.resumed_from is None
    assert sorted(p.name for p in (tmp_path / "rare").iterdir()) == ["best.pt", "done.json", "rng.pt"]
    for a, b in zip(every_epoch.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_best_weights_from_before_an_interruption_survive_the_resume(tiny_cache: Path, tmp_path: Path) -> None:
    """The best epoch (here the first: the fake validation loss only rises) ends before the kill; the resumed
    run must return those weights, carried in the resume checkpoint, not its own last epoch's."""

    def rising_loss() -> Any:
        calls = {"n": 0}

        def evaluate(model: nn.Module) -> dict[str, float]:
            calls["n"] += 1
            return {"val_loss": float(calls["n"])}

        return evaluate

    full_model, full = _train(tiny_cache, tmp_path / "full", rising_loss())
    assert full.best_epoch == 0
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_cache, tmp_path / "resumed", _killed_in_epoch(3, rising_loss()))
    resumed_model, resumed = _train(tiny_cache, tmp_path / "resumed", rising_loss())
    assert resumed.resumed_from == 2 and resumed.best_epoch == 0
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)


def test_select_last_keeps_the_final_epoch_and_still_records_the_curve(tiny_cache: Path, tmp_path: Path) -> None:
    samples = _samples(tiny_cache)
    seed_everything(0)
    model = TinyNet()
    spec = dataclasses.replace(SPEC, select="last")
    result = fit(model, build_loss("ce"), samples, spec, tmp_path / "r", evaluate=_val(samples), fingerprint="t")
    assert result.best_epoch == spec.epochs - 1
    assert all("val_loss" in h for h in result.history)
    assert _val(samples)(model)["val_loss"] == pytest.approx(result.history[-1]["val_loss"], rel=1e-5)


def test_progress_bars_update_rarely_into_a_log_file(tmp_path: Path) -> None:
    """A rule's log receives each bar update as a new line; a terminal redraws it in place."""
    import io

    from mmdiag.engine.trainer import progress_interval

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    with open(tmp_path / "train.log", "w", encoding="utf-8") as log_file:
        assert progress_interval(log_file) == 30.0
    assert progress_interval(Terminal()) == 1.0
    assert progress_interval(object()) == 30.0
