"""One supervised training run of any registered model: the fusion study's rows, the dual-branch model's
stages and the distillation pair all go through `train_model`.

A run spec is data (see `mmdiag.experiments.studies`): the model (`MODELS` name + kwargs), the objective
(`LOSSES` name + kwargs), trainer overrides, epochs, and optional TTA, initial weights or teacher.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from mmdiag.config import deep_merge
from mmdiag.data.batches import SampleSet
from mmdiag.engine import distributed
from mmdiag.engine.checkpoint import load_checkpoint, rebuild_hint
from mmdiag.engine.device import device_description, pick_device
from mmdiag.engine.seed import seed_everything
from mmdiag.engine.trainer import Evaluate, FitSpec, declare_keys, fit
from mmdiag.errors import CheckpointError
from mmdiag.experiments.context import Context
from mmdiag.experiments.evaluation import predict, score
from mmdiag.experiments.provenance import now
from mmdiag.experiments.runs import evaluate_sets, finish_run
from mmdiag.losses import build_loss
from mmdiag.models.spec import build_model
from mmdiag.registry import MODELS
from mmdiag.run_folder import CHECKPOINTS

log = logging.getLogger(__name__)
CLASS_COUNT_LOSSES = {"ldam": "class_counts", "ce_ldam": "class_counts", "logit_adjusted": "class_priors"}


def fit_spec(
    ctx: Context, epochs: int, select: str | None = None, overrides: Mapping[str, Any] | None = None
) -> FitSpec:
    """Trainer settings: the `trainer` config section, then run-specific overrides."""
    tr = deep_merge(ctx.config["trainer"], overrides or {})
    return FitSpec.from_config(
        tr,
        epochs=int(epochs),
        select=select or tr["select"],
        seed=int(ctx.config["seed"]),
        progress=bool(ctx.config["progress"]),
    )


def build_objective(name: str, kwargs: Mapping[str, Any] | None, train: SampleSet, num_classes: int) -> nn.Module:
    """A registered loss; class-dependent ones receive the training set's class counts."""
    kwargs = dict(kwargs or {})
    if name in CLASS_COUNT_LOSSES:
        kwargs.setdefault(CLASS_COUNT_LOSSES[name], train.class_counts(num_classes))
    return build_loss(name, **kwargs)


def classification_evaluator(ctx: Context, val: SampleSet, batch_size: int) -> Evaluate:
    """Validation metrics (`val_loss` = CE, `val_Acc`, `val_AUC`, ...) for best-epoch selection.

    Declares the keys it emits, so `fit` refuses a `trainer.select` it would never see before training.
    """

    def evaluate(m: nn.Module) -> dict[str, float]:
        pred = predict(m, val, batch_size)
        metrics = score(pred, ctx.task, ctx.labels, ctx.positive_index)
        out = {f"val_{k}": v for k, v in metrics.items() if np.isscalar(v)}
        out["val_loss"] = pred["loss"]
        return out

    keys = validation_keys(ctx)
    return evaluate if keys is None else declare_keys(evaluate, keys)


def validation_keys(ctx: Context) -> frozenset[str] | None:
    """The keys `classification_evaluator` emits for this dataset's task and labels (None if unknown).

    Found by scoring a tiny made-up prediction (every class once, twice over), so the list follows
    `score()` whatever metrics it gains; a failure leaves the check to the first evaluation.
    """
    n = len(ctx.labels)
    y = np.tile(np.arange(n), 2)
    probs = np.full((2 * n, n), 0.5 / max(n - 1, 1))
    probs[np.arange(2 * n), y] = 0.5
    pred = {"y": y, "probs": probs, "case_ids": [f"c{i}" for i in range(2 * n)], "loss": 0.0, "attr_probs": {}}
    try:
        metrics = score(pred, ctx.task, ctx.labels, ctx.positive_index)
    except Exception:
        log.debug("could not list validation keys in advance", exc_info=True)
        return None
    return frozenset({f"val_{k}" for k, v in metrics.items() if np.isscalar(v)} | {"val_loss"})


def train_model(
    ctx: Context,
    run: Mapping[str, Any],
    split_path: str | Path,
    eval_sets: Mapping[str, tuple[str | Path, str]],
    run_dir: str | Path,
    teacher: nn.Module | None = None,
    init: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train `run` (keys: name, study, model, loss, epochs, trainer, modalities, tta, augment) and evaluate it.

    `init` is a state dict (or a callable applied to the model) loaded before training; `teacher` makes this
    a distillation run (the loss should be `distillation`).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    started, t0 = now(), time.perf_counter()
    seed_everything(int(ctx.config["seed"]))
    model = build_model(run["model"])
    if callable(init):
        init(model)
    elif init is not None:
        model.load_state_dict(init)
    device = pick_device(ctx.config["trainer"]["device"])
    mods = list(run["modalities"])
    train = ctx.samples(split_path, "train", mods)
    val = ctx.samples(split_path, "val", mods)
    loss_cfg = run.get("loss") or {"name": "ce"}
    loss_fn = build_objective(loss_cfg["name"], loss_cfg.get("kwargs"), train, len(ctx.labels))
    spec = fit_spec(ctx, run["epochs"], run.get("select"), run.get("trainer"))
    trained: nn.Module = model if teacher is None else _distiller(model, teacher)
    augment = ctx.augment(run.get("augment"))
    settings = [run, str(split_path), ctx.config["trainer"], None if init is None else "init"]
    result = fit(
        trained,
        loss_fn,
        train,
        spec,
        run_dir / CHECKPOINTS,
        evaluate=classification_evaluator(ctx, val, spec.batch_size),
        augment=augment,
        device=device,
        fingerprint=ctx.fingerprint(*settings),
        desc=run["name"],
    )
    if not distributed.is_main():  # under torchrun only rank 0 evaluates and writes
        return {}
    model.to(device)
    results = evaluate_sets(ctx, model, mods, eval_sets, run_dir, tta=run.get("tta"))
    extra = {
        "study": run.get("study"),
        "run_name": run["name"],
        "row": run.get("row", run["name"]),
        "split": str(split_path),
        "modalities": mods,
        "loss": loss_cfg,
        "tta": run.get("tta"),
        "model_name": run["model"]["name"],
        "distilled": teacher is not None,
    }
    return finish_run(
        ctx,
        run_dir,
        model,
        run["model"],
        result.history,
        results,
        settings,
        device_description(device),
        started,
        t0,
        extra,
    )


def _distiller(student: nn.Module, teacher: nn.Module) -> nn.Module:
    from mmdiag.models.image_text import Distiller

    return Distiller(student, teacher)


def load_model(path: str | Path) -> nn.Module:
    """Rebuild a saved run's model (`model.pt`: state + model_config)."""
    saved = load_checkpoint(path)
    if not isinstance(saved, dict) or not {"state", "model_config"} <= saved.keys():
        raise CheckpointError(f"{path}: not a run's model.pt (needs 'state' and 'model_config'); {rebuild_hint(path)}")
    cfg = dict(saved["model_config"])
    model = build_model(cfg) if "name" in cfg else MODELS.create("tmmnet", **cfg)
    model.load_state_dict(saved["state"])
    return model


def run_all(
    ctx: Context,
    runs: Sequence[Mapping[str, Any]],
    split_path: str | Path,
    eval_sets: Mapping[str, tuple[str | Path, str]],
    out_dir: str | Path,
) -> dict[str, Any]:
    """Train several runs in one process (the 5 s import cost paid once), each in its own resumable folder."""
    out_dir = Path(out_dir)
    return {r["name"]: train_model(ctx, r, split_path, eval_sets, out_dir / r["name"]) for r in runs}
