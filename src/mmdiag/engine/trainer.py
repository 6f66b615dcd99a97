"""The training loop every model shares.

- Seeded: data order depends only on (seed, epoch); the torch RNG state is checkpointed.
- A checkpoint each epoch (`last.pt`), written atomically; rerun after an interruption resumes
  from it (and says so), giving the same final metrics as an uninterrupted run.
- Best-val selection (`best.pt`), a `done.json` marker once finished (a rerun then just loads).
- Named loss terms: every key ending in `_loss`, from the loss module AND the model outputs
  (e.g. a mixture-of-experts balance term), is summed — a new term never touches this loop.
- Optional mixed precision, gradient accumulation and clipping, LR warm-up (`mmdiag.engine.optim`),
  early stopping on the selection key, and a weight average (`trainer.ema`, `mmdiag.engine.averaging`) that
  is then what gets validated, selected, saved and resumed; a progress bar per epoch.
- Checkpoints load with `weights_only=True` (`mmdiag.engine.checkpoint`). A damaged one heals: an
  unreadable `last.pt` (or `best.pt`/`rng.pt`/`done.json` of a finished stage) is reported with its path,
  moved aside (`<name>.corrupt-<n>`) and the stage trains again from its start, which is exactly where an
  uninterrupted run started it (earlier stages' results are untouched), so the rerun succeeds.
- `spec.select` must be a key the evaluator emits: checked before epoch 0 when the evaluator declares its
  `keys` (see `Evaluator`), else at the first evaluation; never a silent fall-back to the training loss.
Under torchrun (rules with gpu > 1) the model is wrapped in DistributedDataParallel, each rank trains on
its shard of the epoch's order and only rank 0 writes (mmdiag.engine.distributed).
The inner loop does no host synchronisation per step (loss sums stay on device until the epoch
ends), so it costs nearly nothing over a bare PyTorch loop (`bench/run_all.py`, ratio (a)).
"""

from __future__ import annotations

import difflib
import logging
import math
import sys
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm import tqdm

from mmdiag.config.fields import defaults, fill
from mmdiag.config.sections import (
    EarlyStoppingConfig,
    OptimizerConfig,
    PipelineConfig,
    SchedulerConfig,
    TrainerConfig,
)
from mmdiag.data.batches import Augment, SampleSet
from mmdiag.engine import distributed
from mmdiag.engine.averaging import WeightAverage
from mmdiag.engine.checkpoint import load_checkpoint, load_json_input, save_checkpoint, set_aside
from mmdiag.engine.device import pick_device, to_device
from mmdiag.engine.optim import build_optimizer, build_scheduler, build_warmup
from mmdiag.engine.seed import rng_state, set_rng_state
from mmdiag.errors import CheckpointError, ConfigError, CorruptInputError
from mmdiag.io import write_json
from mmdiag.losses import sum_losses

log = logging.getLogger(__name__)
LossFn = Callable[[dict[str, Tensor], dict[str, Any]], dict[str, Tensor]]


class Evaluator(Protocol):
    """Validation metrics of a model, for best-epoch selection and early stopping.

    `keys` (optional attribute) lists the keys it returns, so `fit` can check `spec.select` before epoch 0;
    an evaluator without it is checked at its first call. `declare_keys` attaches it to a plain function.
    """

    def __call__(self, model: nn.Module) -> dict[str, float]: ...


Evaluate = Evaluator | Callable[[nn.Module], dict[str, float]]


def declare_keys(evaluate: Callable[[nn.Module], dict[str, float]], keys: Collection[str]) -> Evaluate:
    """Attach the keys `evaluate` emits (checked against `FitSpec.select` before training)."""
    evaluate.keys = frozenset(keys)  # type: ignore[attr-defined]
    return evaluate


def check_select(select: str, keys: Collection[str], desc: str) -> None:
    """ConfigError unless `select` is one of `keys` (what the evaluator emits), suggesting the closest."""
    if select in keys:
        return
    lower = {k.lower(): k for k in keys}
    close = [lower[k] for k in difflib.get_close_matches(select.lower(), list(lower), n=1, cutoff=0.6)]
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError(
        f"trainer.select: '{select}' is not a validation key of {desc} (it emits: {', '.join(sorted(keys))}){hint}"
    )


def progress_interval(stream: Any) -> float:
    """Seconds between progress-bar updates: 1 on a terminal; 30 into a file (a rule's log), where every update
    is a new line rather than a redraw, so a long job's log stays readable and still shows that it is alive."""
    isatty = getattr(stream, "isatty", None)
    return 1.0 if callable(isatty) and isatty() else 30.0


LAST = "last"  # `select` value: keep the last epoch (validation still evaluated for the curve)


@dataclass
class FitSpec:
    """Settings of one `fit` call (one training stage); each default is the `trainer` section's (`TrainerConfig`)."""

    epochs: int
    batch_size: int = TrainerConfig.batch_size
    optimizer: dict[str, Any] = field(default_factory=lambda: defaults(OptimizerConfig))  # keys left out: defaults
    scheduler: dict[str, Any] = field(default_factory=lambda: defaults(SchedulerConfig))
    amp: str = TrainerConfig.amp  # off | bf16 | fp16
    grad_clip: float | None = TrainerConfig.grad_clip
    accumulate: int = TrainerConfig.accumulate
    seed: int = PipelineConfig.seed
    select: str = TrainerConfig.select  # key of evaluate()'s dict; minimised if it contains "loss"; "last": last epoch
    sampler: str = TrainerConfig.sampler  # uniform | class_balanced
    ema: float | None = TrainerConfig.ema  # decay of the weight average validated and kept (None: off)
    drop_last: bool = TrainerConfig.drop_last
    progress: bool = PipelineConfig.progress
    checkpoint_every_s: float = TrainerConfig.checkpoint_every_s  # resume checkpoint at most this often (0: each epoch)
    # stop when `select` has not improved by more than min_delta for `patience` epochs (None: never)
    early_stopping: dict[str, Any] = field(default_factory=lambda: defaults(EarlyStoppingConfig))

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], **overrides: Any) -> FitSpec:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in cfg.items() if k in known}
        values.update(overrides)
        return cls(**values)


@dataclass
class FitResult:
    history: list[dict[str, float]]
    best_epoch: int
    best_score: float | None
    resumed_from: int | None
    seconds: float
    stopped_early: bool = False


def _better(score: float, best: float | None, minimise: bool, delta: float = 0.0) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(score)
    return score < best - delta if minimise else score > best + delta


def _heal(paths: Iterable[Path], why: str, desc: str, main: bool) -> None:
    """Report a damaged checkpoint, move it (and the files that go with it) aside; the stage then starts over."""
    moved = [f"{p.name} -> {set_aside(p).name}" for p in paths if main and p.exists()]
    log.warning("%s: %s; set aside (%s); training this stage from its start", desc, why, ", ".join(moved) or "-")


def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    """A detached copy of the weights (memory copy, no disk): the best epoch's, written once at the end."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train: SampleSet,
    spec: FitSpec,
    ckpt_dir: str | Path,
    evaluate: Evaluate | None = None,
    params: Iterable[nn.Parameter] | None = None,
    augment: Augment | None = None,
    device: torch.device | None = None,
    fingerprint: str = "",
    desc: str = "train",
) -> FitResult:
    """Train `model` for `spec.epochs`, resuming from `ckpt_dir` when a matching checkpoint exists.

    On return the model holds the best-val weights (the last epoch's when `evaluate` is None).
    Disk writes cost real time on short epochs, so the best weights are kept in memory and written once
    when the stage ends (`best.pt`), and the resume checkpoint (`last.pt`: weights, optimiser, RNG, best
    weights) at most every `spec.checkpoint_every_s` seconds, never after the final epoch (the stage's
    `done.json` supersedes it). A killed job loses at most that much training and resumes exactly.
    """
    ckpt_dir = Path(ckpt_dir)
    device = device or pick_device()
    model.to(device)
    done_path, last_path, best_path = ckpt_dir / "done.json", ckpt_dir / "last.pt", ckpt_dir / "best.pt"
    rng_path = ckpt_dir / "rng.pt"
    main = distributed.is_main()
    keep_last = spec.select == LAST  # evaluate every epoch for the curve, keep the final weights
    minimise = keep_last or "loss" in spec.select
    declared = getattr(evaluate, "keys", None) if evaluate is not None and not keep_last else None
    if declared is not None:
        check_select(spec.select, declared, desc)
    stopping = fill(EarlyStoppingConfig, spec.early_stopping)
    patience = stopping.patience
    min_delta = float(stopping.min_delta or 0.0)
    if patience is not None and evaluate is None:
        log.info("%s: no validation set, so no early stopping (all %d epochs run)", desc, spec.epochs)
        patience = None

    finished = _load_finished(model, ckpt_dir, fingerprint, device, desc, main) if done_path.exists() else None
    if finished is not None:
        return finished

    params = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
    use_amp = spec.amp != "off"
    amp_dtype = torch.bfloat16 if spec.amp == "bf16" else torch.float16

    def fresh() -> tuple[torch.optim.Optimizer, Any, torch.amp.GradScaler]:
        opt = build_optimizer(params, spec.optimizer)
        scaler = torch.amp.GradScaler(device.type, enabled=use_amp and spec.amp == "fp16" and device.type == "cuda")
        return opt, build_scheduler(opt, spec.scheduler, spec.epochs), scaler

    opt, sched, scaler = fresh()
    shard = (distributed.rank(), distributed.world_size())
    n_batches = train.num_batches(spec.batch_size, spec.drop_last, shard=shard)
    warmup = build_warmup(spec.scheduler, math.ceil(n_batches / spec.accumulate))

    history: list[dict[str, Any]] = []
    best_score: float | None = None
    best_epoch = -1
    best_state: dict[str, Tensor] | None = None
    start = 0
    resumed_from = None
    averaged = WeightAverage(model, spec.ema) if spec.ema else None  # validated and kept instead of `model`
    if last_path.exists():
        try:
            state = load_checkpoint(last_path, map_location=device, hint="")
        except CheckpointError as exc:
            _heal([last_path], str(exc), desc, main)
            state = None
        if state is not None and not (isinstance(state, dict) and "fingerprint" in state):
            _heal([last_path], f"{last_path}: not a resume checkpoint of this engine", desc, main)
            state = None
        if state is not None and state.get("fingerprint") == fingerprint:
            before, rng_before = _snapshot(model), rng_state()
            try:
                model.load_state_dict(state["model"])
                opt.load_state_dict(state["optimizer"])
                if sched is not None and state.get("scheduler") is not None:
                    sched.load_state_dict(state["scheduler"])
                scaler.load_state_dict(state["scaler"])
                set_rng_state(state["rng"])
                if averaged is not None:
                    averaged.load_state_dict(state["ema"])
                history, best_score, best_epoch = list(state["history"]), state["best_score"], state["best_epoch"]
                best_state = state["best_model"]
                start = resumed_from = int(state["epoch"]) + 1
                log.info("%s: resuming from checkpoint %s (epoch %d of %d done)", desc, last_path, start, spec.epochs)
            except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
                model.load_state_dict(before)  # undo a partial restore: the stage starts from where it began
                set_rng_state(rng_before)
                opt, sched, scaler = fresh()
                averaged = WeightAverage(model, spec.ema) if spec.ema else None
                history, best_score, best_epoch, best_state = [], None, -1, None
                _heal([last_path], f"{last_path}: not a resume checkpoint of this engine ({exc!r})", desc, main)
        elif state is not None:
            log.info("%s: ignoring checkpoint %s written with other settings", desc, last_path)

    net = distributed.wrap_model(model, device)  # the model itself outside torchrun
    # early stopping: epochs since `select` last improved by more than min_delta on `reference`, the score of
    # that epoch (as Keras: a slow creep of small gains does not reset the count); both follow from the history
    bad_epochs = int(history[-1].get("bad_epochs", 0)) if history and patience is not None else 0
    reference = next((h[spec.select] for h in reversed(history) if h.get("bad_epochs") == 0), None)
    stopped = False
    kept = averaged.module if averaged is not None else model  # the weights validated, selected and saved
    t0 = last_saved = time.perf_counter()
    for epoch in range(start, spec.epochs):
        t_epoch = time.perf_counter()
        model.train()
        sums: dict[str, Tensor] = {}
        seen = 0
        batches = train.batches(
            spec.batch_size,
            epoch=epoch,
            seed=spec.seed,
            shuffle=True,
            drop_last=spec.drop_last,
            sampler=spec.sampler,
            augment=augment,
            shard=shard,
        )
        bar = tqdm(
            batches,
            total=n_batches,
            desc=f"{desc} {epoch + 1}/{spec.epochs}",
            disable=not (spec.progress and main),
            leave=False,
            mininterval=progress_interval(sys.stderr),
        )
        base_lrs = [g["lr"] for g in opt.param_groups]  # what the epoch-level schedule set
        step = epoch * math.ceil(n_batches / spec.accumulate)  # optimiser steps before this epoch
        warming = warmup is not None and step < warmup.steps
        opt.zero_grad(set_to_none=True)
        for i, batch in enumerate(bar):
            batch = to_device(batch, device)
            ctx = torch.autocast(device.type, dtype=amp_dtype) if use_amp else nullcontext()
            with ctx:
                outputs = net(batch)
                total, terms = sum_losses(loss_fn(outputs, batch), outputs)
            scaler.scale(total / spec.accumulate).backward()
            if (i + 1) % spec.accumulate == 0 or i + 1 == n_batches:
                if spec.grad_clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, spec.grad_clip)
                if warming:  # host-side arithmetic only: no device synchronisation
                    f = warmup.factor(step)
                    for g, base in zip(opt.param_groups, base_lrs):
                        g["lr"] = base * f
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
                step += 1
                if averaged is not None:
                    averaged.update(model)
            bs = int(batch["label"].shape[0])
            seen += bs
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v * bs
        totals = distributed.all_reduce_sum({**sums, "_seen": torch.tensor(float(seen), device=device)})
        seen_all = float(totals.pop("_seen"))
        record: dict[str, Any] = {"epoch": epoch, "lr": opt.param_groups[0]["lr"]}  # the last step's rate
        if warming:  # the schedule continues from its own rate, not the warmed-up one
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base
        record.update({f"train_{k}": float(v) / max(seen_all, 1) for k, v in totals.items()})
        record["train_seconds"] = time.perf_counter() - t_epoch
        if evaluate is not None:
            t_eval = time.perf_counter()
            values = evaluate(kept)
            if declared is None and epoch == start and not keep_last:
                check_select(spec.select, values.keys(), desc)
            record.update(values)
            record["val_seconds"] = time.perf_counter() - t_eval
            score = float(record.get("val_loss", record["train_loss"]) if keep_last else record[spec.select])
        else:
            score = record["train_loss"]  # no validation: the last epoch is kept; a plateau schedule steps on this
        if sched is not None:
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched.step(-score if minimise else score)
            else:
                sched.step()
        if patience is not None:
            if _better(score, reference, minimise, min_delta):
                bad_epochs, reference = 0, score
            else:
                bad_epochs += 1
            stopped = bad_epochs >= patience and epoch + 1 < spec.epochs
            record["bad_epochs"] = bad_epochs
            record["stopped_early"] = stopped
        improved = evaluate is None or keep_last or _better(score, best_score, minimise)
        if improved:  # every rank evaluated the whole validation set, so all agree on `improved`
            best_score, best_epoch = score, epoch
            best_state = None if evaluate is None or keep_last else _snapshot(kept)  # None: the final weights
        history.append(record)
        final = epoch + 1 == spec.epochs or stopped
        if main and not final and time.perf_counter() - last_saved >= spec.checkpoint_every_s:
            save_checkpoint(
                last_path,
                {
                    "model": model.state_dict(),
                    "best_model": best_state,
                    "ema": averaged.state_dict() if averaged is not None else None,
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "scaler": scaler.state_dict(),
                    "rng": rng_state(),
                    "epoch": epoch,
                    "history": history,
                    "best_score": best_score,
                    "best_epoch": best_epoch,
                    "fingerprint": fingerprint,
                },
            )
            last_saved = time.perf_counter()
        distributed.barrier()
        shown = ", ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "epoch" and not isinstance(v, bool))
        log.info("%s epoch %d/%d: %s", desc, epoch + 1, spec.epochs, shown)
        if stopped:
            log.info(
                "%s: early stop after epoch %d: %s not improved by more than %g for %d epochs (best epoch %d)",
                desc, epoch + 1, spec.select, min_delta, patience, best_epoch + 1,
            )  # fmt: skip
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    elif averaged is not None:
        model.load_state_dict(averaged.module.state_dict())
    seconds = time.perf_counter() - t0
    if main:
        save_checkpoint(best_path, model.state_dict())
        save_checkpoint(rng_path, rng_state())  # what a later stage of the same run continues from
        done = {
            "fingerprint": fingerprint,
            "history": history,
            "best_epoch": best_epoch,
            "best_score": best_score,
            "seconds": seconds,
            "stopped_early": stopped,
        }
        write_json(done_path, done)
        last_path.unlink(missing_ok=True)  # optimiser state is dead weight once the stage is done
    distributed.barrier()
    return FitResult(history, best_epoch, best_score, resumed_from, seconds, stopped)


def _load_finished(
    model: nn.Module, ckpt_dir: Path, fingerprint: str, device: torch.device, desc: str, main: bool
) -> FitResult | None:
    """The result of a stage that already finished with these settings, its best weights loaded, or None.

    A damaged `done.json`, `best.pt` or `rng.pt` is set aside (None: the stage trains again from its start).
    """
    done_path, best_path, rng_path = ckpt_dir / "done.json", ckpt_dir / "best.pt", ckpt_dir / "rng.pt"
    files = [done_path, best_path, rng_path]
    try:
        done = load_json_input(done_path)
    except CorruptInputError as exc:
        _heal(files, str(exc).split("; rebuild")[0], desc, main)
        return None
    if not isinstance(done, dict):
        _heal(files, f"{done_path}: not a stage marker ({type(done).__name__})", desc, main)
        return None
    if done.get("fingerprint") != fingerprint:
        return None  # other settings: trained again and overwritten
    before, rng_before = _snapshot(model), rng_state()
    try:
        model.load_state_dict(load_checkpoint(best_path, map_location=device, hint=""))
        if rng_path.exists():  # continue with the RNG state this stage ended with, as an uninterrupted run does
            set_rng_state(load_checkpoint(rng_path, map_location="cpu", hint=""))
        result = FitResult(
            done["history"], done["best_epoch"], done["best_score"], None, 0.0, bool(done.get("stopped_early"))
        )
    except (CheckpointError, KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        model.load_state_dict(before)
        set_rng_state(rng_before)
        _heal(files, str(exc), desc, main)
        return None
    log.info("%s: already trained (best epoch %s), loaded %s", desc, done["best_epoch"], best_path)
    return result
