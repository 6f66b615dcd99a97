"""`mmdiag.experiments.evaluation`: the metric keys a run records (C7) and the degenerate-set warnings."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from mmdiag.eval.metrics import binary_metrics, multiclass_metrics
from mmdiag.experiments.evaluation import MIN_CASES, evaluation_warnings, score, score_with_ci

LABELS = ["non_gist", "gist"]
LABELS5 = ["a", "b", "c", "d", "e"]


def _binary_pred(n_cases: int = 30, per_case: int = 2, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_cases) % 2, per_case)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.25, len(y)), 0.01, 0.99)
    return {"y": y, "probs": np.column_stack([1 - p, p]), "case_ids": [f"c{i // per_case:03d}" for i in range(len(y))]}


def _multiclass_pred(n: int = 100, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 5
    logits = rng.normal(size=(n, 5))
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return {"y": y, "probs": p, "case_ids": [f"m{i:03d}" for i in range(n)]}


def test_binary_scores_keep_every_old_key_and_value() -> None:
    pred = _binary_pred()
    m = score(pred, "binary", LABELS, 1)
    old = binary_metrics(pred["y"], pred["probs"][:, 1])
    assert {k: m[k] for k in ("SEN", "SPE", "Acc", "AUC", "precision", "recall", "F1")} == {
        k: old[k] for k in ("SEN", "SPE", "Acc", "AUC", "precision", "recall", "F1")
    }
    assert list(m)[:4] == ["SEN", "SPE", "Acc", "Acc_case"]
    assert m["BAcc"] == pytest.approx((m["SEN"] + m["SPE"]) / 2)
    mean = pred["probs"][:, 1].reshape(-1, 2).mean(1)
    assert m["Acc_case"] == pytest.approx(float(((mean >= 0.5) == pred["y"][::2]).mean()))
    ci = score_with_ci(pred, "binary", LABELS, 1, n_boot=50)
    assert set(ci) == set(m)
    assert ci["Acc_case"]["point"] == m["Acc_case"] and ci["Acc_case"]["low"] <= m["Acc_case"] <= ci["Acc_case"]["high"]


def test_multiclass_scores_have_macro_auc_bacc_and_per_class_sensitivity() -> None:
    pred = _multiclass_pred()
    m = score(pred, "multiclass", LABELS5)
    ref = multiclass_metrics(pred["y"], pred["probs"], LABELS5)
    assert m["AUC"] == ref["AUC_ovr"] and m["F1_macro"] == ref["F1_macro"] and m["BAcc"] == ref["BAcc"]
    assert [m[f"SEN/{c}"] for c in LABELS5] == [ref["SEN"][c] for c in LABELS5]
    assert m["Acc_case"] == m["Acc"]  # one image per case
    assert "SPE" not in m
    ci = score_with_ci(pred, "multiclass", LABELS5, n_boot=30)
    assert {"AUC", "BAcc", "F1_macro", "Acc_case", "SEN/c"} <= set(ci)


def test_validation_keys_are_every_scalar_metric() -> None:
    """`val_<key>` for best-epoch selection (C7): all values are plain floats."""
    m = score(_multiclass_pred(), "multiclass", LABELS5)
    assert all(isinstance(v, float) and np.isscalar(v) for v in m.values())


# ------------------------------------------------------------------------------------------------ warnings
def test_a_healthy_set_has_no_warning() -> None:
    assert evaluation_warnings(_binary_pred(), "binary", LABELS, 1) == []


def test_one_class_set_is_flagged_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    pred = _binary_pred(30)
    keep = pred["y"] == 0
    neg = {"y": pred["y"][keep], "probs": pred["probs"][keep], "case_ids": list(np.asarray(pred["case_ids"])[keep])}
    with caplog.at_level(logging.WARNING, logger="mmdiag.experiments.evaluation"):
        out = evaluation_warnings(neg, "binary", LABELS, 1, where="runs/x single_centre")
    assert any(w.startswith("only one class in the set ('non_gist', 15 cases)") for w in out)
    assert "runs/x single_centre: only one class" in caplog.text
    m = score(neg, "binary", LABELS, 1)
    assert math.isnan(m["SEN"]) and math.isnan(m["AUC"])


def test_few_cases_and_one_class_predictions_are_flagged() -> None:
    n = MIN_CASES - 1
    pred = {"y": np.arange(n) % 2, "probs": np.tile([0.8, 0.2], (n, 1)), "case_ids": [f"c{i}" for i in range(n)]}
    out = evaluation_warnings(pred, "binary", LABELS, 1)
    assert f"only {n} cases (fewer than {MIN_CASES}): intervals and rankings are unreliable" in out
    assert f"the model predicts one class ('non_gist') for every case ({n} cases)" in out
    assert len(out) == 2


def test_absent_classes_in_test_and_training() -> None:
    pred = _multiclass_pred()
    keep = pred["y"] != 4
    sub = {"y": pred["y"][keep], "probs": pred["probs"][keep], "case_ids": list(np.asarray(pred["case_ids"])[keep])}
    out = evaluation_warnings(sub, "multiclass", LABELS5, train_counts=[10, 10, 0, 10, 10])
    assert "class(es) absent from the set: 'e' (their sensitivity is undefined)" in out
    assert "class(es) absent from the training partition: 'c'" in out
    assert math.isnan(score(sub, "multiclass", LABELS5)["SEN/e"])
