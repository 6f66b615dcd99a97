"""Engine checkpoints and schedule features: weights-only loading, deterministic saves and identities, RNG state
that loads weights-only, LR warm-up, early stopping, and the selection key checked before training."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from mmdiag.engine.checkpoint import checkpoint_identity, load_checkpoint, save_checkpoint
from mmdiag.engine.optim import Warmup, build_warmup
from mmdiag.engine.seed import rng_state, seed_everything, set_rng_state
from mmdiag.engine.trainer import FitSpec, declare_keys, fit
from mmdiag.errors import ConfigError
from mmdiag.losses import build_loss
from test_engine import SPEC, TinyNet, _killed_in_epoch, _samples, _val


def _fit(tiny_cache: Path, ckpt: Path, spec: FitSpec, evaluate: Any) -> tuple[TinyNet, Any]:
    seed_everything(0)
    model = TinyNet()
    result = fit(model, build_loss("ce"), _samples(tiny_cache), spec, ckpt, evaluate=evaluate, fingerprint="f")
    return model, result


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# ------------------------------------------------------------------------------------ saving and loading
def test_saves_of_equal_content_are_byte_identical_whatever_the_file_name(tmp_path: Path) -> None:
    state = {"w": torch.arange(6.0).reshape(2, 3), "meta": {"epoch": 3, "name": "x"}}
    save_checkpoint(tmp_path / "a.pt", state)
    save_checkpoint(tmp_path / "other_name.pt", state)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "other_name.pt").read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temporary left behind


def test_checkpoint_identity_hashes_content_not_container(tmp_path: Path) -> None:
    """torch.save to a path names the zip's folder after the file, so bytes differ; the identity does not."""
    state = {"b": torch.ones(3, dtype=torch.bfloat16), "a": torch.tensor(2.5), "cfg": {"k": [1, 2]}}
    torch.save(state, tmp_path / "one.pt")
    torch.save(dict(reversed(list(state.items()))), tmp_path / "two.pt")
    assert (tmp_path / "one.pt").read_bytes() != (tmp_path / "two.pt").read_bytes()
    assert checkpoint_identity(tmp_path / "one.pt") == checkpoint_identity(tmp_path / "two.pt")
    torch.save({**state, "a": torch.tensor(2.5000002)}, tmp_path / "three.pt")
    assert checkpoint_identity(tmp_path / "three.pt") != checkpoint_identity(tmp_path / "one.pt")
    torch.save({**state, "cfg": {"k": [1, 3]}}, tmp_path / "four.pt")
    assert checkpoint_identity(tmp_path / "four.pt") != checkpoint_identity(tmp_path / "one.pt")


def test_rng_state_survives_a_weights_only_round_trip(tmp_path: Path) -> None:
    seed_everything(3)
    random.random(), np.random.rand(), torch.rand(1), random.gauss(0, 1)  # leave a cached gaussian
    save_checkpoint(tmp_path / "rng.pt", rng_state())
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)), np.random.randn())
    seed_everything(99)
    set_rng_state(load_checkpoint(tmp_path / "rng.pt"))
    assert (random.random(), float(np.random.rand()), float(torch.rand(1)), np.random.randn()) == expected


def test_every_engine_checkpoint_loads_weights_only(tiny_cache: Path, tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, scheduler={"name": "multistep", "milestones": [1, 2], "warmup_epochs": 1})
    with pytest.raises(KeyboardInterrupt):
        _fit(tiny_cache, tmp_path, spec, _killed_in_epoch(3, _val(_samples(tiny_cache))))
    state = load_checkpoint(tmp_path / "last.pt")  # weights_only=True inside
    assert state["epoch"] == 1 and isinstance(state["rng"]["numpy"]["keys"], torch.Tensor)


# ------------------------------------------------------------------------------------------- warm-up
def test_warmup_factor_rises_linearly_per_step() -> None:
    w = build_warmup({"warmup_epochs": 2, "warmup_start_factor": 0.2}, steps_per_epoch=5)
    assert w == Warmup(steps=10, start_factor=0.2)
    assert [round(w.factor(s), 6) for s in (0, 5, 9, 10, 50)] == [0.2, 0.6, 0.92, 1.0, 1.0]
    assert build_warmup({"warmup_epochs": 0}, 5) is None and build_warmup(None, 5) is None


@pytest.mark.parametrize("schedule", ["cosine", "step", "multistep", "none"])
def test_warmup_scales_only_the_first_epochs_of_any_schedule(tiny_cache: Path, tmp_path: Path, schedule: str) -> None:
    sched = {"name": schedule, "step_size": 2, "milestones": [2]}
    plain = dataclasses.replace(SPEC, scheduler=sched)
    warm = dataclasses.replace(SPEC, scheduler={**sched, "warmup_epochs": 1, "warmup_start_factor": 0.1})
    _, a = _fit(tiny_cache, tmp_path / "plain", plain, _val(_samples(tiny_cache)))
    _, b = _fit(tiny_cache, tmp_path / "warm", warm, _val(_samples(tiny_cache)))
    lr_a, lr_b = [h["lr"] for h in a.history], [h["lr"] for h in b.history]
    assert lr_b[0] < lr_a[0]  # epoch 0 ends below the schedule's rate (last warm-up step)
    assert lr_b[1:] == pytest.approx(lr_a[1:])  # then exactly the configured schedule, epochs counted from 0


def test_resume_inside_warmup_matches_uninterrupted(tiny_cache: Path, tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, scheduler={"name": "cosine", "warmup_epochs": 3})
    full_model, full = _fit(tiny_cache, tmp_path / "full", spec, _val(_samples(tiny_cache)))
    with pytest.raises(KeyboardInterrupt):
        _fit(tiny_cache, tmp_path / "resumed", spec, _killed_in_epoch(3, _val(_samples(tiny_cache))))
    model, resumed = _fit(tiny_cache, tmp_path / "resumed", spec, _val(_samples(tiny_cache)))
    assert resumed.resumed_from == 2
    assert [h["lr"] for h in resumed.history] == [h["lr"] for h in full.history]
    assert _same_weights(full_model, model)


# ------------------------------------------------------------------------------------ early stopping
def _scripted(losses: list[float]) -> Any:
    calls = {"n": 0}

    def evaluate(model: nn.Module) -> dict[str, float]:
        calls["n"] += 1
        return {"val_loss": losses[calls["n"] - 1]}

    return declare_keys(evaluate, {"val_loss"})


def test_early_stopping_stops_keeps_best_and_records_it(tiny_cache: Path, tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, epochs=8, early_stopping={"patience": 2, "min_delta": 0.05})
    losses = [1.0, 0.9, 0.88, 0.87, 0.5, 0.4, 0.3, 0.2]  # epochs 2 and 3 improve by < min_delta
    _, result = _fit(tiny_cache, tmp_path, spec, _scripted(losses))
    assert result.stopped_early and len(result.history) == 4
    assert [h["bad_epochs"] for h in result.history] == [0, 0, 1, 2]
    assert [h["stopped_early"] for h in result.history] == [False, False, False, True]
    assert result.best_epoch == 3  # the best epoch is still the best score, improved by any amount
    from mmdiag.io import read_json

    assert read_json(tmp_path / "done.json")["stopped_early"] is True


def test_a_slow_creep_of_small_gains_does_not_reset_the_patience(tiny_cache: Path, tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, epochs=8, early_stopping={"patience": 3, "min_delta": 0.05})
    losses = [1.0, 0.98, 0.96, 0.94, 0.92, 0.9, 0.88, 0.86]  # 0.02 per epoch: 0.06 over three epochs
    _, result = _fit(tiny_cache, tmp_path, spec, _scripted(losses))
    assert [h["bad_epochs"] for h in result.history] == [0, 1, 2, 0, 1, 2, 0, 1]
    assert not result.stopped_early


def test_early_stopping_is_resume_safe(tiny_cache: Path, tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, epochs=8, early_stopping={"patience": 2, "min_delta": 0.0})
    losses = [1.0, 0.9, 0.95, 0.8, 0.85, 0.86, 0.1, 0.1]
    full_model, full = _fit(tiny_cache, tmp_path / "full", spec, _scripted(losses))
    assert full.stopped_early and len(full.history) == 6

    calls = {"n": 0}

    def killed_in_epoch_5(model: nn.Module) -> dict[str, float]:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("killed")
        return {"val_loss": losses[calls["n"] - 1]}

    with pytest.raises(KeyboardInterrupt):
        _fit(tiny_cache, tmp_path / "resumed", spec, declare_keys(killed_in_epoch_5, {"val_loss"}))
    rest = _scripted(losses[4:])
    model, resumed = _fit(tiny_cache, tmp_path / "resumed", spec, rest)
    assert resumed.resumed_from == 4 and resumed.stopped_early
    assert [h["bad_epochs"] for h in resumed.history] == [h["bad_epochs"] for h in full.history]
    assert _same_weights(full_model, model)


# ---------------------------------------------------------------------------------- selection key
def test_fitspec_selects_on_validation_loss_by_default() -> None:
    assert FitSpec(epochs=1).select == "val_loss"


def test_unknown_select_key_fails_before_training(tiny_cache: Path, tmp_path: Path) -> None:
    called = []

    def evaluate(model: nn.Module) -> dict[str, float]:
        called.append(1)
        return {"val_loss": 1.0, "val_Acc": 0.5}

    spec = dataclasses.replace(SPEC, select="val_acc")
    with pytest.raises(ConfigError, match=r"trainer.select: 'val_acc' is not a validation key.*did you mean 'val_Acc'"):
        _fit(tiny_cache, tmp_path / "ckpt", spec, declare_keys(evaluate, {"val_loss", "val_Acc"}))
    assert not called and not (tmp_path / "ckpt").exists()  # not one step trained, nothing written


def test_undeclared_evaluator_is_checked_at_its_first_call(tiny_cache: Path, tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, select="val_AUC")
    with pytest.raises(ConfigError, match=r"'val_AUC'.*emits: val_loss"):
        _fit(tiny_cache, tmp_path / "ckpt", spec, _val(_samples(tiny_cache)))
    assert not (tmp_path / "ckpt").exists()  # stopped inside epoch 0: no checkpoint written


def test_classification_evaluator_declares_what_it_emits(tiny_cache: Path, tiny_config: dict[str, Any]) -> None:
    from mmdiag.experiments.context import Context
    from mmdiag.experiments.supervised import classification_evaluator

    ctx = Context.open(tiny_config, tiny_cache / "cache")
    val = _samples(tiny_cache)
    evaluate = classification_evaluator(ctx, val, 64)
    assert {"val_loss", "val_Acc", "val_AUC"} <= evaluate.keys

    class Flat(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Linear(32 * 32, 2)

        def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            return {"logits": self.w(batch["images"]["eus"].flatten(1))}

    assert set(evaluate(Flat())) == set(evaluate.keys)  # the declaration is exactly what it returns


def test_two_identical_runs_leave_byte_identical_checkpoints(tiny_cache: Path, tmp_path: Path) -> None:
    """What provenance needs (issue 12 item 5): the same run twice gives the same bytes and the same identity."""
    _fit(tiny_cache, tmp_path / "one", SPEC, _val(_samples(tiny_cache)))
    _fit(tiny_cache, tmp_path / "two", SPEC, _val(_samples(tiny_cache)))
    for name in ("best.pt", "rng.pt"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert checkpoint_identity(tmp_path / "one" / "best.pt") == checkpoint_identity(tmp_path / "two" / "best.pt")
