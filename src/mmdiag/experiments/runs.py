"""What every trained run leaves behind, in one place: weights, history, predictions, metrics, provenance.

Run folder: `model.pt` ({state, model_config}), `history.csv`, `predictions_<set>.csv`, `metrics.json`
({run: provenance, eval: {set: {metrics, ci, attributes, n_samples, n_cases}}}), `run.json`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from mmdiag.config import config_hash
from mmdiag.dvc_yaml import write_dvc_metrics
from mmdiag.engine.checkpoint import save_checkpoint
from mmdiag.experiments.context import Context
from mmdiag.experiments.evaluation import (
    attribute_scores,
    evaluation_warnings,
    inference_mode,
    predict,
    predictions_frame,
    score,
    score_with_ci,
)
from mmdiag.experiments.provenance import provenance
from mmdiag.io import atomic_path, write_json
from mmdiag.models.encoders.timm_image import pretrained_report
from mmdiag.reporting.dvc_plots import write_run_plots


def evaluate_sets(
    ctx: Context,
    model: nn.Module,
    modalities: Sequence[str],
    eval_sets: Mapping[str, tuple[str | Path, str]],
    run_dir: Path,
    tta: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Metrics (point + case-bootstrap CI) and attribute accuracy per evaluation set; predictions to CSV."""
    results: dict[str, Any] = {}
    n_boot = int(ctx.config.get("evaluation", {}).get("bootstrap", 1000))
    seed = int(ctx.config.get("seed", 0))
    for name, (path, partition) in eval_sets.items():
        samples = ctx.samples(path, partition, modalities)
        with inference_mode(model):
            pred = predict(model, samples, 256, tta=tta)
        pred_csv = run_dir / f"predictions_{name}.csv"
        with atomic_path(pred_csv) as tmp:
            predictions_frame(pred, samples, ctx.labels).to_csv(tmp, index=False)
        write_run_plots(run_dir, pred_csv, ctx.labels, ctx.dataset.get("positive_label"))  # DVC plots
        results[name] = {
            "n_samples": len(samples),
            "n_cases": len(set(pred["case_ids"])),
            "metrics": score(pred, ctx.task, ctx.labels, ctx.positive_index),
            "ci": score_with_ci(pred, ctx.task, ctx.labels, ctx.positive_index, n_boot=n_boot, seed=seed),
            "attributes": attribute_scores(pred, samples),
            "warnings": evaluation_warnings(pred, ctx.task, ctx.labels, ctx.positive_index, where=f"{run_dir} {name}"),
        }
    return results


def finish_run(
    ctx: Context,
    run_dir: Path,
    model: nn.Module,
    model_config: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    results: Mapping[str, Any],
    settings: Any,
    device: str,
    started: str,
    t0: float,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """Write weights, history, provenance and metrics of a finished run; returns the metrics record."""
    save_checkpoint(run_dir / "model.pt", {"state": model.state_dict(), "model_config": dict(model_config)})
    with atomic_path(run_dir / "history.csv") as tmp:
        pd.DataFrame(list(history)).to_csv(tmp, index=False)
    encoders = [m for m in model.modules() if hasattr(m, "pretrained_status")]
    record = provenance(
        ctx.cache.meta,
        config_hash(settings),
        int(ctx.config.get("seed", 0)),
        device,
        started,
        {
            **extra,
            "seconds": round(time.perf_counter() - t0, 2),
            "parameters": sum(p.numel() for p in model.parameters()),
            "pretrained": pretrained_report(encoders),
        },
    )
    write_json(run_dir / "run.json", record)
    metrics = {"run": record, "eval": dict(results)}
    write_dvc_metrics(run_dir, metrics)  # the flat headline metrics `dvc metrics show/diff` compare
    write_json(run_dir / "metrics.json", metrics)  # last: it is the rule's declared output
    drop_checkpoints(run_dir)
    return metrics


def drop_checkpoints(run_dir: Path) -> None:
    """Remove a finished run's resume checkpoints (`ckpt/`): `model.pt` holds the final weights, and the
    per-phase best/last states would otherwise double a run's disk use."""
    shutil.rmtree(run_dir / "ckpt", ignore_errors=True)
