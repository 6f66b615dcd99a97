"""Prediction and metrics for a trained model on one partition of a split.

Inference takes images only unless the model declares `uses_text_at_inference` (the image+report
fusion study): the report is dropped from the batch, which is how "prediction works with no report
at all" is guaranteed rather than assumed.

Metric keys (`metrics.json` -> `eval.<set>.metrics`, and `val_<key>` during training) are those of
`mmdiag.eval.metrics` plus `Acc_case`; `evaluation_warnings` says when a set is too degenerate for its
numbers to mean much (one class, few cases, a model that answers one class for everything).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from mmdiag.data.batches import SampleSet
from mmdiag.engine.device import to_device
from mmdiag.eval.metrics import case_accuracy, case_correct, classification_metrics, flatten_metrics
from mmdiag.eval.stats import bootstrap_metrics

log = logging.getLogger(__name__)
MIN_CASES = 10  # below this many cases an evaluation set is flagged (intervals and ranks are unreliable)


@contextmanager
def inference_mode(model: nn.Module) -> Any:
    """eval() + no_grad, and on TMM-Net only the image-side objectives (class and attributes)."""
    was_training = model.training
    previous = getattr(model, "active", None)
    model.eval()
    if previous is not None:
        model.set_active({"cls", "attr"} if getattr(model, "has_prototypes", False) else {"cls"})
    try:
        with torch.no_grad():
            yield model
    finally:
        if previous is not None:
            model.active = previous
        model.train(was_training)


def predict(
    model: nn.Module,
    samples: SampleSet,
    batch_size: int = 128,
    device: torch.device | None = None,
    tta: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Class probabilities (and attribute probabilities, when the model has them) for every sample."""
    device = device or next(model.parameters()).device
    keep_text = bool(getattr(model, "uses_text_at_inference", False))
    probs, attrs, losses = [], {}, []
    with inference_mode(model):
        for batch in samples.batches(batch_size, shuffle=False):
            if not keep_text:
                batch = {k: v for k, v in batch.items() if k != "text"}
            batch = to_device(batch, device)
            out = model(batch)
            logits = out["logits"].float()
            losses.append(torch.nn.functional.cross_entropy(logits, batch["label"], reduction="sum"))
            if tta:  # mean softmax over geometric views of every image modality (fusion study)
                from mmdiag.models.tta import tta_predict

                def logits_of(images: dict[str, torch.Tensor], b: dict[str, Any] = batch) -> torch.Tensor:
                    return model({**b, "images": images})["logits"]

                probs.append(tta_predict(logits_of, batch["images"], transforms=tuple(tta)).float().cpu())
            else:
                probs.append(logits.softmax(-1).cpu())
            for m, per_attr in (out.get("attr_logits") or {}).items():
                for k, lg in enumerate(per_attr):
                    attrs.setdefault((m, k), []).append(lg.float().softmax(-1).cpu())
    p = torch.cat(probs).numpy() if probs else np.zeros((0, 0))
    return {
        "probs": p,
        "y": samples.y.numpy(),
        "case_ids": samples.case_ids,
        "loss": float(torch.stack(losses).sum() / max(len(samples), 1)) if losses else float("nan"),
        "attr_probs": {key: torch.cat(v).numpy() for key, v in attrs.items()},
    }


def score(pred: Mapping[str, Any], task: str, labels: Sequence[str], positive_index: int = 1) -> dict[str, float]:
    """Headline metrics of a prediction (flat dict of floats), with `Acc_case` right after `Acc`."""
    m = classification_metrics(pred["y"], pred["probs"], task=task, positive_index=positive_index, labels=labels)
    flat = flatten_metrics(m)
    if not len(pred["y"]):
        return flat
    acc_case = case_accuracy(pred["y"], pred["probs"], np.asarray(pred["case_ids"]), task, positive_index)
    out: dict[str, float] = {}
    for key, value in flat.items():
        out[key] = value
        if key == "Acc":
            out["Acc_case"] = acc_case
    return out


def score_with_ci(
    pred: Mapping[str, Any],
    task: str,
    labels: Sequence[str],
    positive_index: int = 1,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Point estimates with 95% bootstrap CIs resampled by case (never by image)."""
    cis = bootstrap_metrics(
        pred["y"],
        pred["probs"],
        np.asarray(pred["case_ids"]),
        task=task,
        n_boot=n_boot,
        seed=seed,
        positive_index=positive_index,
        labels=labels,
    )
    return {k: ci.to_dict() for k, ci in cis.items()}


def evaluation_warnings(
    pred: Mapping[str, Any],
    task: str,
    labels: Sequence[str],
    positive_index: int = 1,
    train_counts: Sequence[int] | None = None,
    where: str = "",
) -> list[str]:
    """One-line warnings about an evaluation set whose numbers should not be read as usual (logged too).

    Flags (C7): only one class in the set, classes absent from it, fewer than `MIN_CASES` cases, a model
    that predicts one class for every case (case level, the rule of `Acc_case`), and, when the training
    partition's class counts are given, classes absent from training. `where` prefixes the log lines
    (e.g. the run folder and set name).
    """
    y = np.asarray(pred["y"])
    out: list[str] = []
    if len(y) == 0:
        out.append("empty evaluation set: no metric is defined")
    else:
        _, case_y, case_pred = case_correct(y, pred["probs"], np.asarray(pred["case_ids"]), task, positive_index)
        present = sorted(set(case_y.tolist()))
        counts = np.bincount(case_y, minlength=len(labels))
        if len(present) == 1:
            out.append(
                f"only one class in the set ({labels[present[0]]!r}, {len(case_y)} cases): "
                "sensitivity/specificity of the other class, AUC and balanced accuracy are undefined or trivial"
            )
        elif len(present) < len(labels):
            absent = ", ".join(repr(labels[k]) for k in range(len(labels)) if counts[k] == 0)
            out.append(f"class(es) absent from the set: {absent} (their sensitivity is undefined)")
        if len(case_y) < MIN_CASES:
            out.append(f"only {len(case_y)} cases (fewer than {MIN_CASES}): intervals and rankings are unreliable")
        predicted = sorted(set(case_pred.tolist()))
        if len(predicted) == 1 and len(labels) > 1:
            out.append(f"the model predicts one class ({labels[predicted[0]]!r}) for every case ({len(case_y)} cases)")
    if train_counts is not None:
        missing = [labels[k] for k, n in enumerate(train_counts) if n == 0]
        if missing:
            out.append(f"class(es) absent from the training partition: {', '.join(map(repr, missing))}")
    for text in out:
        log.warning("%s%s", f"{where}: " if where else "", text)
    return out


def attribute_scores(pred: Mapping[str, Any], samples: SampleSet) -> dict[str, float]:
    """Per-attribute accuracy of the attribute classifiers and their mean (TMM-Net's P-Acc), with the balanced
    counterparts (`<attribute>/BAcc`, `P-BAcc`); cases whose attribute is not annotated (-1) are skipped."""
    if not pred["attr_probs"]:
        return {}
    from mmdiag.eval.metrics import attribute_accuracy

    cols = samples.cache.attribute_columns
    y_true, y_pred = {}, {}
    for (m, k), p in pred["attr_probs"].items():
        name = cols[m][k]
        y_true[name] = samples.attrs[m][:, k].numpy()
        y_pred[name] = p.argmax(1)
    return {k: float(v) for k, v in attribute_accuracy(y_true, y_pred).items()}


def predictions_frame(pred: Mapping[str, Any], samples: SampleSet, labels: Sequence[str]) -> pd.DataFrame:
    """One row per test sample: case, true label, class probabilities, attribute probabilities."""
    df = pd.DataFrame({"case_id": pred["case_ids"], "y": pred["y"]})
    for i, name in enumerate(labels):
        df[f"p_{name}"] = pred["probs"][:, i]
    attrs = samples.cache.meta["dataset"].get("attributes") or {}
    for (m, k), p in pred["attr_probs"].items():
        attr = list(attrs[m])[k]
        for j, value in enumerate(attrs[m][attr]):
            df[f"attr.{m}.{attr}={value}"] = p[:, j]
    for m, rows in samples.rows.items():
        df[f"row_{m}"] = rows.numpy()
    return df
