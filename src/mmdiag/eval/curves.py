"""Plot data without plotting: ROC points and confusion pairs from a predictions frame.

Kept free of matplotlib and scikit-learn imports because every training run writes its DVC plot files at
the end (`mmdiag.run_folder.write_run_plots`), and a job should not pay ~2 s of imports for two small CSVs. The
ROC points equal scikit-learn's `roc_curve` without dropping collinear points (tested against it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

import mmdiag.data.format as data_format


def roc_input(
    pred: pd.DataFrame, labels: Sequence[str], positive_index: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(y, score) for a ROC curve from a predictions frame (`y`, `p_<label>` columns).

    Binary: the positive class's probability (`positive_index`, default the last label). Multi-class:
    every (sample, class) pair, one-hot truth against that class's probability (micro-average).
    """
    probs = pred[[f"p_{label}" for label in labels]].to_numpy(dtype=np.float64)
    y = pred["y"].to_numpy(dtype=np.int64)
    if len(labels) == 2:
        pos = data_format.positive_index(labels) if positive_index is None else positive_index
        return (y == pos).astype(np.int64), probs[:, pos]
    onehot = np.eye(len(labels), dtype=np.int64)[y]
    return onehot.ravel(), probs.ravel()


def roc_points(y: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """The ROC curve as `fpr, tpr` rows, one per distinct threshold plus (0, 0); empty with one class only."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return pd.DataFrame({"fpr": [], "tpr": []})
    order = np.argsort(-score, kind="mergesort")
    s, t = score[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # thresholds at each distinct score
    tps = np.cumsum(t)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    return pd.DataFrame({"fpr": np.r_[0.0, fps / n_neg], "tpr": np.r_[0.0, tps / n_pos]})


def macro_roc_points(pred: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """The macro-averaged one-vs-rest ROC curve of a multiclass predictions frame.

    Each present class's one-vs-rest curve is evaluated at every FPR any of them reaches and the TPRs are
    averaged (as scikit-learn's multiclass ROC example does), so the curve goes with the macro one-vs-rest
    AUC the tables report rather than with the micro average. Both ends of every vertical step are kept
    (the TPR just before and at each FPR), so the area under the mean curve is exactly the mean of the
    per-class areas, i.e. the macro AUC.
    """
    probs = pred[[f"p_{label}" for label in labels]].to_numpy(dtype=np.float64)
    y = pred["y"].to_numpy(dtype=np.int64)
    curves = [roc_points(y == k, probs[:, k]) for k in range(len(labels))]
    curves = [(c["fpr"].to_numpy(), c["tpr"].to_numpy()) for c in curves if len(c)]
    if not curves:
        return pd.DataFrame({"fpr": [], "tpr": []})
    grid = np.unique(np.concatenate([x for x, _ in curves]))
    # np.interp at a repeated x returns the last repeat (top of the step); reversed, the first (its bottom)
    below = np.mean([np.interp(-grid, -x[::-1], t[::-1]) for x, t in curves], axis=0)
    at = np.mean([np.interp(grid, x, t) for x, t in curves], axis=0)
    return pd.DataFrame({"fpr": np.repeat(grid, 2), "tpr": np.column_stack([below, at]).ravel()})


def predicted_labels(pred: pd.DataFrame, labels: Sequence[str]) -> np.ndarray:
    """Argmax class index per row of a predictions frame."""
    return pred[[f"p_{label}" for label in labels]].to_numpy().argmax(axis=1)


def confusion_pairs(pred: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """`actual, predicted` label names per sample (what `dvc plots` draws as a confusion matrix)."""
    names = np.asarray(labels, dtype=object)
    return pd.DataFrame({"actual": names[pred["y"].to_numpy()], "predicted": names[predicted_labels(pred, labels)]})
