"""Tests for mmdiag.eval.stats: DeLong against pROC's published values, McNemar/z/χ² against
statsmodels/scipy documented values and hand computations, and the grouped bootstrap's behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from mmdiag.eval.metrics import case_accuracy, case_correct, classification_metrics
from mmdiag.eval.stats import (
    CI,
    bootstrap_ci,
    bootstrap_indices,
    bootstrap_metrics,
    chi2_test,
    delong_auc_ci,
    delong_test,
    mcnemar_from_counts,
    mcnemar_test,
    two_proportion_z_test,
)

# --------------------------------------------------------------------------------------------- aSAH data
# pROC's `aSAH` data set (R package pROC, `data(aSAH)`; Turck et al. 2010, Intensive Care Med 36:107-115):
# 113 patients, outcome Good/Poor (Poor = positive, 41 cases), WFNS grade 1-5 (heavily tied), s100b and
# ndka. Columns in row order; outcome as one letter per patient. The transcription is validated by the
# test below: it reproduces pROC's own 15-digit AUCs, variances, covariances and Z values.
_OUTCOME = (
    "GGGGPPGPGGPGPPGGPGPPPGPGGGGGGGGGPGGPPGPPGGGGGGGGGPPGGGPGGGPGPGGPPPGPPGPPPPGGGPPGPGGGGGGPGGGGGGGGGGGGPPPPPPGGGPGGG"
)
_WFNS = (
    "11113254125255125225211112121134214541425511241125521251222151125214524414121421232421451154221113125225552445111"
)
_S100B = (
    "0.13 0.14 0.1 0.04 0.13 0.1 0.47 0.16 0.18 0.1 0.12 0.1 0.44 0.71 0.04 0.08 0.49 0.04 0.07 0.33 0.09 "
    "0.09 0.07 0.11 0.07 0.17 0.07 0.11 0.13 0.19 0.05 0.16 0.41 0.14 0.34 0.35 0.48 0.09 0.96 0.25 0.5 "
    "0.46 0.16 0.07 0.43 0.45 0.11 0.08 0.09 0.86 0.52 0.08 0.06 0.13 2.07 0.1 0.14 0.15 0.07 0.06 0.77 "
    "0.05 0.09 0.3 0.03 0.09 0.04 0.23 0.7 0.09 0.27 0.71 0.08 0.26 0.08 0.16 0.09 0.13 0.1 0.08 0.11 "
    "0.33 0.11 0.28 0.07 0.1 0.32 0.22 0.07 0.05 0.24 0.38 0.1 0.15 0.08 0.14 0.1 0.07 0.04 0.19 0.56 "
    "0.14 0.58 0.32 0.82 0.74 0.15 0.47 0.17 0.44 0.15 0.5 0.48"
)
_NDKA = (
    "3.01 8.54 8.09 10.42 17.4 12.75 6 13.2 15.54 6.01 15.96 17.86 5.18 8.9 13.41 20.75 11.6 16.11 32.37 "
    "54.82 32.41 49.94 40.34 9.47 6.29 12.53 6.54 6.3 80.3 12.8 9.8 9.81 9.85 18.21 5.03 14.04 21.93 8.02 "
    "7.42 8.38 6.59 9.63 13.12 7.96 14.34 41.43 7.63 7.06 12.59 13.56 3.87 9.44 7.66 12.98 419.19 27.19 "
    "22.27 9.95 21.22 11.73 10.4 58.83 6.39 11.09 12.22 13.67 17.21 22.63 12.9 9.7 21.57 8.23 72.57 15.54 "
    "10.51 10.6 14.57 5.19 9.63 4.61 21.48 17.3 12.71 9.44 11.07 19.46 10.83 5.37 11.97 7.75 9.83 10.55 "
    "28.49 8.53 12.57 12.9 46.83 11.68 12.67 9.01 9.57 34.06 11.72 14.26 47.61 11.67 24.58 10.33 13.87 "
    "15.89 22.43 6.79 13.45"
)
Y = np.array([c == "P" for c in _OUTCOME], dtype=np.int64)
WFNS = np.array([int(c) for c in _WFNS], dtype=np.float64)
S100B = np.array(_S100B.split(), dtype=np.float64)
NDKA = np.array(_NDKA.split(), dtype=np.float64)


def test_asah_transcription_shape():
    assert len(Y) == len(WFNS) == len(S100B) == len(NDKA) == 113
    assert Y.sum() == 41


# ------------------------------------------------------------------------------------------------- DeLong
@pytest.mark.parametrize(
    ("a", "b", "z", "p", "ci_low", "ci_high"),
    [
        (WFNS, S100B, 2.20898359144091, 0.0271757822291882, 0.0104061769564846, 0.174214419249478),
        (WFNS, NDKA, 2.79777591868904, 0.00514557970691098, 0.0634011709339876, 0.3600405634833566),
        (NDKA, S100B, -1.39077002573558, 0.164295175223054, -0.2876917446341914, 0.0488706064228094),
    ],
    ids=["wfns-s100b", "wfns-ndka", "ndka-s100b"],
)
def test_delong_matches_proc_roc_test(a, b, z, p, ci_low, ci_high):
    """pROC (xrobin/pROC) tests/testthat/test-roc.test.R, "roc.test statistic and p are as expected with
    defaults": t1 = roc.test(r.wfns, r.s100b), t2 = roc.test(r.wfns, r.ndka), t3 = roc.test(r.ndka,
    r.s100b) on data(aSAH), paired DeLong; expected $statistic (Z), $p.value and $conf.int (95%)."""
    res = delong_test(Y, a, b)
    assert res["z"] == pytest.approx(z, rel=1e-9)
    assert res["p"] == pytest.approx(p, rel=1e-9)
    assert res["ci_low"] == pytest.approx(ci_low, rel=1e-9)
    assert res["ci_high"] == pytest.approx(ci_high, rel=1e-9)
    assert res["diff"] == pytest.approx(res["auc_a"] - res["auc_b"])
    assert res["z"] == pytest.approx(res["diff"] / res["se"])


def test_delong_aucs_and_variances_match_proc_and_sklearn():
    """pROC tests/testthat/test-var.R ("var with delong works"): var(r.wfns) = 0.00146991470882363,
    var(r.ndka) = 0.0031908105493913, var(r.s100b) = 0.00266868245717244; test-cov.R: cov(r.wfns, r.ndka)
    = -0.000532967856762438. AUCs printed by pROC for aSAH: wfns 0.8237, s100b 0.7314, ndka 0.6120."""
    variances = {"wfns": 0.00146991470882363, "ndka": 0.0031908105493913, "s100b": 0.00266868245717244}
    for name, x in (("wfns", WFNS), ("ndka", NDKA), ("s100b", S100B)):
        ci = delong_auc_ci(Y, x)
        assert ci["auc"] == pytest.approx(roc_auc_score(Y, x), abs=1e-14)
        assert ci["se"] ** 2 == pytest.approx(variances[name], rel=1e-9)
    assert delong_auc_ci(Y, WFNS)["auc"] == pytest.approx(0.8237, abs=5e-5)
    assert delong_auc_ci(Y, S100B)["auc"] == pytest.approx(0.7314, abs=5e-5)
    assert delong_auc_ci(Y, NDKA)["auc"] == pytest.approx(0.6120, abs=5e-5)
    # var(diff) = var(a) + var(b) - 2 cov(a, b): checks the covariance against pROC's value too.
    se = delong_test(Y, WFNS, NDKA)["se"]
    assert se**2 == pytest.approx(variances["wfns"] + variances["ndka"] - 2 * -0.000532967856762438, rel=1e-9)


def test_delong_auc_ci_matches_proc_ci_auc():
    """pROC tests/testthat/test-ci.auc.R: expected.ci.auc <- c(0.501244999271703, 0.611957994579946,
    0.722670989888189) for ci.auc(r.ndka) (DeLong, 95%)."""
    ci = delong_auc_ci(Y, NDKA)
    assert (ci["low"], ci["auc"], ci["high"]) == pytest.approx(
        (0.501244999271703, 0.611957994579946, 0.722670989888189), rel=1e-9
    )
    assert delong_auc_ci(Y, NDKA, alpha=0.5)["high"] < ci["high"]


def test_delong_identical_curves_and_reversal():
    """pROC test-roc.test.R: "DeLong roc.test works when curves are identical" expects p = 1, Z = 0; and
    "two.sided roc.test produces identical p values when roc curves are reversed"."""
    same = delong_test(Y, WFNS, WFNS)
    assert (same["z"], same["p"], same["se"]) == (0.0, 1.0, 0.0)
    fwd, rev = delong_test(Y, WFNS, S100B), delong_test(Y, S100B, WFNS)
    assert rev["z"] == pytest.approx(-fwd["z"])
    assert rev["p"] == pytest.approx(fwd["p"])


def _brute_force_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) straight from the definition: psi over all m×n pairs, no ranks."""
    out = []
    for s in (a, b):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        out.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    m, n = len(out[0][1]), len(out[0][2])
    s10 = np.cov(np.vstack([out[0][1], out[1][1]]))
    s01 = np.cov(np.vstack([out[0][2], out[1][2]]))
    cov = s10 / m + s01 / n
    return out[0][0] - out[1][0], math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])


@pytest.mark.parametrize("seed", [0, 1])
def test_delong_equals_pairwise_definition_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 150)
    a = np.round(y * 0.8 + rng.normal(size=150), 1)  # rounding forces ties within and across classes
    b = np.round(0.5 * a + rng.normal(size=150), 0)
    diff, se = _brute_force_delong(y, a, b)
    res = delong_test(y, a, b)
    assert res["diff"] == pytest.approx(diff, abs=1e-12)
    assert res["se"] == pytest.approx(se, rel=1e-10)
    assert res["auc_a"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)


def test_delong_rejects_degenerate_input():
    with pytest.raises(ValueError, match="at least 2 positives"):
        delong_test([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3], [0.5, 0.4, 0.3, 0.2])
    with pytest.raises(ValueError, match="length"):
        delong_test([1, 1, 0, 0], [0.9, 0.1, 0.2], [0.5, 0.4, 0.3, 0.2])


# ------------------------------------------------------------------------------------------------ McNemar
@pytest.mark.parametrize(
    ("table", "stat", "p"),
    [
        ([[101, 121], [59, 33]], 20.67222, 5.450095e-06),
        ([[101, 70], [59, 33]], 0.7751938, 0.3786151),
        ([[101, 80], [59, 33]], 2.87769784, 0.08981434),
    ],
)
def test_mcnemar_chi2_matches_statsmodels(table, stat, p):
    """statsmodels statsmodels/stats/tests/test_nonparametric.py::test_mcnemar_chisquare, the corrected
    (default) values res1..res3 for f_obs1..f_obs3 (R's mcnemar.test gives the same numbers)."""
    (both, a_only), (b_only, neither) = table
    correct_a = np.repeat([1, 1, 0, 0], [both, a_only, b_only, neither])
    correct_b = np.repeat([1, 0, 1, 0], [both, a_only, b_only, neither])
    res = mcnemar_test(correct_a, correct_b)  # b + c >= 25: χ² chosen automatically
    assert (res["b"], res["c"], res["method"]) == (a_only, b_only, "chi2")
    assert res["statistic"] == pytest.approx(stat, rel=1e-6)
    assert res["p"] == pytest.approx(p, rel=1e-6)


def test_mcnemar_exact_by_hand():
    """1 vs 9 discordant: p = 2·P(X <= 1 | 10, ½) = 2·(1 + 10)/2^10 = 0.021484375 (hand computation)."""
    res = mcnemar_from_counts(1, 9)
    assert res["method"] == "exact" and res["statistic"] == 1.0
    assert res["p"] == pytest.approx(22 / 1024)
    assert res["p"] == pytest.approx(sps.binomtest(1, 10, 0.5).pvalue)
    assert mcnemar_from_counts(9, 1)["p"] == res["p"]
    assert mcnemar_from_counts(5, 5)["p"] == 1.0  # capped at 1
    assert mcnemar_from_counts(0, 0)["p"] == 1.0
    # the flag overrides the b + c < 25 rule both ways
    assert mcnemar_from_counts(1, 9, exact=False)["statistic"] == pytest.approx((8 - 1) ** 2 / 10)
    assert mcnemar_from_counts(20, 40, exact=True)["method"] == "exact"


def test_mcnemar_rejects_non_binary():
    with pytest.raises(ValueError, match="0/1"):
        mcnemar_test([0, 1, 2], [1, 1, 0])


# -------------------------------------------------------------------------------------------- z and chi2
def test_two_proportion_z_matches_statsmodels_doc_and_hand():
    """statsmodels docs, proportions_ztest example: count = [5, 12], nobs = [83, 99] prints
    pval 0.159. By hand: p̂ = 17/182, se = sqrt(p̂(1-p̂)(1/83 + 1/99)), z = (5/83 - 12/99)/se."""
    res = two_proportion_z_test(5, 83, 12, 99)
    pooled = 17 / 182
    z = (5 / 83 - 12 / 99) / math.sqrt(pooled * (1 - pooled) * (1 / 83 + 1 / 99))
    assert res["z"] == pytest.approx(z, rel=1e-12)
    assert round(res["p"], 3) == 0.159
    # the pooled z-test is the uncorrected 2x2 χ² test: z² = χ²
    chi2 = sps.chi2_contingency([[5, 78], [12, 87]], correction=False).statistic
    assert res["z"] ** 2 == pytest.approx(chi2, rel=1e-12)
    assert two_proportion_z_test(10, 10, 20, 20) == {"z": 0.0, "p": 1.0, "p1": 1.0, "p2": 1.0, "diff": 0.0}
    with pytest.raises(ValueError):
        two_proportion_z_test(11, 10, 1, 10)


def test_chi2_matches_scipy_doc_example():
    """scipy.stats.chi2_contingency docs example: obs = [[10, 10, 20], [20, 20, 20]] gives
    statistic 2.7777777777777777, pvalue 0.24935220877729619, dof 2."""
    res = chi2_test([[10, 10, 20], [20, 20, 20]])
    assert res["chi2"] == pytest.approx(2.7777777777777777, rel=1e-12)
    assert res["p"] == pytest.approx(0.24935220877729619, rel=1e-12)
    assert res["dof"] == 2
    # an all-zero column (a class neither model saw) changes nothing
    assert chi2_test([[10, 0, 10, 20], [20, 0, 20, 20]]) == res
    with pytest.raises(ValueError, match="non-empty"):
        chi2_test([[1, 2], [0, 0]])


# ---------------------------------------------------------------------------------------------- bootstrap
def _cases(n_cases: int, rows_per_case: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary data where each case's rows share the label and a case-level score (+ small row noise)."""
    rng = np.random.default_rng(seed)
    y_case = rng.integers(0, 2, n_cases)
    s_case = y_case + rng.normal(0, 1.0, n_cases)
    y = np.repeat(y_case, rows_per_case)
    score = np.repeat(s_case, rows_per_case) + rng.normal(0, 0.1, n_cases * rows_per_case)
    prob = 1 / (1 + np.exp(-score))
    return y, prob, np.repeat(np.arange(n_cases), rows_per_case)


def test_bootstrap_indices_draw_whole_groups():
    groups = np.array(["c", "a", "b", "a", "c", "c", "d"])  # unsorted, uneven sizes
    sizes = {"a": 2, "b": 1, "c": 3, "d": 1}
    for idx in bootstrap_indices(groups, n_boot=50, seed=3):
        per_row = np.bincount(idx, minlength=len(groups))
        drawn = 0
        for g in sizes:
            mult = per_row[groups == g]
            assert np.all(mult == mult[0])  # all rows of a group come together
            drawn += mult[0]
        assert drawn == len(sizes)  # G groups per replicate
        assert len(idx) == sum(sizes[g] * per_row[groups == g][0] for g in sizes)


def test_bootstrap_ci_contains_point_and_shrinks_with_cases():
    widths = {}
    for n_cases in (50, 800):
        y, prob, groups = _cases(n_cases, 3, seed=n_cases)
        ci = bootstrap_ci(lambda i, y=y, prob=prob: roc_auc_score(y[i], prob[i]), groups, n_boot=300)
        assert ci.low <= ci.point <= ci.high
        assert ci.point == pytest.approx(roc_auc_score(y, prob))
        assert ci.n_boot_valid == ci.n_boot == 300
        widths[n_cases] = ci.high - ci.low
    # width ∝ 1/sqrt(cases): 16× the cases should give about a quarter of the width
    assert widths[800] < widths[50] / 2.5


def test_grouped_resampling_is_wider_than_row_resampling():
    """40 cases × 20 identical rows: the data hold 40 independent units, not 800."""
    rng = np.random.default_rng(0)
    correct = np.repeat(rng.integers(0, 2, 40), 20).astype(float)
    groups = np.repeat(np.arange(40), 20)

    def acc(i: np.ndarray) -> float:
        return float(correct[i].mean())

    grouped = bootstrap_ci(acc, groups, n_boot=400, seed=1)
    rows = bootstrap_ci(acc, np.arange(800), n_boot=400, seed=1)
    assert grouped.point == rows.point
    assert (grouped.high - grouped.low) > 3 * (rows.high - rows.low)  # ~sqrt(20) ≈ 4.5 expected
    # the grouped interval matches a row-level bootstrap of the 40 case-level values
    case_level = bootstrap_ci(lambda i: float(correct[::20][i].mean()), np.arange(40), n_boot=400, seed=1)
    assert (grouped.low, grouped.high) == pytest.approx((case_level.low, case_level.high))


def test_bootstrap_percentile_interval_is_calibrated():
    """95% intervals for a proportion cover the true value in most of 60 simulated studies."""
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(60):
        x = (rng.random(200) < 0.7).astype(float)
        ci = bootstrap_ci(lambda i, x=x: float(x[i].mean()), np.arange(200), n_boot=300, seed=int(rng.integers(1e9)))
        covered += ci.low <= 0.7 <= ci.high
    assert 50 <= covered <= 60


def test_bootstrap_skips_and_counts_undefined_replicates():
    # one positive case among 10: a replicate without it has no positives and AUC is undefined
    y = np.repeat([1] + [0] * 9, 2)
    prob = np.linspace(0.1, 0.9, 20)
    groups = np.repeat(np.arange(10), 2)
    res = bootstrap_metrics(y, prob, groups, "binary", n_boot=200, seed=5)
    expected_valid = sum(y[idx].any() for idx in bootstrap_indices(groups, 200, 5))
    assert 0 < expected_valid < 200
    assert res["AUC"].n_boot_valid == expected_valid
    assert res["Acc"].n_boot_valid == 200
    assert res["SPE"].n_boot_valid == 200  # every replicate has negatives


def test_bootstrap_metrics_shares_replicates_and_matches_bootstrap_ci():
    y, prob, groups = _cases(60, 4, seed=2)
    res = bootstrap_metrics(y, prob, groups, "binary", n_boot=200, seed=11)
    point = classification_metrics(y, prob, "binary")
    point["Acc_case"] = case_accuracy(y, prob, groups, "binary")
    assert set(res) == set(point)  # every metric of classification_metrics, plus the case-level accuracy
    for key, ci in res.items():
        assert isinstance(ci, CI)
        assert ci.point == point[key] or (math.isnan(ci.point) and math.isnan(point[key]))
    # a case drawn twice counts twice: resampling the per-case correctness (sorted case order) draws the same
    right = case_correct(y, prob, groups, "binary")[0]
    case_acc = bootstrap_ci(lambda i: float(right[i].mean()), np.arange(len(right)), n_boot=200, seed=11)
    assert (res["Acc_case"].low, res["Acc_case"].high) == pytest.approx((case_acc.low, case_acc.high))
    acc = bootstrap_ci(lambda i: float(((prob[i] >= 0.5) == y[i]).mean()), groups, n_boot=200, seed=11)
    assert (res["Acc"].low, res["Acc"].high) == pytest.approx((acc.low, acc.high))
    # same seed, same numbers; another seed, other numbers; smaller confidence, narrower interval
    assert bootstrap_metrics(y, prob, groups, "binary", n_boot=200, seed=11) == res
    assert bootstrap_metrics(y, prob, groups, "binary", n_boot=200, seed=12)["AUC"] != res["AUC"]
    narrow = bootstrap_metrics(y, prob, groups, "binary", n_boot=200, seed=11, alpha=0.5)
    assert res["AUC"].low <= narrow["AUC"].low <= narrow["AUC"].high <= res["AUC"].high


def test_bootstrap_metrics_multiclass_keys_and_row_default():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 90)
    probs = rng.dirichlet(np.ones(3), 90)
    probs[np.arange(90), y] += 0.5
    probs /= probs.sum(axis=1, keepdims=True)
    res = bootstrap_metrics(y, probs, None, "multiclass", n_boot=100, labels=["ADI", "BACK", "STR"])
    assert {"Acc", "F1_macro", "AUC_ovr", "AUC_ovo", "F1_per_class/STR"} <= set(res)
    for ci in res.values():
        assert ci.low <= ci.point <= ci.high
    assert res["Acc"].to_dict()["n_boot"] == 100


def test_bootstrap_argument_checks():
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci(lambda i: 0.0, np.arange(3), alpha=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        next(bootstrap_indices(np.arange(3), n_boot=0))
    with pytest.raises(ValueError, match="length"):
        bootstrap_metrics([0, 1, 0], [0.2, 0.8, 0.1], [0, 1], "binary", n_boot=10)
