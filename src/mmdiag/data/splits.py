"""Case-grouped, label-stratified splits, written to disk so every run reads the same partitions.

Schemes (TMM-Net §4.1/§4.3):
- `single_centre`: one centre's cases (`'*'`: every centre's), random 70/30 train/test; a validation
  part is carved out of train for best-epoch selection (our choice: the paper does not say how it
  selected epochs).
- `multi_centre`: the train/val of `single_centre` without the target centre's cases, and every case
  of the target centre as test — the paper's "direct validation on multi-centre data", unsupervised
  w.r.t. the target (no target labels are used in training).
- `cv_<centre>`: k stratified group folds per centre (Table 4), each with its own val part.

If `cases.csv` has an official `split` column (MedMNIST), `single_centre` uses it, over every centre.
Cases whose `split` cell is empty are *free*: a free case in a group with an official case follows
that case; the other free groups fill what the official split leaves open — `test_fraction` of
them (stratified) become test only when no case is officially `test`; the rest join train, and
when no case is officially `val`, val is carved out of that train (official + free) by
`val_fraction`. So no case is ever silently left out.

A "group" is `group_id` (default `case_id`): all images and the report of a group share a
partition, so no patient/lesion is ever on both sides of a split.

`make_splits` ends with `check_splits`: a split that cannot be trained on (an empty partition, a
class of the split missing from train, more CV folds than groups, target-centre cases already in
training) stops with one `SplitError` naming the split, centre or class and what to change, before
anything is written or trained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmdiag.config.fields import fill
from mmdiag.config.sections import SingleCentreConfig, SplitsConfig
from mmdiag.errors import ConfigError

PARTITIONS = ("train", "val", "test")
ALL_CENTRES = "*"
AUTO = "auto"  # multi_centre.target / cv.centres chosen from the data (mmdiag.plan resolves it for the DAG)


class SplitError(ConfigError):
    """The configured splits cannot be trained on; the message lists every problem and its fix."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"splits: {len(self.problems)} problem(s) before any training:\n{lines}")


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


def group_ids(cases: pd.DataFrame) -> pd.Series:
    """Each case's group: its `group_id`, or the case itself when the column is absent or the cell empty."""
    if "group_id" not in cases.columns:
        return cases["case_id"].copy()
    gid = cases["group_id"].astype(str).str.strip()
    return gid.where(gid != "", cases["case_id"])


def _groups_table(cases: pd.DataFrame) -> pd.DataFrame:
    """One row per group with its (first) label; groups keep the order of first appearance."""
    g = cases.assign(group_id=group_ids(cases))
    return g.groupby("group_id", sort=False)["label"].first().reset_index()


def _cases_of(cases: pd.DataFrame, groups: Sequence[str]) -> list[str]:
    chosen = set(groups)
    return sorted(cases.loc[group_ids(cases).isin(chosen), "case_id"].tolist())


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
        known = ", ".join(sorted(cases["centre"].unique())) or "none: the dataset has no cases"
        raise ConfigError(f"{key}: centre '{centre}' has no cases (centres: {known})")
    return sub


def _official_single_centre(
    cases: pd.DataFrame, sc: Mapping, seed: int, val_fraction: float
) -> tuple[dict[str, list[str]], dict]:
    """Partitions from the `split` column, free cases placed as the module docstring says."""
    split = cases["split"].astype(str).str.strip()
    gid = group_ids(cases)
    official_group = {g: s for g, s in zip(gid, split) if s in PARTITIONS}  # the validator keeps groups whole
    assigned = [official_group.get(g, "") for g in gid]
    parts = {p: sorted(cases.loc[[a == p for a in assigned], "case_id"].tolist()) for p in PARTITIONS}
    free = cases[[a == "" for a in assigned]]
    free_test: list[str] = []
    if len(free) and not parts["test"]:
        fraction = float(fill(SingleCentreConfig, sc).test_fraction)
        free_rest, free_test = stratified_group_holdout(free, fraction, np.random.default_rng([seed, 3]))
    else:
        free_rest = sorted(free["case_id"].tolist())
    parts["test"] = sorted(parts["test"] + free_test)
    parts["train"] = sorted(parts["train"] + free_rest)
    carved = not parts["val"]
    if carved and parts["train"]:
        rng = np.random.default_rng([seed, 1])
        parts["train"], parts["val"] = _train_val(cases, parts["train"], val_fraction, rng)
    meta = {
        "policy": "official split column; free cases fill the partitions it leaves open",
        "official_cases": len(cases) - len(free),
        "free_cases": len(free),
        "free_to_test": len(free_test),
        "val_carved_from_train": carved,
    }
    return parts, meta


def make_splits(cases: pd.DataFrame, cfg: Mapping) -> dict[str, Split]:
    """Build every scheme the config asks for, then `check_splits`. `cfg` is the `splits` config section.

    Each scheme draws from its own seeded generator, so adding a scheme never changes another.

    Raises:
        ConfigError: a configured centre has no cases; `SplitError`: the splits cannot be trained on.
    """
    typed = fill(SplitsConfig, cfg)  # keys left out (a section written by hand) take their defaults
    seed = int(typed.seed)
    val_fraction = float(typed.val_fraction)
    out: dict[str, Split] = {}
    problems: list[str] = []
    explained: set[str] = set()  # splits whose root cause is already reported: no follow-on messages
    if cases.empty:
        raise SplitError(["the dataset has no cases (cases.csv holds only its header); add cases"])

    sc = cfg.get("single_centre") or {}
    official = "split" in cases.columns and (cases["split"].astype(str).str.strip() != "").any()
    if official:
        parts, meta = _official_single_centre(cases, sc, seed, val_fraction)
        out["single_centre"] = Split("single_centre", parts, meta)
    else:
        centre = sc.get("centre") or sorted(cases["centre"].unique())[0]
        sub = cases if centre == ALL_CENTRES else _centre_cases(cases, centre, "splits.single_centre.centre")
        rng = np.random.default_rng([seed, 1])
        train, test = stratified_group_holdout(sub, float(typed.single_centre.test_fraction), rng)
        train, val = _train_val(cases, train, val_fraction, rng)
        out["single_centre"] = Split(
            "single_centre",
            {"train": train, "val": val, "test": test},
            {"centre": centre, "test_fraction": float(typed.single_centre.test_fraction), "seed": seed},
        )

    mc = dict(cfg.get("multi_centre") or {})
    centres = list(dict.fromkeys(cases["centre"]))  # order of first appearance
    if mc.get("target") == AUTO:  # the DAG receives it resolved by mmdiag.plan; same rule for direct callers
        source = out["single_centre"].meta.get("centre")
        others = [c for c in centres if c != source] if source not in (None, ALL_CENTRES) else []
        mc["target"] = others[0] if others else None
    if mc.get("target"):
        target = _centre_cases(cases, mc["target"], "splits.multi_centre.target")
        target_ids = set(target["case_id"])
        base = out["single_centre"].partitions
        if official:
            split_of = dict(zip(cases["case_id"], cases["split"].astype(str).str.strip()))
            clash = sorted(c for c in target_ids if split_of.get(c) in ("train", "val"))
            if clash:
                explained.add("multi_centre")
                problems.append(
                    f"split multi_centre: {len(clash)} case(s) of the target centre {mc['target']!r} are in the "
                    f"official train/val split of cases.csv (e.g. {', '.join(clash[:3])}), but every target-centre "
                    "case is a multi-centre test case; leave their split cell empty (or test), or choose another "
                    "splits.multi_centre.target"
                )
        elif out["single_centre"].meta.get("centre") == mc["target"]:
            explained.add("multi_centre")
            problems.append(
                f"split multi_centre: splits.multi_centre.target {mc['target']!r} is also the single-centre "
                "training centre (splits.single_centre.centre); choose two different centres"
            )
        out["multi_centre"] = Split(
            "multi_centre",
            {
                "train": [c for c in base["train"] if c not in target_ids],
                "val": [c for c in base["val"] if c not in target_ids],
                "test": sorted(target_ids),
            },
            {
                "source": out["single_centre"].meta.get("centre"),
                "target": mc["target"],
                "policy": "train/val of single_centre without the target centre; every target-centre case is test",
            },
        )

    cv = cfg.get("cv") or {}
    k = int(typed.cv.folds)
    cv_centres = cv.get("centres") or []
    if cv_centres == AUTO:  # as mmdiag.plan: every centre with at least 2 cases per fold
        counts = cases["centre"].value_counts()
        cv_centres = [c for c in centres if counts[c] >= 2 * k]
    for centre in cv_centres:
        sub = _centre_cases(cases, centre, "splits.cv.centres")
        n_groups = int(group_ids(sub).nunique())
        if k > n_groups:
            problems.append(
                f"split cv_{centre}: splits.cv.folds is {k} but centre {centre!r} has only {n_groups} group(s) "
                f"(cases, or group_id values), so some folds would have no test case; set splits.cv.folds to at "
                f"most {n_groups} or remove {centre!r} from splits.cv.centres"
            )
            continue
        rng = np.random.default_rng([seed, 2, *map(ord, centre)])
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
    problems += [p for name, split in out.items() if name not in explained for p in split_problems(split, cases)]
    if problems:
        raise SplitError(problems)
    return out


def split_problems(split: Split, cases: pd.DataFrame) -> list[str]:
    """Why `split` cannot be trained on (empty partitions, classes missing from train, a group in two
    partitions), one line each naming the split and what to change; [] when it can."""
    problems = []
    parts = split.partitions
    leak = _leak(split, cases)
    if leak:
        problems.append(leak)
    for part in PARTITIONS:
        if part in parts and not parts[part]:
            problems.append(f"split {split.name}: {part} is empty; {_fix_empty(split, part)}")
    label = dict(zip(cases["case_id"], cases["label"]))
    in_train = {label[c] for c in parts.get("train", [])}
    everywhere = {label[c] for ids in parts.values() for c in ids}
    if parts.get("train"):
        for missing in sorted(everywhere - in_train):
            where = [p for p in PARTITIONS if any(label[c] == missing for c in parts.get(p, []))]
            problems.append(
                f"split {split.name}: class {missing!r} has no case in train but is in {' and '.join(where)}: "
                "a model cannot learn it; add cases of that class (or group them differently), or "
                f"{_fix_class(split)}"
            )
    return problems


def _fix_empty(split: Split, part: str) -> str:
    if split.meta.get("policy", "").startswith("official"):
        return {
            "train": "cases.csv has no case with split 'train' and no free case (empty split cell) to fill it",
            "val": "the training cases have too few groups per label to hold one out; mark some cases 'val'",
            "test": "mark some cases 'test' in cases.csv, or leave some split cells empty",
        }[part]
    if part == "val":
        return (
            "the training part has at most one group per label, so none can be held out; use more cases, "
            "smaller groups (group_id), or a centre with more cases"
        )
    return "the centre has too few groups per label to split; use more cases or another centre"


def _fix_class(split: Split) -> str:
    if split.name.startswith("cv_"):
        return f"remove centre {split.meta.get('centre')!r} from splits.cv.centres"
    if split.name == "multi_centre":
        return "choose a single-centre training centre (splits.single_centre.centre) that has that class"
    return "choose another splits.single_centre.centre"


def _leak(split: Split, cases: pd.DataFrame) -> str | None:
    """A message when a case or a group appears in two partitions of `split`, else None."""
    gid = dict(zip(cases["case_id"], group_ids(cases)))
    seen: dict[str, str] = {}
    for part, ids in split.partitions.items():
        for cid in ids:
            g = gid[cid]
            if seen.setdefault(g, part) != part:
                return (
                    f"split {split.name}: group {g!r} is in both {seen[g]} and {part} (a group, i.e. one patient, "
                    "must stay in one partition); check that group_id values do not span centres or official splits"
                )
    return None


def check_no_leak(split: Split, cases: pd.DataFrame) -> None:
    """Raise `SplitError` if a case or a group appears in two partitions of `split`."""
    if (leak := _leak(split, cases)) is not None:
        raise SplitError([leak])
