"""What every trained run leaves behind: weights, history, predictions, metrics, provenance.

The files and their names are `mmdiag.run_folder`'s; this module evaluates a trained model and fills them.
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
from mmdiag.run_folder import (
    CHECKPOINTS,
    HISTORY,
    METRICS,
    MODEL,
    RUN_RECORD,
    predictions_file,
    write_dvc_metrics,
    write_run_plots,
)


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
    n_boot = int(ctx.config["evaluation"]["bootstrap"])
    seed = int(ctx.config["seed"])
    for name, (path, partition) in eval_sets.items():
        samples = ctx.samples(path, partition, modalities)
        with inference_mode(model):
            pred = predict(model, samples, 256, tta=tta)
        pred_csv = run_dir / predictions_file(name)
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
    save_checkpoint(run_dir / MODEL, {"state": model.state_dict(), "model_config": dict(model_config)})
    with atomic_path(run_dir / HISTORY) as tmp:
        pd.DataFrame(list(history)).to_csv(tmp, index=False)
    encoders = [m for m in model.modules() if hasattr(m, "pretrained_status")]
    record = provenance(
        ctx.cache.meta,
        config_hash(settings),
        int(ctx.config["seed"]),
        device,
        started,
        {
            **extra,
            "seconds": round(time.perf_counter() - t0, 2),
            "parameters": sum(p.numel() for p in model.parameters()),
            "pretrained": pretrained_report(encoders),
        },
    )
    write_json(run_dir / RUN_RECORD, record)
    metrics = {"run": record, "eval": dict(results)}
    write_dvc_metrics(run_dir, metrics)  # the flat headline metrics `dvc metrics show/diff` compare
    write_json(run_dir / METRICS, metrics)  # last: it is the rule's declared output
    drop_checkpoints(run_dir)
    return metrics


def drop_checkpoints(run_dir: Path) -> None:
    """Remove a finished run's resume checkpoints (`ckpt/`): `model.pt` holds the final weights, and the
    per-phase best/last states would otherwise double a run's disk use."""
    shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
