"""Case-grouped, label-stratified splits, written to disk so every run reads the same partitions.

Schemes (TMM-Net §4.1/§4.3):
- `single_centre`: one centre's cases, random 70/30 train/test; a validation part is carved out of
  train for best-epoch selection (our choice: the paper does not say how it selected epochs).
- `multi_centre`: the same train/val as `single_centre` (source centre) and every case of the
  target centre as test — the paper's "direct validation on multi-centre data", unsupervised
  w.r.t. the target (no target labels are used in training).
- `cv_<centre>`: 5 stratified group folds per centre (Table 4), each with its own val part.
If `cases.csv` has an official `split` column (MedMNIST), `single_centre` uses it instead.

A "group" is `group_id` (default `case_id`): all images and the report of a group share a
partition, so no patient/lesion is ever on both sides of a split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmdiag.errors import ConfigError

PARTITIONS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Named partitions of case ids."""

    name: str
    partitions: dict[str, list[str]]
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, "meta": self.meta, "partitions": self.partitions}

    @classmethod
    def from_json(cls, d: Mapping) -> Split:
        return cls(
            name=str(d["name"]),
            partitions={k: list(v) for k, v in d["partitions"].items()},
            meta=dict(d.get("meta", {})),
        )


def _groups_table(cases: pd.DataFrame) -> pd.DataFrame:
    """One row per group with its (first) label; groups keep the order of first appearance."""
    g = cases.assign(group_id=cases.get("group_id", cases["case_id"]).replace("", np.nan))
    g["group_id"] = g["group_id"].fillna(g["case_id"])
    return g.groupby("group_id", sort=False)["label"].first().reset_index()


def _cases_of(cases: pd.DataFrame, groups: Sequence[str]) -> list[str]:
    gid = cases.get("group_id", cases["case_id"]).replace("", np.nan).fillna(cases["case_id"])
    chosen = set(groups)
    return sorted(cases.loc[gid.isin(chosen), "case_id"].tolist())


def stratified_group_holdout(
    cases: pd.DataFrame, fraction: float, rng: np.random.Generator
) -> tuple[list[str], list[str]]:
    """Split cases into (rest, held_out) with about `fraction` of each label's groups held out."""
    groups = _groups_table(cases)
    held: list[str] = []
    for _, sub in groups.groupby("label", sort=True):
        ids = sub["group_id"].to_numpy()
        ids = ids[rng.permutation(len(ids))]
        k = round(fraction * len(ids))
        if len(ids) > 1:
            k = min(max(k, 1), len(ids) - 1)
        held.extend(ids[:k].tolist())
    held_set = set(held)
    rest = [g for g in groups["group_id"] if g not in held_set]
    return _cases_of(cases, rest), _cases_of(cases, held)


def stratified_group_kfold(cases: pd.DataFrame, folds: int, rng: np.random.Generator) -> list[list[str]]:
    """Partition cases into `folds` test folds, stratified by label, whole groups per fold."""
    groups = _groups_table(cases)
    buckets: list[list[str]] = [[] for _ in range(folds)]
    offset = 0
    for _, sub in groups.groupby("label", sort=True):
        ids = sub["group_id"].to_numpy()
        ids = ids[rng.permutation(len(ids))]
        for i, g in enumerate(ids):  # round-robin, continuing across labels to balance fold sizes
            buckets[(offset + i) % folds].append(g)
        offset += len(ids)
    return [_cases_of(cases, b) for b in buckets]


def _train_val(cases: pd.DataFrame, train_ids: list[str], val_fraction: float, rng: np.random.Generator):
    sub = cases[cases["case_id"].isin(set(train_ids))]
    return stratified_group_holdout(sub, val_fraction, rng)


def _centre_cases(cases: pd.DataFrame, centre: str, key: str) -> pd.DataFrame:
    sub = cases[cases["centre"] == centre]
    if sub.empty:
        known = ", ".join(sorted(cases["centre"].unique()))
        raise ConfigError(f"{key}: centre '{centre}' has no cases (centres: {known})")
    return sub


def make_splits(cases: pd.DataFrame, cfg: Mapping) -> dict[str, Split]:
    """Build every scheme the config asks for. `cfg` is the `splits` config section.

    Each scheme draws from its own seeded generator, so adding a scheme never changes another.
    """
    seed = int(cfg.get("seed", 0))
    val_fraction = float(cfg.get("val_fraction", 0.15))
    out: dict[str, Split] = {}

    sc = cfg.get("single_centre") or {}
    official = "split" in cases.columns and (cases["split"] != "").any()
    if official:
        parts = {p: sorted(cases.loc[cases["split"] == p, "case_id"].tolist()) for p in PARTITIONS}
        if not parts["val"]:
            rng = np.random.default_rng([seed, 1])
            parts["train"], parts["val"] = _train_val(cases, parts["train"], val_fraction, rng)
        out["single_centre"] = Split("single_centre", parts, {"policy": "official split column"})
    else:
        centre = sc.get("centre") or sorted(cases["centre"].unique())[0]
        sub = _centre_cases(cases, centre, "splits.single_centre.centre")
        rng = np.random.default_rng([seed, 1])
        train, test = stratified_group_holdout(sub, float(sc.get("test_fraction", 0.3)), rng)
        train, val = _train_val(cases, train, val_fraction, rng)
        out["single_centre"] = Split(
            "single_centre",
            {"train": train, "val": val, "test": test},
            {"centre": centre, "test_fraction": float(sc.get("test_fraction", 0.3)), "seed": seed},
        )

    mc = cfg.get("multi_centre")
    if mc and mc.get("target"):
        target = _centre_cases(cases, mc["target"], "splits.multi_centre.target")
        base = out["single_centre"].partitions
        out["multi_centre"] = Split(
            "multi_centre",
            {"train": base["train"], "val": base["val"], "test": sorted(target["case_id"].tolist())},
            {
                "source": out["single_centre"].meta.get("centre"),
                "target": mc["target"],
                "policy": "train/val shared with single_centre; every target-centre case is test",
            },
        )

    cv = cfg.get("cv") or {}
    for centre in cv.get("centres") or []:
        sub = _centre_cases(cases, centre, "splits.cv.centres")
        rng = np.random.default_rng([seed, 2, *map(ord, centre)])
        k = int(cv.get("folds", 5))
        test_folds = stratified_group_kfold(sub, k, rng)
        for i, test in enumerate(test_folds):
            rest = [c for j, f in enumerate(test_folds) if j != i for c in f]
            train, val = _train_val(cases, rest, val_fraction, rng)
            name = f"cv_{centre}_fold{i}"
            out[name] = Split(
                name,
                {"train": train, "val": val, "test": test},
                {"centre": centre, "fold": i, "folds": k, "seed": seed},
            )
    for split in out.values():
        check_no_leak(split, cases)
    return out


def check_no_leak(split: Split, cases: pd.DataFrame) -> None:
    """Raise if a case or a group appears in two partitions of `split`."""
    gid = dict(
        zip(cases["case_id"], cases.get("group_id", cases["case_id"]).replace("", np.nan).fillna(cases["case_id"]))
    )
    seen: dict[str, str] = {}
    for part, ids in split.partitions.items():
        for cid in ids:
            g = gid[cid]
            if seen.setdefault(g, part) != part:
                raise AssertionError(f"split {split.name}: group {g} is in both {seen[g]} and {part}")
