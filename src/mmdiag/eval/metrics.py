"""Classification metrics for the papers' tables: SEN/SPE/Acc/AUC (TMM-Net) and macro P/R/F1 + OvR/OvO AUC
(dual-branch), with the task-independent keys every table can show whatever the number of classes:
`Acc`, `Acc_case` (case level, `case_accuracy`), `BAcc` (balanced accuracy), `AUC` (binary: the positive
class; multiclass: macro one-vs-rest) and, for multiclass tasks, `F1_macro` and `SEN/<label>`.

Everything is computed from a confusion matrix (``np.bincount``) and a sort-and-search AUC (one sort per
class), not per-metric scikit-learn calls: the bootstrap in `stats.py` evaluates every metric on ~1000
resamples, and scikit-learn took ~100 ms per call on 7k rows × 9 classes (36 OvO ROC curves) against
~3 ms here. The tests pin each value to scikit-learn's (`accuracy_score`,
`precision_recall_fscore_support`, `f1_score`, `roc_auc_score`, `confusion_matrix`).

Undefined values are NaN, never exceptions, so one degenerate resample (one class only) does not abort a
bootstrap: the bootstrap drops non-finite replicates and counts them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

BINARY_KEYS: tuple[str, ...] = ("SEN", "SPE", "Acc", "AUC", "precision", "recall", "F1", "BAcc")
MULTICLASS_KEYS: tuple[str, ...] = (
    "Acc",
    "precision_macro",
    "recall_macro",
    "F1_macro",
    "AUC_ovr",
    "AUC_ovo",
    "AUC",
    "BAcc",
)
# nested (per-class) entries of `multiclass_metrics`; `flatten_metrics` makes them `<key>/<label>`
MULTICLASS_PER_CLASS: tuple[str, ...] = ("F1_per_class", "SEN")
TASKS: tuple[str, ...] = ("binary", "multiclass")


# --------------------------------------------------------------------------------------------- validation
def _labels(y: Any, n_classes: int, name: str = "y_true") -> np.ndarray:
    """Integer class indices in [0, n_classes); floats pass only when integral (e.g. read from a CSV)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer class indices, got non-integral floats")
        arr = arr.astype(np.int64)
    elif not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} values must lie in [0, {n_classes}), got range [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64, copy=False)


def _scores(s: Any, ndim: int, name: str) -> np.ndarray:
    arr = np.asarray(s, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _same_length(*arrays: np.ndarray) -> None:
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"inputs differ in length: {sorted(lengths)}")


def _ratio(num: float, den: float) -> float:
    """num/den, NaN when the denominator is zero (metric undefined on this sample)."""
    return float(num / den) if den > 0 else math.nan


# ------------------------------------------------------------------------------------------ building blocks
def confusion(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """Confusion matrix ``C[true, pred]`` with every class present, even ones that never occur.

    A fixed shape (unlike sklearn's default, which drops classes absent from both arrays) keeps matrices
    from different folds and models addable and comparable cell by cell.
    """
    t = _labels(y_true, n_classes, "y_true")
    p = _labels(y_pred, n_classes, "y_pred")
    _same_length(t, p)
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _mann_whitney(q: np.ndarray, ref_sorted: np.ndarray) -> float:
    """``P(q > r) + ½·P(q = r)`` over all pairs, for ``ref_sorted`` sorted ascending.

    Two binary searches per query count the strictly-lower and the lower-or-tied references; their mean
    is the midrank count, so this equals the trapezoidal ROC AUC (sklearn's) exactly, ties included,
    in O((n_q + n_r) log n_r) without an n_q × n_r matrix.
    """
    below = np.searchsorted(ref_sorted, q, side="left").sum()
    below_or_tied = np.searchsorted(ref_sorted, q, side="right").sum()
    return float((below + below_or_tied) / (2.0 * len(q) * len(ref_sorted)))


def pairwise_auc(y_true: Any, probs: Any) -> np.ndarray:
    """Class-vs-class AUC matrix ``A[j, k]``: class j against class k, ranked by score column j.

    It is the building block of both multiclass AUCs (Hand & Till 2001): OvO averages ``A[j,k]`` and
    ``A[k,j]``; OvR for class j is the class-size-weighted mean of row j. Entries involving a class
    absent from ``y_true`` are NaN; the diagonal is NaN. Each class's rows are sorted once (all columns
    together), then every entry is two binary searches.
    """
    p = _scores(probs, 2, "probs")
    y = _labels(y_true, p.shape[1], "y_true")
    _same_length(y, p)
    n_classes = p.shape[1]
    present = [k for k in range(n_classes) if np.any(y == k)]
    by_class = {k: np.sort(p[y == k], axis=0) for k in present}
    out = np.full((n_classes, n_classes), math.nan)
    for j in present:
        for k in present:
            if k != j:
                out[j, k] = _mann_whitney(by_class[j][:, j], by_class[k][:, j])
    return out


def binary_auc(y_true: Any, score: Any) -> float:
    """ROC AUC of a 0/1 target; NaN (not an exception) when only one class is present."""
    s = _scores(score, 1, "score")
    y = _labels(y_true, 2, "y_true")
    _same_length(y, s)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    return _mann_whitney(pos, np.sort(neg))


def _ovr_ovo(a: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Macro OvR and OvO AUC from the pairwise matrix, over the classes present in y_true."""
    present = counts > 0
    n = counts.sum()
    filled = np.where(np.isnan(a), 0.0, a)  # NaN only where a class is absent, i.e. weight 0
    ovr = [float(filled[j] @ counts / (n - counts[j])) for j in np.flatnonzero(present) if counts[j] < n]
    idx = np.flatnonzero(present)
    ovo = [(a[j, k] + a[k, j]) / 2.0 for pos, j in enumerate(idx) for k in idx[pos + 1 :]]
    return (float(np.mean(ovr)) if ovr else math.nan, float(np.mean(ovo)) if ovo else math.nan)


# -------------------------------------------------------------------------------------------------- binary
def binary_metrics(y_true: Any, prob_pos: Any, threshold: float = 0.5) -> dict[str, float]:
    """TMM-Net's SEN/SPE/Acc/AUC plus precision/recall/F1 of the positive class (label 1) and BAcc.

    A case is predicted positive when ``prob_pos >= threshold`` (the ROC convention: sklearn's
    ``roc_curve`` thresholds are inclusive). Ratios with a zero denominator are NaN; F1 is
    ``2TP / (2TP + FP + FN)``, so it is 0 (not NaN) when positives exist but none is found. BAcc is the
    mean recall of the classes present in ``y_true`` ((SEN + SPE) / 2 when both are; sklearn's
    ``balanced_accuracy_score``).
    """
    s = _scores(prob_pos, 1, "prob_pos")
    y = _labels(y_true, 2, "y_true")
    _same_length(y, s)
    pred = (s >= threshold).astype(np.int64)
    (tn, fp), (fn, tp) = np.bincount(y * 2 + pred, minlength=4).reshape(2, 2).tolist()
    sen = _ratio(tp, tp + fn)
    return {
        "SEN": sen,
        "SPE": _ratio(tn, tn + fp),
        "Acc": _ratio(tp + tn, len(y)),
        "AUC": binary_auc(y, s),
        "precision": _ratio(tp, tp + fp),
        "recall": sen,
        "F1": _ratio(2 * tp, 2 * tp + fp + fn),
        "BAcc": _nanmean([sen, _ratio(tn, tn + fp)]),
    }


def _nanmean(values: Sequence[float]) -> float:
    """Mean of the defined values; NaN when none is (no warning, unlike ``np.nanmean``)."""
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan


# ---------------------------------------------------------------------------------------------- multiclass
def _label_names(labels: Sequence[str] | None, n_classes: int) -> list[str]:
    if labels is None:
        return [str(i) for i in range(n_classes)]
    names = [str(label) for label in labels]
    if len(names) != n_classes:
        raise ValueError(f"got {len(names)} labels for {n_classes} probability columns")
    if len(set(names)) != len(names):
        raise ValueError(f"labels must be unique, got {names}")
    return names


def multiclass_metrics(y_true: Any, probs: Any, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Acc, macro precision/recall/F1, per-class F1, macro OvR and OvO AUC, BAcc, per-class SEN; argmax.

    Macro averages run over the classes that occur in ``y_true`` or in the predictions, with 0 for a
    0/0 ratio: this is scikit-learn's default (``labels=None, zero_division=0``), i.e. what
    ``classification_report`` prints. A class absent from both gets per-class F1 NaN and is left out.
    AUCs use only the classes present in ``y_true`` (NaN if fewer than two); ``AUC`` is ``AUC_ovr``
    under the task-independent name. ``SEN`` maps each label to its recall (sensitivity), NaN for a class
    absent from ``y_true``; ``BAcc`` is their mean over the present classes (sklearn's
    ``balanced_accuracy_score``), so unlike ``recall_macro`` a class that is only predicted does not
    count.
    """
    p = _scores(probs, 2, "probs")
    n_classes = p.shape[1]
    names = _label_names(labels, n_classes)
    y = _labels(y_true, n_classes, "y_true")
    _same_length(y, p)
    cm = confusion(y, p.argmax(axis=1), n_classes).astype(np.float64)
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    seen = (support + predicted) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(seen, 2 * tp / (support + predicted), math.nan)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    ovr, ovo = _ovr_ovo(pairwise_auc(y, p), counts)
    any_seen = bool(seen.any())
    return {
        "Acc": _ratio(tp.sum(), cm.sum()),
        "precision_macro": float(precision[seen].mean()) if any_seen else math.nan,
        "recall_macro": float(recall[seen].mean()) if any_seen else math.nan,
        "F1_macro": float(f1[seen].mean()) if any_seen else math.nan,
        "F1_per_class": {name: float(v) for name, v in zip(names, f1)},
        "AUC_ovr": ovr,
        "AUC_ovo": ovo,
        "AUC": ovr,
        "BAcc": float(recall[support > 0].mean()) if (support > 0).any() else math.nan,
        "SEN": {name: float(r) if s > 0 else math.nan for name, r, s in zip(names, recall, support)},
    }


# ------------------------------------------------------------------------------------------------ dispatch
def classification_metrics(
    y_true: Any,
    probs: Any,
    task: str,
    positive_index: int = 1,
    labels: Sequence[str] | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Metrics for a model output, dispatched on ``task`` so callers need not know the head's shape.

    For ``'binary'``, ``probs`` is ``[N]`` (P(positive)) or ``[N, 2]`` (column ``positive_index`` is the
    positive class); ``y_true`` holds class indices and a case is positive when it equals
    ``positive_index``. ``labels`` is used by ``'multiclass'`` only.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    p = np.asarray(probs, dtype=np.float64)
    if task == "multiclass":
        return multiclass_metrics(y_true, p, labels)
    if positive_index not in (0, 1):
        raise ValueError(f"positive_index must be 0 or 1 for a binary task, got {positive_index}")
    if p.ndim == 2:
        if p.shape[1] != 2:
            raise ValueError(f"binary probs must be [N] or [N, 2], got shape {p.shape}")
        p = p[:, positive_index]
    y = _labels(y_true, 2, "y_true")
    return binary_metrics((y == positive_index).astype(np.int64), p, threshold)


# ---------------------------------------------------------------------------------------------- case level
def case_index(groups: Any) -> tuple[np.ndarray, np.ndarray]:
    """(inverse, sizes): the case number of every row (cases in sorted id order) and each case's row count."""
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) == 0:
        raise ValueError(f"groups must be a non-empty 1-D array, got shape {g.shape}")
    _, inverse = np.unique(g, return_inverse=True)
    return inverse.ravel(), np.bincount(inverse.ravel())


def case_correct(
    y_true: Any, probs: Any, groups: Any, task: str, positive_index: int = 1, threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per case: is its prediction right, its label and its predicted class, in sorted case-id order.

    A case's class probabilities are the mean over its rows (images or image pairs), the same rule as the
    paired tests; the prediction is taken as at row level (binary: P(positive) >= ``threshold``,
    multiclass: argmax), so with one row per case ``Acc_case`` equals ``Acc``. Rows of one case must
    share a label.
    """
    p = np.asarray(probs, dtype=np.float64)
    n_classes = p.shape[1] if p.ndim == 2 else 2
    y = _labels(y_true, n_classes, "y_true")
    inverse, sizes = case_index(groups)
    _same_length(y, p, inverse)
    # 1-D input is P(positive): make it the positive class's column of a two-column frame
    cols = p if p.ndim == 2 else np.column_stack([1.0 - p, p] if positive_index == 1 else [p, 1.0 - p])
    mean = np.zeros((len(sizes), cols.shape[1]))
    np.add.at(mean, inverse, cols)
    mean /= sizes[:, None]
    labels = np.zeros(len(sizes), dtype=np.int64)
    labels[inverse] = y
    if np.any(labels[inverse] != y):
        raise ValueError("rows of one case have different labels")
    if task == "binary":
        pred = np.where(mean[:, positive_index] >= threshold, positive_index, 1 - positive_index)
    else:
        pred = mean.argmax(axis=1)
    return pred == labels, labels, pred


def case_accuracy(
    y_true: Any, probs: Any, groups: Any, task: str, positive_index: int = 1, threshold: float = 0.5
) -> float:
    """``Acc_case``: the share of cases whose mean class probabilities give the right class (`case_correct`)."""
    return float(case_correct(y_true, probs, groups, task, positive_index, threshold)[0].mean())


def flatten_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """One level of ``name -> float``: nested dicts become ``'<key>/<sub>'`` (e.g. ``'F1_per_class/STR'``).

    Tables, JSON summaries and the bootstrap all want scalar columns.
    """
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            for sub, v in value.items():
                flat[f"{key}/{sub}"] = float(v)
        else:
            flat[key] = float(value)
    return flat


# ---------------------------------------------------------------------------------------------- attributes
def attribute_accuracy(
    y_true: Mapping[str, Any], y_pred: Mapping[str, Any], ignore_index: int = -1
) -> dict[str, float]:
    """Accuracy per lesion attribute and ``'P-Acc'``, their unweighted mean (TMM-Net Table 2), and the
    balanced counterparts ``'<attribute>/BAcc'`` and ``'P-BAcc'``.

    ``y_pred`` values are class indices ``[N]`` or per-class scores ``[N, C]`` (argmax taken). Rows whose
    true label is ``ignore_index`` (attribute not annotated for that case) are skipped; an attribute
    with no annotated rows is NaN and left out of the means, since the paper averages over attributes
    that were scored. Balanced accuracy is the mean recall over the values that occur among the annotated
    rows: attributes are skewed (one value often covers most lesions), and a head that always answers the
    majority value scores its share in P-Acc but ``1 / #values`` in P-BAcc.
    """
    if set(y_true) != set(y_pred):
        raise ValueError(f"attribute names differ: y_true {sorted(y_true)} vs y_pred {sorted(y_pred)}")
    reserved = {"P-Acc", "P-BAcc"} & set(y_true)
    if reserved or any(name.endswith("/BAcc") for name in y_true):
        raise ValueError("'P-Acc', 'P-BAcc' and '<name>/BAcc' are reserved for the means and cannot be attribute names")
    acc: dict[str, float] = {}
    balanced: dict[str, float] = {}
    for name in y_true:
        t = np.asarray(y_true[name])
        pr = np.asarray(y_pred[name])
        if pr.ndim == 2:
            pr = _scores(pr, 2, f"y_pred[{name!r}]").argmax(axis=1)
        if t.ndim != 1 or pr.ndim != 1 or len(t) != len(pr):
            raise ValueError(f"attribute {name!r}: shapes {t.shape} and {pr.shape} do not match")
        keep = t != ignore_index
        tk, pk = t[keep], pr[keep]
        acc[name] = _ratio(float(np.sum(tk == pk)), float(keep.sum()))
        balanced[name] = _nanmean([float(np.mean(pk[tk == v] == v)) for v in np.unique(tk)])
    out = dict(acc)
    out["P-Acc"] = _nanmean(list(acc.values()))
    out.update({f"{name}/BAcc": v for name, v in balanced.items()})
    out["P-BAcc"] = _nanmean(list(balanced.values()))
    return out
