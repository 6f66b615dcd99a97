"""Significance of differences between two models on the same test cases (from their prediction files).

Paired tests (McNemar on correctness, DeLong on AUC) assume independent units, but the images (image pairs)
of one case are correlated, just as the bootstrap CIs resample cases rather than images. So the tests run at
case level: each case's class probabilities are the mean over its images, its prediction the argmax of
that mean. Where every image is its own case (MedMNIST) this changes nothing. The statistics themselves are
`mmdiag.eval.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

import mmdiag.data.format as data_format
from mmdiag.eval.metrics import multiclass_metrics
from mmdiag.eval.stats import chi2_test, delong_test, mcnemar_test, two_proportion_z_test


def prob_columns(pred: pd.DataFrame, labels: Sequence[str]) -> list[str]:
    cols = [f"p_{label}" for label in labels]
    missing = [c for c in cols if c not in pred.columns]
    if missing:
        raise ValueError(f"predictions lack probability column(s) {missing}")
    return cols


def case_level(pred: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """One row per case: its label `y` and the mean class probabilities of its images, sorted by case."""
    cols = prob_columns(pred, labels)
    if (pred.groupby("case_id")["y"].nunique() > 1).any():
        raise ValueError("a case has images with different labels")
    out = pred.groupby("case_id", sort=True).agg({"y": "first", **{c: "mean" for c in cols}})
    return out.reset_index()


def _aligned(a: pd.DataFrame, b: pd.DataFrame, labels: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    ca, cb = case_level(a, labels), case_level(b, labels)
    if list(ca["case_id"]) != list(cb["case_id"]):
        only = sorted(set(ca["case_id"]) ^ set(cb["case_id"]))
        raise ValueError(f"the two prediction sets cover different cases (e.g. {only[:5]})")
    if not np.array_equal(ca["y"].to_numpy(), cb["y"].to_numpy()):
        raise ValueError("the two prediction sets disagree on case labels")
    return ca, cb


def _correct(cases: pd.DataFrame, labels: Sequence[str], positive_index: int | None = None) -> np.ndarray:
    """Per case: is the prediction right. Binary with a positive class: P(positive) >= 0.5, the rule of the
    runs' SEN/SPE/Acc and `Acc_case`; otherwise argmax."""
    probs = cases[prob_columns(cases, labels)].to_numpy()
    y = cases["y"].to_numpy()
    if len(labels) == 2 and positive_index is not None:
        pred = np.where(probs[:, positive_index] >= 0.5, positive_index, 1 - positive_index)
        return pred == y
    return probs.argmax(axis=1) == y


def paired_tests(
    model: pd.DataFrame, reference: pd.DataFrame, labels: Sequence[str], positive_index: int | None = None
) -> dict[str, Any]:
    """McNemar (accuracy) and, for binary tasks, DeLong (AUC) of `model` vs `reference`, at case level.

    Returns `n_cases`, `acc_model`, `acc_ref`, the McNemar `b` (only the model right), `c` (only the
    reference right), `mcnemar_p`, `mcnemar_method`, and for binary tasks `auc_model`, `auc_ref`,
    `auc_diff` (model - reference) with its 95% CI `auc_diff_low/high` and `delong_p` (NaN when a class
    has fewer than two cases); for multiclass tasks `auc_model`, `auc_ref` (macro one-vs-rest) and
    `auc_diff`, without a test. A binary case is predicted positive at mean P(positive) >= 0.5, as the runs'
    `Acc_case`; `positive_index` defaults to the last label.
    """
    ca, cb = _aligned(model, reference, labels)
    pos = data_format.positive_index(labels) if positive_index is None else positive_index
    right_a, right_b = _correct(ca, labels, pos), _correct(cb, labels, pos)
    mc = mcnemar_test(right_a, right_b)
    out: dict[str, Any] = {
        "n_cases": len(ca),
        "acc_model": float(right_a.mean()),
        "acc_ref": float(right_b.mean()),
        "mcnemar_b": mc["b"],
        "mcnemar_c": mc["c"],
        "mcnemar_p": mc["p"],
        "mcnemar_method": mc["method"],
    }
    if len(labels) > 2:  # macro one-vs-rest AUC of each (no paired test of multiclass AUCs here)
        y = ca["y"].to_numpy()
        auc_a = multiclass_metrics(y, ca[prob_columns(ca, labels)].to_numpy())["AUC"]
        auc_b = multiclass_metrics(y, cb[prob_columns(cb, labels)].to_numpy())["AUC"]
        out.update(auc_model=auc_a, auc_ref=auc_b, auc_diff=auc_a - auc_b)
    if len(labels) == 2:
        col = f"p_{labels[pos]}"
        y = (ca["y"].to_numpy() == pos).astype(int)
        try:
            d = delong_test(y, ca[col].to_numpy(), cb[col].to_numpy())
            out.update(
                auc_model=d["auc_a"],
                auc_ref=d["auc_b"],
                auc_diff=d["diff"],
                auc_diff_low=d["ci_low"],
                auc_diff_high=d["ci_high"],
                delong_p=d["p"],
            )
        except ValueError:  # fewer than two cases of a class: AUC comparison undefined
            out.update({k: math.nan for k in ("auc_model", "auc_ref", "auc_diff", "auc_diff_low", "auc_diff_high")})
            out["delong_p"] = math.nan
    return out


def proportion_tests(model: pd.DataFrame, reference: pd.DataFrame, labels: Sequence[str]) -> dict[str, Any]:
    """The dual-branch paper's tests of `model` vs `reference`, at case level.

    Two-proportion z-test on accuracy (`z`, `z_p`; the paper's test, which ignores the pairing) and χ² on
    the 2 x C table of correct counts per class (`chi2`, `chi2_dof`, `chi2_p`: do the models' per-class
    results differ).
    """
    ca, cb = _aligned(model, reference, labels)
    right_a, right_b = _correct(ca, labels), _correct(cb, labels)
    n = len(ca)
    z = two_proportion_z_test(int(right_a.sum()), n, int(right_b.sum()), n)
    y = ca["y"].to_numpy()
    counts = [np.bincount(y[r], minlength=len(labels)) for r in (right_a, right_b)]
    try:
        chi = chi2_test(np.vstack(counts))
    except ValueError:  # fewer than two classes with any correct case
        chi = {"chi2": math.nan, "dof": 0, "p": math.nan}
    return {"z": z["z"], "z_p": z["p"], "chi2": chi["chi2"], "chi2_dof": chi["dof"], "chi2_p": chi["p"]}
