"""Runs of one arm over several seeds (C6), and arms that turn out to be the same run.

TMM-Net's Table 3 reads every seed of each arm (`runs/tmmnet/{encoder}/{arm}/seed{seed}/metrics.json`),
Tables 1-2, the paired tests and the figures read the first seed. Runs are grouped by `(encoder, arm)`
from their records, never by parsing paths; the seed order is `tmmnet.seeds` when the config gives it,
else the order the runs were passed in, and the first seed is the headline run (its point estimate and
bootstrap CI), the others give the mean ± SD and, with the first, the seed ensemble: the metrics of the
seeds' mean class probabilities per test sample (`ensemble_metrics`), the usual way to report what
several trainings of one recipe reach together.

On a one-modality dataset the roles `first`/`second` can resolve two arms to the same spec (baseline1 and
baseline2 both `[us]`); `distinct_setups` keeps the first and says which arms it stands for, so a table
never shows two identical rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mmdiag.reporting.runs import Cell, Run

SWITCHES = ("stage1", "stage2", "attention", "attributes")


@dataclass
class ArmRuns:
    """Every seed of one (encoder, arm), the headline seed first."""

    encoder: str
    arm: str
    runs: list[Run]

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def seeds(self) -> list[int | None]:
        return [r.seed for r in self.runs]

    def values(self, evalset: str, key: str) -> list[float]:
        return [r.cell(evalset, key).point for r in self.runs if evalset in r.eval_sets]

    def mean_sd(self, evalset: str, key: str) -> Cell:
        """Mean ± sample SD (n-1) over the seeds with a defined value; a lone value gives an undefined mean cell."""
        vals = [v for v in self.values(evalset, key) if v is not None and math.isfinite(v)]
        if len(vals) < 2:
            return Cell(math.nan, n=len(vals))
        return Cell(float(np.mean(vals)), sd=float(np.std(vals, ddof=1)), n=len(vals))


class EnsembleError(ValueError):
    """The seeds' predictions cannot be averaged (too few, or not on the same samples)."""


def ensemble_predictions(runs: Sequence[Run], evalset: str, labels: Sequence[str]) -> pd.DataFrame:
    """`case_id`, `y`, `row_*` and the mean `p_<label>` over the runs evaluated on `evalset`.

    Averaging is row by row, so every run must have predicted the same samples in the same order (the
    evaluation order is the split's): a run that did not is refused, never matched up by guesswork.
    """
    evaluated = [r for r in runs if evalset in r.eval_sets]
    if len(evaluated) < 2:
        raise EnsembleError(f"{len(evaluated)} run(s) evaluated on '{evalset}': an ensemble needs two or more")
    frames = [r.predictions(evalset, labels) for r in evaluated]
    keys = ["case_id", "y", *sorted(c for c in frames[0].columns if c.startswith("row_"))]
    ref = frames[0][keys].reset_index(drop=True)
    for run, frame in zip(evaluated[1:], frames[1:]):
        if not set(keys) <= set(frame.columns) or not frame[keys].reset_index(drop=True).equals(ref):
            raise EnsembleError(
                f"{run.metrics_path}: predictions on '{evalset}' are not on the samples of "
                f"{evaluated[0].metrics_path} (same cases, labels and order): no ensemble"
            )
    probs = [f"p_{x}" for x in labels]
    out = ref.copy()
    out[probs] = np.mean([f[probs].to_numpy(dtype=float) for f in frames], axis=0)
    return out


def ensemble_metrics(
    runs: Sequence[Run], evalset: str, labels: Sequence[str], task: str, positive: int
) -> dict[str, float]:
    """Headline metrics (`mmdiag.experiments.evaluation.score`, as every run is scored) of the seed ensemble."""
    from mmdiag.experiments.evaluation import score

    frame = ensemble_predictions(runs, evalset, labels)
    pred = {
        "y": frame["y"].to_numpy(dtype=int),
        "probs": frame[[f"p_{x}" for x in labels]].to_numpy(dtype=float),
        "case_ids": frame["case_id"].astype(str).to_numpy(),
    }
    return score(pred, task, labels, positive)


def seed_order(config: Mapping[str, Any] | None) -> list[int]:
    seeds = ((config or {}).get("tmmnet") or {}).get("seeds")
    return [int(s) for s in seeds] if isinstance(seeds, list) else []


def group_runs(runs: Sequence[Run], config: Mapping[str, Any] | None = None) -> list[ArmRuns]:
    """Runs grouped by (encoder, arm) in order of first appearance, each group in seed order."""
    groups: dict[tuple[str, str], list[Run]] = {}
    seen: set[str] = set()
    for r in runs:
        if str(r.metrics_path) in seen:
            continue
        seen.add(str(r.metrics_path))
        groups.setdefault((str(r.record.get("encoder", "")), str(r.field("arm"))), []).append(r)
    order = seed_order(config)

    def rank(item: tuple[int, Run]) -> tuple[int, int]:
        pos, run = item
        return (order.index(run.seed) if run.seed in order else len(order), pos)

    out = []
    for (encoder, arm), members in groups.items():
        ranked = [r for _, r in sorted(enumerate(members), key=rank)]
        out.append(ArmRuns(encoder, arm, ranked))
    return out


def first_seeds(runs: Sequence[Run], config: Mapping[str, Any] | None = None) -> list[Run]:
    """The headline (first-seed) run of every (encoder, arm), in order of first appearance."""
    return [g.first for g in group_runs(runs, config)]


def spec_key(spec: Mapping[str, Any]) -> str:
    """A resolved arm spec as a canonical string (switches default to off; modality order kept)."""
    full = {**dict.fromkeys(SWITCHES, False), **spec}
    full = {k: bool(v) if k in SWITCHES else v for k, v in full.items()}
    if full["stage2"]:
        full["attributes"] = True  # stage 2 trains the attribute heads (C5)
    return json.dumps(full, sort_keys=True, default=str)


def distinct_setups(groups: Sequence[ArmRuns]) -> tuple[list[ArmRuns], list[str]]:
    """The groups with a distinct (encoder, resolved spec), and one note per arm left out as a duplicate."""
    kept: dict[tuple[str, str], ArmRuns] = {}
    notes = []
    for g in groups:
        key = (g.encoder, spec_key(g.first.spec))
        if key in kept:
            notes.append(
                f"Arm '{g.arm}' resolves to the same setup as '{kept[key].arm}' on this dataset "
                f"({', '.join(g.first.spec['modalities'])}, same switches): shown once, as '{kept[key].arm}'."
            )
            continue
        kept[key] = g
    return list(kept.values()), notes


def seeds_text(seeds: Sequence[int | None]) -> str:
    return ", ".join("?" if s is None else str(s) for s in seeds)
