"""Case-grouped splits: no case or group in two partitions, stratified, seeded, official splits respected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmdiag.data.splits import SplitError, check_no_leak, make_splits, stratified_group_kfold

CFG = {
    "seed": 3,
    "val_fraction": 0.2,
    "single_centre": {"centre": "a", "test_fraction": 0.3},
    "multi_centre": {"target": "b"},
    "cv": {"folds": 5, "centres": ["a", "b"]},
}


def _cases(n_a: int = 100, n_b: int = 40, groups: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for centre, n in (("a", n_a), ("b", n_b)):
        for i in range(n):
            rows.append(
                {
                    "case_id": f"{centre}{i:03d}",
                    "centre": centre,
                    "label": str(rng.integers(0, 2)),
                    "group_id": f"{centre}p{i // 3}" if groups else "",
                }
            )
    return pd.DataFrame(rows)


def test_partitions_disjoint_and_complete() -> None:
    cases = _cases()
    splits = make_splits(cases, CFG)
    sc = splits["single_centre"].partitions
    ids_a = set(cases.loc[cases.centre == "a", "case_id"])
    assert set(sc["train"]) | set(sc["val"]) | set(sc["test"]) == ids_a
    assert not (set(sc["train"]) & set(sc["test"])) and not (set(sc["val"]) & set(sc["test"]))
    assert abs(len(sc["test"]) - 30) <= 2
    mc = splits["multi_centre"].partitions
    assert mc["train"] == sc["train"] and set(mc["test"]) == set(cases.loc[cases.centre == "b", "case_id"])


def test_stratified_by_label() -> None:
    cases = _cases(400, 10)
    test = set(make_splits(cases, CFG)["single_centre"].partitions["test"])
    sub = cases[cases.centre == "a"]
    overall = (sub.label == "1").mean()
    in_test = (sub[sub.case_id.isin(test)].label == "1").mean()
    assert abs(overall - in_test) < 0.03


def test_groups_never_straddle() -> None:
    cases = _cases(groups=True)
    for split in make_splits(cases, CFG).values():
        check_no_leak(split, cases)
        gid = dict(zip(cases.case_id, cases.group_id))
        parts = {g: p for p, ids in split.partitions.items() for g in (gid[c] for c in ids)}
        for p, ids in split.partitions.items():
            assert all(parts[gid[c]] == p for c in ids)


def test_leak_is_detected() -> None:
    from mmdiag.data.splits import Split

    cases = _cases(4, 0)
    with pytest.raises(SplitError, match="group 'a001' is in both train and test"):
        check_no_leak(Split("x", {"train": ["a000", "a001"], "test": ["a001"]}), cases)


def test_cv_folds_partition_each_centre() -> None:
    cases = _cases()
    splits = make_splits(cases, CFG)
    for centre in ("a", "b"):
        tests = [set(splits[f"cv_{centre}_fold{i}"].partitions["test"]) for i in range(5)]
        assert set().union(*tests) == set(cases.loc[cases.centre == centre, "case_id"])
        assert sum(len(t) for t in tests) == len(set().union(*tests))  # disjoint
    folds = stratified_group_kfold(cases[cases.centre == "a"], 5, np.random.default_rng(0))
    assert max(map(len, folds)) - min(map(len, folds)) <= 1


def test_seeded_and_independent_of_other_schemes() -> None:
    cases = _cases()
    a = make_splits(cases, CFG)
    b = make_splits(cases, CFG)
    assert all(a[k].partitions == b[k].partitions for k in a)
    c = make_splits(cases, {**CFG, "seed": 4})
    assert c["single_centre"].partitions != a["single_centre"].partitions
    no_cv = make_splits(cases, {**CFG, "cv": {}})
    assert no_cv["single_centre"].partitions == a["single_centre"].partitions


def test_official_split_column_wins() -> None:
    cases = _cases(30, 0)
    cases["split"] = ["train"] * 20 + ["test"] * 10
    sc = make_splits(cases, {**CFG, "multi_centre": None, "cv": {}})["single_centre"]
    assert set(sc.partitions["test"]) == set(cases.case_id[20:])
    assert set(sc.partitions["train"]) | set(sc.partitions["val"]) == set(cases.case_id[:20])


def _official(splits: list[str], groups: list[str] | None = None) -> pd.DataFrame:
    cases = _cases(len(splits), 0)
    cases["split"] = splits
    if groups is not None:
        cases["group_id"] = groups
    return cases


def _all(parts: dict[str, list[str]]) -> list[str]:
    return [c for ids in parts.values() for c in ids]


def _single(cases: pd.DataFrame, **cfg: object) -> dict[str, list[str]]:
    return make_splits(cases, {**CFG, "multi_centre": None, "cv": {}, **cfg})["single_centre"].partitions


def test_free_cases_fill_what_the_official_split_leaves_open() -> None:
    """Issue 12 #2: a split column filled for 30 of 60 cases left the other 30 in no partition."""
    with_test = _official(["train"] * 20 + ["test"] * 10 + [""] * 30)
    parts = _single(with_test)
    assert sorted(_all(parts)) == sorted(with_test.case_id)  # nobody left out
    assert set(parts["test"]) == set(with_test.case_id[20:30])  # an official test exists: free cases train
    assert parts["val"] and set(parts["val"]) <= set(with_test.case_id[:20]) | set(with_test.case_id[30:])
    no_test = _official(["train"] * 20 + [""] * 40)
    parts = _single(no_test)
    assert sorted(_all(parts)) == sorted(no_test.case_id)
    assert set(parts["test"]) <= set(no_test.case_id[20:]) and abs(len(parts["test"]) - 12) <= 2  # 30 % of free
    only_free_and_val = _official(["val"] * 10 + [""] * 30)
    parts = _single(only_free_and_val)
    assert set(parts["val"]) == set(only_free_and_val.case_id[:10]) and len(parts["train"]) > 15


def test_a_free_case_follows_its_groups_official_split() -> None:
    groups = [""] * 22
    groups[15] = groups[20] = "G1"  # a020 is free, its group mate a015 officially test
    groups[3] = groups[21] = "G2"  # a021 is free, its group mate a003 officially train
    parts = _single(_official(["train"] * 10 + ["test"] * 10 + ["", ""], groups))
    where = {c: p for p, ids in parts.items() for c in ids}
    assert where["a020"] == where["a015"] == "test" and where["a021"] == where["a003"] != "test"


def test_an_official_split_without_free_cases_is_unchanged() -> None:
    """Existing official splits (MedMNIST) must give the same partitions as before free cases existed."""
    cases = _official(["train"] * 20 + ["test"] * 10)
    rng = np.random.default_rng([CFG["seed"], 1])
    from mmdiag.data.splits import stratified_group_holdout

    rest, val = stratified_group_holdout(cases[cases.split == "train"], CFG["val_fraction"], rng)
    parts = _single(cases)
    assert parts["train"] == rest and parts["val"] == val


def test_all_centres_and_multi_centre_without_the_target() -> None:
    cases = _cases()
    every = _single(cases, single_centre={"centre": "*", "test_fraction": 0.3})
    assert sorted(_all(every)) == sorted(cases.case_id)
    splits = make_splits(cases, {**CFG, "single_centre": {"centre": "*"}, "cv": {}})
    mc = splits["multi_centre"].partitions
    target = set(cases.loc[cases.centre == "b", "case_id"])
    assert set(mc["test"]) == target and not target & (set(mc["train"]) | set(mc["val"]))
    auto = make_splits(cases, {**CFG, "multi_centre": {"target": "auto"}, "cv": {"folds": 5, "centres": "auto"}})
    assert auto["multi_centre"].meta["target"] == "b" and {"cv_a_fold0", "cv_b_fold4"} <= set(auto)
