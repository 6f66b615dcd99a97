"""Uncertainty and significance: grouped bootstrap CIs, DeLong AUC tests, McNemar, z- and χ²-tests.

Rows (image pairs) of one case are correlated, so the bootstrap resamples cases (``groups``) and takes
all rows of each drawn case; resampling rows would treat 3,903 pairs of 228 cases as independent and
give intervals that are far too narrow. DeLong follows Sun & Xu (2014), "Fast implementation of
DeLong's algorithm for comparing the areas under correlated ROC curves", IEEE SPL 21(11):1389-1393.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mmdiag.eval.metrics import (
    _labels,
    _same_length,
    _scores,
    case_correct,
    case_index,
    classification_metrics,
    flatten_metrics,
)


def _sps() -> Any:
    """scipy.stats, imported on first use: it costs ~0.6 s and every training job imports this module
    for the bootstrap, which needs only numpy."""
    from scipy import stats

    return stats


@dataclass(frozen=True)
class CI:
    """A point estimate with a percentile bootstrap interval.

    ``n_boot_valid`` counts the replicates where the metric was defined (finite); the others (e.g. AUC
    on a resample with one class) were skipped, and a low count says the interval is unreliable.
    """

    point: float
    low: float
    high: float
    n_boot_valid: int
    n_boot: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict for JSON/CSV output."""
        return asdict(self)


# ------------------------------------------------------------------------------------------------ bootstrap
def bootstrap_indices(groups: Any, n_boot: int = 1000, seed: int = 0) -> Iterator[np.ndarray]:
    """Yield ``n_boot`` row-index arrays, each made of G groups drawn with replacement (G = #groups).

    Every drawn group contributes all of its rows, so a group drawn twice appears twice. Built with one
    ``np.repeat`` per replicate (a ragged gather), no per-group Python loop and no data copies.
    """
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) == 0:
        raise ValueError(f"groups must be a non-empty 1-D array, got shape {g.shape}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    _, inverse = np.unique(g, return_inverse=True)
    order = np.argsort(inverse, kind="stable")  # rows sorted by group
    sizes = np.bincount(inverse)
    starts = np.cumsum(sizes) - sizes
    n_groups = len(sizes)
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        drawn = rng.integers(0, n_groups, size=n_groups)
        drawn_sizes = sizes[drawn]
        # position k of the output belongs to drawn group i: starts[drawn[i]] + (k - first output pos of i)
        shift = starts[drawn] - (np.cumsum(drawn_sizes) - drawn_sizes)
        yield order[np.repeat(shift, drawn_sizes) + np.arange(drawn_sizes.sum())]


def _percentile_ci(point: float, values: np.ndarray, alpha: float, n_boot: int) -> CI:
    valid = values[np.isfinite(values)]
    if valid.size == 0:
        return CI(float(point), math.nan, math.nan, 0, n_boot)
    low, high = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
    return CI(float(point), float(low), float(high), int(valid.size), n_boot)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def bootstrap_ci(
    metric_fn: Callable[[np.ndarray], float],
    groups: Any,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> CI:
    """Percentile CI of ``metric_fn(row_indices)`` under resampling of groups (cases).

    ``metric_fn`` receives an integer index array into the caller's own arrays (so nothing is copied
    here) and returns a float; a non-finite return marks the replicate as undefined and it is skipped.
    The point estimate is ``metric_fn`` on all rows. For row-level resampling pass
    ``groups=np.arange(n)``.
    """
    _check_alpha(alpha)
    n_rows = len(np.asarray(groups))
    point = float(metric_fn(np.arange(n_rows)))
    values = np.fromiter(
        (metric_fn(idx) for idx in bootstrap_indices(groups, n_boot, seed)), dtype=np.float64, count=n_boot
    )
    return _percentile_ci(point, values, alpha, n_boot)


def bootstrap_metrics(
    y_true: Any,
    probs: Any,
    groups: Any | None,
    task: str,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    positive_index: int = 1,
    labels: Sequence[str] | None = None,
    threshold: float = 0.5,
) -> dict[str, CI]:
    """Grouped-bootstrap CIs for every headline metric of ``classification_metrics`` at once.

    All metrics share the same replicates (one metric pass per replicate), so their intervals are
    mutually consistent. Keys are those of `flatten_metrics` (per-class F1 as ``'F1_per_class/<label>'``),
    plus ``'Acc_case'`` when ``groups`` is given: every drawn case brings all of its rows, so a case's
    correctness is fixed and a replicate's case accuracy is the mean over the drawn cases, computed from
    per-row weights 1/(rows of its case) without re-grouping. ``groups=None`` resamples rows.
    """
    _check_alpha(alpha)
    y = np.asarray(y_true)
    p = np.asarray(probs, dtype=np.float64)
    _same_length(y, p)
    g = np.arange(len(y)) if groups is None else np.asarray(groups)
    _same_length(y, g)
    weight = right = None
    if groups is not None:
        inverse, sizes = case_index(g)
        correct = case_correct(y, p, g, task, positive_index, threshold)[0]
        weight, right = 1.0 / sizes[inverse], correct[inverse].astype(np.float64)

    def run(idx: np.ndarray | None) -> dict[str, float]:
        yy, pp = (y, p) if idx is None else (y[idx], p[idx])
        out = flatten_metrics(classification_metrics(yy, pp, task, positive_index, labels, threshold))
        if weight is not None:
            w, r = (weight, right) if idx is None else (weight[idx], right[idx])
            out["Acc_case"] = float(w @ r / w.sum())
        return out

    point = run(None)
    keys = list(point)
    values = np.empty((n_boot, len(keys)))
    for b, idx in enumerate(bootstrap_indices(g, n_boot, seed)):
        rep = run(idx)
        values[b] = [rep[k] for k in keys]
    return {k: _percentile_ci(point[k], values[:, i], alpha, n_boot) for i, k in enumerate(keys)}


# --------------------------------------------------------------------------------------------------- DeLong
def _delong_components(y_true: Any, scores: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs ``[k]`` and their DeLong covariance ``[k, k]`` for k score vectors on the same cases.

    Sun & Xu (2014): with midranks over all cases (tz), over positives only (tx) and negatives only (ty),
    the placement values are ``V10 = (tz_pos - tx) / n`` and ``V01 = 1 - (tz_neg - ty) / m`` and
    ``S = cov(V10) / m + cov(V01) / n`` (m positives, n negatives): O(N log N), no m×n matrix.
    """
    y = _labels(y_true, 2, "y_true")
    rows = [_scores(x, 1, "scores") for x in scores]
    _same_length(y, *rows)
    s = np.vstack(rows)
    pos, neg = s[:, y == 1], s[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"DeLong needs at least 2 positives and 2 negatives, got {m} and {n}")
    rankdata = _sps().rankdata
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.hstack([pos, neg]), axis=1)
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


def delong_auc_ci(y_true: Any, scores: Any, alpha: float = 0.05) -> dict[str, float]:
    """AUC with its DeLong standard error and normal CI ``auc ± z·se``, clipped to [0, 1] as pROC does.

    Returns ``auc, se, low, high``. Higher scores must mean the positive class (label 1).
    """
    _check_alpha(alpha)
    aucs, cov = _delong_components(y_true, [scores])
    auc, se = float(aucs[0]), math.sqrt(max(float(cov[0, 0]), 0.0))
    half = float(_sps().norm.ppf(1.0 - alpha / 2.0)) * se
    return {"auc": auc, "se": se, "low": max(0.0, auc - half), "high": min(1.0, auc + half)}


def _z_score(diff: float, se: float) -> float:
    """diff/se; with se = 0, 0 for no difference (pROC's rule for identical curves) else ±inf."""
    if se > 0:
        return diff / se
    return 0.0 if diff == 0 else math.copysign(math.inf, diff)


def delong_test(y_true: Any, scores_a: Any, scores_b: Any, alpha: float = 0.05) -> dict[str, float]:
    """Paired two-sided DeLong test of AUC(a) = AUC(b) for two models scored on the same cases.

    Returns ``auc_a, auc_b, diff (a - b), se, z, p`` and the normal CI of the difference
    (``ci_low, ci_high``), as pROC's ``roc.test(..., method="delong", paired=TRUE)``. Identical
    predictors (se = 0, diff = 0) give z = 0, p = 1, like pROC.
    """
    _check_alpha(alpha)
    aucs, cov = _delong_components(y_true, [scores_a, scores_b])
    diff = float(aucs[0] - aucs[1])
    se = math.sqrt(max(float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]), 0.0))
    z = _z_score(diff, se)
    half = float(_sps().norm.ppf(1.0 - alpha / 2.0)) * se
    return {
        "auc_a": float(aucs[0]),
        "auc_b": float(aucs[1]),
        "diff": diff,
        "se": se,
        "z": z,
        "p": float(2.0 * _sps().norm.sf(abs(z))),
        "ci_low": diff - half,
        "ci_high": diff + half,
    }


# -------------------------------------------------------------------------------------- paired and 2-sample
def mcnemar_from_counts(b: int, c: int, exact: bool | None = None) -> dict[str, Any]:
    """McNemar's test from the discordant counts (b: only A correct, c: only B correct).

    ``exact=None`` picks the exact binomial test when ``b + c < 25`` (the usual rule for when the χ²
    approximation is poor), else χ² with continuity correction ``(|b-c| - 1)² / (b+c)`` as in R's
    ``mcnemar.test`` and statsmodels. The exact statistic is ``min(b, c)`` (statsmodels' convention).
    """
    if b < 0 or c < 0:
        raise ValueError(f"counts must be non-negative, got b={b}, c={c}")
    b, c = int(b), int(c)
    n = b + c
    use_exact = n < 25 if exact is None else exact
    if n == 0:
        return {"b": b, "c": c, "statistic": 0.0, "p": 1.0, "method": "exact" if use_exact else "chi2"}
    if use_exact:
        stat = float(min(b, c))
        p = min(1.0, 2.0 * float(_sps().binom.cdf(min(b, c), n, 0.5)))
        return {"b": b, "c": c, "statistic": stat, "p": p, "method": "exact"}
    stat = (abs(b - c) - 1.0) ** 2 / n
    return {"b": b, "c": c, "statistic": stat, "p": float(_sps().chi2.sf(stat, 1)), "method": "chi2"}


def mcnemar_test(correct_a: Any, correct_b: Any, exact: bool | None = None) -> dict[str, Any]:
    """McNemar's test for two models' per-case correctness on the same test cases (paired accuracy).

    Unlike the two-proportion z-test, it uses the pairing: only cases where exactly one model is
    right carry information. Returns ``b, c, statistic, p, method``.
    """
    a = np.asarray(correct_a)
    bb = np.asarray(correct_b)
    if a.ndim != 1 or bb.ndim != 1:
        raise ValueError("correct_a and correct_b must be 1-D")
    _same_length(a, bb)
    for name, arr in (("correct_a", a), ("correct_b", bb)):
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must be boolean or 0/1")
    a, bb = a.astype(bool), bb.astype(bool)
    return mcnemar_from_counts(int(np.sum(a & ~bb)), int(np.sum(~a & bb)), exact)


def two_proportion_z_test(k1: int, n1: int, k2: int, n2: int) -> dict[str, float]:
    """Pooled two-sided z-test of p1 = p2 (the dual-branch paper's test on accuracy).

    ``z = (p1 - p2) / sqrt(p̂(1-p̂)(1/n1 + 1/n2))`` with ``p̂ = (k1+k2)/(n1+n2)``. It assumes independent
    samples; for two models on the same test set `mcnemar_test` is the paired alternative. A pooled
    proportion of 0 or 1 (no variation) gives z = 0, p = 1.
    """
    if n1 <= 0 or n2 <= 0 or not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError(f"need 0 <= k <= n and n > 0, got k1={k1}, n1={n1}, k2={k2}, n2={n2}")
    p1, p2 = k1 / n1, k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    z = (p1 - p2) / se if se > 0 else 0.0
    return {"z": z, "p": float(2.0 * _sps().norm.sf(abs(z))), "p1": p1, "p2": p2, "diff": p1 - p2}


def chi2_test(table: Any, correction: bool = True) -> dict[str, Any]:
    """Pearson χ² test of independence on a contingency table (``scipy.stats.chi2_contingency``).

    Used on per-class results (e.g. models × classes of correct counts). All-zero rows and columns are
    dropped first: they carry no information, and their zero expected counts would make scipy fail.
    ``correction`` is Yates' and applies only when dof = 1 (scipy's rule). Returns ``chi2, dof, p``.
    """
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"table must be 2-D, got shape {t.shape}")
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError("table must hold finite non-negative counts")
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        raise ValueError(f"need at least 2 non-empty rows and columns, got {t.shape} after dropping empties")
    res = _sps().chi2_contingency(t, correction=correction)
    return {"chi2": float(res.statistic), "dof": int(res.dof), "p": float(res.pvalue)}
