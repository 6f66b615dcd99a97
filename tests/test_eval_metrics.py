"""Tests for mmdiag.eval.metrics: hand-computed values on small arrays and equality with scikit-learn."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)

from mmdiag.eval.metrics import (
    BINARY_KEYS,
    MULTICLASS_KEYS,
    attribute_accuracy,
    binary_auc,
    binary_metrics,
    case_accuracy,
    case_correct,
    classification_metrics,
    confusion,
    flatten_metrics,
    multiclass_metrics,
    pairwise_auc,
)


def _softmax_probs(n: int, k: int, seed: int, signal: float = 1.0, decimals: int | None = 2):
    """Labels and softmax probabilities; rounding makes ties, which exercise the midrank AUC."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += signal
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    if decimals is not None:
        p = np.round(p, decimals)
        p /= p.sum(axis=1, keepdims=True)
    return y, p


# ------------------------------------------------------------------------------------------------- binary
def test_binary_metrics_by_hand():
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    p = [0.9, 0.8, 0.4, 0.5, 0.6, 0.3, 0.2, 0.1, 0.5, 0.05]
    # threshold 0.5 inclusive -> pred 1 1 0 1 | 1 0 0 0 1 0: TP=3 FN=1 FP=2 TN=4
    m = binary_metrics(y, p)
    assert m["SEN"] == m["recall"] == pytest.approx(3 / 4)
    assert m["SPE"] == pytest.approx(4 / 6)
    assert m["Acc"] == pytest.approx(7 / 10)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["F1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    # AUC by counting the 24 positive-negative pairs: losses 0.4<0.6, 0.4<0.5, 0.5<0.6; one tie 0.5=0.5
    assert m["AUC"] == pytest.approx((24 - 3 - 0.5) / 24)
    assert tuple(m) == BINARY_KEYS == ("SEN", "SPE", "Acc", "AUC", "precision", "recall", "F1", "BAcc")
    assert m["BAcc"] == pytest.approx((3 / 4 + 4 / 6) / 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    p = np.round(1 / (1 + np.exp(-(y + rng.normal(size=300)))), 2)  # ties
    pred = (p >= 0.5).astype(int)
    m = binary_metrics(y, p)
    assert m["SEN"] == pytest.approx(recall_score(y, pred))
    assert m["SPE"] == pytest.approx(recall_score(y, pred, pos_label=0))
    assert m["Acc"] == pytest.approx(accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["F1"] == pytest.approx(f1_score(y, pred))
    assert m["AUC"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["BAcc"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert tuple(m) == BINARY_KEYS
    m7 = binary_metrics(y, p, threshold=0.7)
    assert m7["SEN"] == pytest.approx(recall_score(y, (p >= 0.7).astype(int)))


def test_binary_metrics_undefined_values_are_nan():
    only_neg = binary_metrics([0, 0, 0], [0.1, 0.7, 0.2])
    assert math.isnan(only_neg["AUC"]) and math.isnan(only_neg["SEN"])
    assert only_neg["SPE"] == pytest.approx(2 / 3)
    assert only_neg["F1"] == 0.0  # 2TP/(2TP+FP+FN) = 0/1
    assert only_neg["BAcc"] == only_neg["SPE"]  # mean recall over the classes present (sklearn's rule)
    none_predicted = binary_metrics([1, 0, 1], [0.1, 0.2, 0.3])
    assert math.isnan(none_predicted["precision"])
    assert none_predicted["F1"] == 0.0 and none_predicted["SEN"] == 0.0
    assert math.isnan(binary_auc([1, 1], [0.2, 0.3]))


def test_binary_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="length"):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="NaN"):
        binary_metrics([0, 1], [0.5, math.nan])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        binary_metrics([0, 2], [0.5, 0.5])
    with pytest.raises(ValueError, match="integer"):
        binary_metrics([0.5, 1.0], [0.5, 0.5])


# --------------------------------------------------------------------------------------------- multiclass
@pytest.mark.parametrize(("k", "seed"), [(3, 0), (9, 1), (11, 2)])
def test_multiclass_metrics_equal_sklearn(k, seed):
    y, p = _softmax_probs(600, k, seed)
    pred = p.argmax(axis=1)
    labels = [f"c{i}" for i in range(k)]
    m = multiclass_metrics(y, p, labels)
    assert tuple(m) == (*MULTICLASS_KEYS[:4], "F1_per_class", *MULTICLASS_KEYS[4:], "SEN")
    prec, rec, f1, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    assert m["Acc"] == pytest.approx(accuracy_score(y, pred))
    assert (m["precision_macro"], m["recall_macro"], m["F1_macro"]) == pytest.approx((prec, rec, f1))
    per_class = f1_score(y, pred, average=None, labels=range(k), zero_division=0)
    assert [m["F1_per_class"][name] for name in labels] == pytest.approx(list(per_class))
    assert m["AUC_ovr"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr"), abs=1e-12)
    assert m["AUC_ovo"] == pytest.approx(roc_auc_score(y, p, multi_class="ovo"), abs=1e-12)
    assert m["AUC"] == m["AUC_ovr"]
    assert m["BAcc"] == pytest.approx(balanced_accuracy_score(y, pred))
    per_class_recall = recall_score(y, pred, average=None, labels=range(k), zero_division=0)
    assert [m["SEN"][name] for name in labels] == pytest.approx(list(per_class_recall))


def test_multiclass_never_predicted_class_counts_as_zero_precision():
    """Class 2 occurs but is never predicted: sklearn's default macro average counts its precision as 0."""
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.5, 0.2, 0.3], [0.1, 0.6, 0.3]])
    m = multiclass_metrics(y, p)
    # pred = 0 0 1 0 0 1: precision 2/4, 1/2, 0; recall 1, 1/2, 0
    assert m["precision_macro"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert m["recall_macro"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert m["F1_per_class"] == pytest.approx({"0": 2 * 2 / (2 + 4), "1": 2 * 1 / (2 + 2), "2": 0.0})
    assert m["precision_macro"] == pytest.approx(precision_score(y, p.argmax(1), average="macro", zero_division=0))


def test_multiclass_absent_class_is_nan_safe():
    """Class 3 absent from y_true (and never predicted): its F1 is NaN; AUCs use the 3 present classes."""
    y, p = _softmax_probs(300, 4, seed=5, signal=2.0)
    keep = y != 3
    y, p = y[keep], p[keep]
    p[:, 3] = 0.0  # never predicted
    m = multiclass_metrics(y, p)
    assert math.isnan(m["F1_per_class"]["3"])
    pred = p.argmax(axis=1)
    assert m["F1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    ovr = np.mean([roc_auc_score(y == k, p[:, k]) for k in range(3)])
    assert m["AUC_ovr"] == pytest.approx(ovr, abs=1e-12)
    ovo = []
    for a, b in combinations(range(3), 2):
        mask = (y == a) | (y == b)
        ovo.append((roc_auc_score(y[mask] == a, p[mask, a]) + roc_auc_score(y[mask] == b, p[mask, b])) / 2)
    assert m["AUC_ovo"] == pytest.approx(np.mean(ovo), abs=1e-12)


def test_multiclass_single_class_gives_nan_auc():
    m = multiclass_metrics([1, 1, 1], [[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    assert math.isnan(m["AUC_ovr"]) and math.isnan(m["AUC_ovo"]) and math.isnan(m["AUC"])
    assert math.isnan(m["SEN"]["0"]) and m["SEN"]["1"] == pytest.approx(2 / 3) and m["BAcc"] == pytest.approx(2 / 3)
    assert m["Acc"] == pytest.approx(2 / 3)


def test_pairwise_auc_entries_are_two_class_aucs():
    y, p = _softmax_probs(200, 4, seed=3)
    a = pairwise_auc(y, p)
    for j in range(4):
        assert math.isnan(a[j, j])
        for k in range(4):
            if j != k:
                mask = (y == j) | (y == k)
                assert a[j, k] == pytest.approx(roc_auc_score(y[mask] == j, p[mask, j]), abs=1e-12)


def test_multiclass_label_checks():
    with pytest.raises(ValueError, match="labels"):
        multiclass_metrics([0, 1], [[0.4, 0.6], [0.3, 0.7]], labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="unique"):
        multiclass_metrics([0, 1], [[0.4, 0.6], [0.3, 0.7]], labels=["a", "a"])


# ----------------------------------------------------------------------------------------------- dispatch
def test_classification_metrics_binary_shapes_and_positive_index():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    p1 = np.clip(0.3 * y + rng.random(100) * 0.7, 0, 1)
    two_col = np.column_stack([1 - p1, p1])
    ref = binary_metrics(y, p1)
    assert classification_metrics(y, p1, "binary") == ref
    assert classification_metrics(y, two_col, "binary") == ref
    # class 0 as the positive class: SEN becomes the old SPE (same threshold on the flipped column)
    flipped = classification_metrics(y, two_col, "binary", positive_index=0)
    assert flipped == binary_metrics(1 - y, 1 - p1)
    assert flipped["AUC"] == pytest.approx(ref["AUC"])
    y3, p3 = _softmax_probs(50, 3, 0)
    assert classification_metrics(y3, p3, "multiclass", labels=["a", "b", "c"]) == multiclass_metrics(
        y3, p3, ["a", "b", "c"]
    )
    with pytest.raises(ValueError, match="task"):
        classification_metrics(y, p1, "regression")
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        classification_metrics(y3, p3, "binary")


def test_flatten_metrics():
    flat = flatten_metrics({"Acc": 0.5, "F1_per_class": {"ADI": 0.25, "STR": 0.75}})
    assert flat == {"Acc": 0.5, "F1_per_class/ADI": 0.25, "F1_per_class/STR": 0.75}


# ------------------------------------------------------------------------------------- confusion, P-Acc
def test_confusion_matches_sklearn_with_fixed_shape():
    y = [0, 2, 2, 1, 0, 2]
    pred = [0, 2, 1, 1, 2, 2]
    cm = confusion(y, pred, 4)
    assert cm.shape == (4, 4)
    np.testing.assert_array_equal(cm, confusion_matrix(y, pred, labels=range(4)))
    assert cm[2, 1] == 1 and cm[3].sum() == 0 and cm.sum() == 6
    with pytest.raises(ValueError, match="y_pred"):
        confusion([0, 1], [0, 5], 3)


def test_attribute_accuracy_and_p_acc():
    y_true = {
        "shape": np.array([0, 1, 2, 1]),
        "echo": np.array([1, 1, 0, -1]),
        "boundary": np.array([0, 1, 0, 1]),
    }
    y_pred = {
        "shape": np.array([0, 1, 1, 1]),  # 3/4
        "echo": np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4], [0.0, 1.0]]),  # argmax 1 0 0 (1 ignored): 2/3
        "boundary": np.array([0, 1, 0, 1]),  # 4/4
    }
    out = attribute_accuracy(y_true, y_pred)
    assert out["shape"] == pytest.approx(0.75)
    assert out["echo"] == pytest.approx(2 / 3)
    assert out["boundary"] == 1.0
    assert out["P-Acc"] == pytest.approx((0.75 + 2 / 3 + 1.0) / 3)
    unscored = attribute_accuracy({"a": np.array([-1, -1]), "b": np.array([0, 1])}, {"a": [0, 0], "b": [0, 0]})
    assert math.isnan(unscored["a"]) and unscored["P-Acc"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="differ"):
        attribute_accuracy({"a": [0]}, {"b": [0]})
    with pytest.raises(ValueError, match="do not match"):
        attribute_accuracy({"a": [0, 1]}, {"a": [0]})


def test_p_bacc_skips_unannotated_and_balances_values():
    y_true = {"a": np.array([0, 0, 0, 1, -1, -1]), "b": np.array([-1, -1, -1, -1, -1, -1])}
    y_pred = {"a": np.array([0, 0, 0, 0, 1, 1]), "b": np.array([0, 0, 0, 0, 0, 0])}
    out = attribute_accuracy(y_true, y_pred)
    # majority answer: accuracy 3/4 on the 4 annotated rows, balanced (1 + 0) / 2; b has no annotation
    assert out["a"] == pytest.approx(0.75) and out["a/BAcc"] == pytest.approx(0.5)
    assert math.isnan(out["b"]) and math.isnan(out["b/BAcc"])
    assert out["P-Acc"] == pytest.approx(0.75) and out["P-BAcc"] == pytest.approx(0.5)
    assert out["a/BAcc"] == pytest.approx(balanced_accuracy_score(y_true["a"][:4], y_pred["a"][:4]))
    with pytest.raises(ValueError, match="reserved"):
        attribute_accuracy({"P-BAcc": [0]}, {"P-BAcc": [0]})


# ---------------------------------------------------------------------------------------------- case level
def test_case_accuracy_averages_probabilities_within_a_case():
    groups = np.array(["b", "b", "a", "a", "c"])
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.2, 0.6, 0.3, 0.4])  # case b mean 0.55 -> 1 right; a 0.45 -> 0 right; c 0.4 -> 0 wrong
    right, labels, pred = case_correct(y, p, groups, "binary")
    assert right.tolist() == [True, True, False] and labels.tolist() == [0, 1, 1] and pred.tolist() == [0, 1, 0]
    assert case_accuracy(y, p, groups, "binary") == pytest.approx(2 / 3)
    two_col = np.column_stack([1 - p, p])
    assert case_accuracy(y, two_col, groups, "binary") == pytest.approx(2 / 3)
    # class 0 as the positive class: the same cases, the other column
    assert case_accuracy(1 - y, two_col[:, ::-1], groups, "binary", positive_index=0) == pytest.approx(2 / 3)
    # one row per case: Acc_case is Acc
    yy, pp = _softmax_probs(80, 4, seed=9)
    assert case_accuracy(yy, pp, np.arange(80), "multiclass") == multiclass_metrics(yy, pp)["Acc"]
    with pytest.raises(ValueError, match="different labels"):
        case_accuracy([0, 1], [0.2, 0.3], ["x", "x"], "binary")
