"""The training loop every model shares.

- Seeded: data order depends only on (seed, epoch); the torch RNG state is checkpointed.
- A checkpoint each epoch (`last.pt`), written atomically; rerun after an interruption resumes
  from it (and says so), giving the same final metrics as an uninterrupted run.
- Best-val selection (`best.pt`), a `done.json` marker once finished (a rerun then just loads).
- Named loss terms: every key ending in `_loss`, from the loss module AND the model outputs
  (e.g. a mixture-of-experts balance term), is summed — a new term never touches this loop.
- Optional mixed precision, gradient accumulation and clipping; a progress bar per epoch.
Under torchrun (rules with gpu > 1) the model is wrapped in DistributedDataParallel, each rank trains on
its shard of the epoch's order and only rank 0 writes (mmdiag.cluster.ddp).
The inner loop does no host synchronisation per step (loss sums stay on device until the epoch
ends), so it costs nearly nothing over a bare PyTorch loop (`bench/run_all.py`, ratio (a)).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from mmdiag.cluster import ddp
from mmdiag.data.batches import Augment, SampleSet
from mmdiag.engine.device import pick_device, to_device
from mmdiag.engine.optim import build_optimizer, build_scheduler
from mmdiag.engine.seed import rng_state, set_rng_state
from mmdiag.io import atomic_path, read_json, write_json
from mmdiag.losses import sum_losses

log = logging.getLogger(__name__)
LossFn = Callable[[dict[str, Tensor], dict[str, Any]], dict[str, Tensor]]
Evaluate = Callable[[nn.Module], dict[str, float]]


@dataclass
class FitSpec:
    """Settings of one `fit` call (one training stage)."""

    epochs: int
    batch_size: int = 32
    optimizer: dict[str, Any] = field(default_factory=lambda: {"name": "sgd", "lr": 1e-3, "momentum": 0.9})
    scheduler: dict[str, Any] = field(default_factory=lambda: {"name": "none"})
    amp: str = "off"  # off | bf16 | fp16
    grad_clip: float | None = None
    accumulate: int = 1
    seed: int = 0
    select: str = "val_acc"  # key of evaluate()'s dict; minimised if it contains "loss"
    sampler: str = "uniform"  # uniform | class_balanced
    drop_last: bool = False
    progress: bool = True
    checkpoint_every_s: float = 60.0  # write the resume checkpoint at most this often; 0 = after every epoch

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


def _better(score: float, best: float | None, minimise: bool) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(score)
    return score < best if minimise else score > best


def _save(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


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
    main = ddp.is_main()
    minimise = "loss" in spec.select

    if done_path.exists() and read_json(done_path).get("fingerprint") == fingerprint:
        done = read_json(done_path)
        model.load_state_dict(torch.load(best_path, map_location=device, weights_only=True))
        if rng_path.exists():  # continue with the RNG state this stage ended with, as an uninterrupted run does
            set_rng_state(torch.load(rng_path, map_location="cpu", weights_only=False))
        log.info("%s: already trained (best epoch %s), loaded %s", desc, done["best_epoch"], best_path)
        return FitResult(done["history"], done["best_epoch"], done["best_score"], None, 0.0)

    params = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
    opt = build_optimizer(params, spec.optimizer)
    sched = build_scheduler(opt, spec.scheduler, spec.epochs)
    use_amp = spec.amp != "off"
    amp_dtype = torch.bfloat16 if spec.amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and spec.amp == "fp16" and device.type == "cuda")

    history: list[dict[str, float]] = []
    best_score: float | None = None
    best_epoch = -1
    best_state: dict[str, Tensor] | None = None
    start = 0
    resumed_from = None
    if last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=False)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if sched is not None and state.get("scheduler") is not None:
                sched.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            set_rng_state(state["rng"])
            history, best_score, best_epoch = state["history"], state["best_score"], state["best_epoch"]
            best_state = state["best_model"]
            start = resumed_from = state["epoch"] + 1
            log.info("%s: resuming from checkpoint %s (epoch %d of %d done)", desc, last_path, start, spec.epochs)
        else:
            log.info("%s: ignoring checkpoint %s written with other settings", desc, last_path)

    net = ddp.wrap_model(model, device)  # the model itself outside torchrun
    shard = (ddp.rank(), ddp.world_size())
    t0 = last_saved = time.perf_counter()
    for epoch in range(start, spec.epochs):
        t_epoch = time.perf_counter()
        model.train()
        sums: dict[str, Tensor] = {}
        seen = 0
        n_batches = train.num_batches(spec.batch_size, spec.drop_last, shard=shard)
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
            mininterval=1.0,
        )
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
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
            bs = int(batch["label"].shape[0])
            seen += bs
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v * bs
        totals = ddp.all_reduce_sum({**sums, "_seen": torch.tensor(float(seen), device=device)})
        seen_all = float(totals.pop("_seen"))
        record: dict[str, float] = {"epoch": epoch, "lr": opt.param_groups[0]["lr"]}
        record.update({f"train_{k}": float(v) / max(seen_all, 1) for k, v in totals.items()})
        record["train_seconds"] = time.perf_counter() - t_epoch
        if evaluate is not None:
            t_eval = time.perf_counter()
            record.update(evaluate(model))
            record["val_seconds"] = time.perf_counter() - t_eval
        score = record.get(spec.select, record["train_loss"])
        if sched is not None:
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched.step(-score if minimise else score)
            else:
                sched.step()
        improved = evaluate is None or _better(score, best_score, minimise)
        if improved:  # every rank evaluated the whole validation set, so all agree on `improved`
            best_score, best_epoch = score, epoch
            best_state = None if evaluate is None else _snapshot(model)  # None: the final weights are best
        history.append(record)
        final = epoch + 1 == spec.epochs
        if main and not final and time.perf_counter() - last_saved >= spec.checkpoint_every_s:
            _save(
                last_path,
                {
                    "model": model.state_dict(),
                    "best_model": best_state,
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
        ddp.barrier()
        shown = ", ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "epoch")
        log.info("%s epoch %d/%d: %s", desc, epoch + 1, spec.epochs, shown)

    if best_state is not None:
        model.load_state_dict(best_state)
    seconds = time.perf_counter() - t0
    if main:
        _save(best_path, model.state_dict())
        _save(rng_path, rng_state())  # what a later stage of the same run continues from
        done = {
            "fingerprint": fingerprint,
            "history": history,
            "best_epoch": best_epoch,
            "best_score": best_score,
            "seconds": seconds,
        }
        write_json(done_path, done)
        last_path.unlink(missing_ok=True)  # optimiser state is dead weight once the stage is done
    ddp.barrier()
    return FitResult(history, best_epoch, best_score, resumed_from, seconds)
