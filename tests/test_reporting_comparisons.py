"""Case-level paired and two-sample tests between two models' prediction files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mmdiag.eval.stats import chi2_test, mcnemar_test, two_proportion_z_test
from mmdiag.reporting.comparisons import case_level, paired_tests, proportion_tests

LABELS = ["a", "b"]


def frame(y: list[int], p_b: list[float], images: int = 1, labels: list[str] = LABELS) -> pd.DataFrame:
    rows = []
    for c, (yy, p) in enumerate(zip(y, p_b)):
        for k in range(images):
            q = min(max(p + 0.01 * (k - (images - 1) / 2), 0.0), 1.0)
            rows.append({"case_id": f"c{c:02d}", "y": yy, f"p_{labels[0]}": 1 - q, f"p_{labels[1]}": q})
    return pd.DataFrame(rows)


def test_case_level_means_images_and_checks_labels() -> None:
    df = frame([0, 1], [0.2, 0.7], images=3)
    cases = case_level(df, LABELS)
    assert list(cases["case_id"]) == ["c00", "c01"]
    assert cases["p_b"].tolist() == pytest.approx([0.2, 0.7])
    df.loc[0, "y"] = 1
    with pytest.raises(ValueError, match="different labels"):
        case_level(df, LABELS)


def test_paired_tests_are_case_level() -> None:
    y = [0, 1] * 10
    rng = np.random.default_rng(1)
    pa = list(np.clip(np.array(y) * 0.5 + rng.uniform(0, 0.5, 20), 0, 1))
    pb = list(rng.uniform(0, 1, 20))
    a, b = frame(y, pa, images=3), frame(y, pb, images=2)  # different images per case: only cases pair up
    t = paired_tests(a, b, LABELS)
    ca, cb = case_level(a, LABELS), case_level(b, LABELS)
    right_a = (ca["p_b"] >= 0.5).astype(int).to_numpy() == ca["y"].to_numpy()
    right_b = (cb["p_b"] >= 0.5).astype(int).to_numpy() == cb["y"].to_numpy()
    assert t["n_cases"] == 20 and t["acc_model"] == right_a.mean() and t["acc_ref"] == right_b.mean()
    assert t["mcnemar_p"] == mcnemar_test(right_a, right_b)["p"]
    assert t["auc_model"] > t["auc_ref"] and t["auc_diff_low"] < t["auc_diff"] < t["auc_diff_high"]
    assert 0 <= t["delong_p"] <= 1


def test_paired_tests_refuse_different_cases_and_handle_one_class() -> None:
    with pytest.raises(ValueError, match="different cases"):
        paired_tests(frame([0, 1, 1], [0.1, 0.9, 0.8]), frame([0, 1], [0.1, 0.9]), LABELS)
    t = paired_tests(frame([1, 1, 1], [0.6, 0.9, 0.8]), frame([1, 1, 1], [0.4, 0.9, 0.8]), LABELS)
    assert math.isnan(t["delong_p"]) and t["mcnemar_b"] == 1 and t["mcnemar_c"] == 0


def test_multiclass_has_mcnemar_but_no_delong() -> None:
    labels = ["x", "y", "z"]
    df = pd.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "y": [0, 1, 2],
            "p_x": [0.8, 0.1, 0.1],
            "p_y": [0.1, 0.8, 0.1],
            "p_z": [0.1, 0.1, 0.8],
        }
    )
    t = paired_tests(df, df, labels)
    assert t["acc_model"] == 1.0 and t["mcnemar_p"] == 1.0 and "delong_p" not in t


def test_proportion_tests_match_stats() -> None:
    y = [0, 1, 0, 1, 0, 1, 0, 1]
    a = frame(y, [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.6, 0.4])
    b = frame(y, [0.6, 0.9, 0.7, 0.8, 0.3, 0.2, 0.6, 0.4])
    t = proportion_tests(a, b, LABELS)
    z = two_proportion_z_test(6, 8, 3, 8)
    assert (t["z"], t["z_p"]) == (z["z"], z["p"])
    chi = chi2_test([[3, 3], [1, 2]])
    assert (t["chi2"], t["chi2_dof"], t["chi2_p"]) == (chi["chi2"], chi["dof"], chi["p"])
