"""Read-only view of one finished run folder: metrics, provenance record, predictions, history.

A run folder is what `mmdiag.experiments.tmm.train_arm` (and every later study) writes: `metrics.json`
(`run` record + `eval.<set>.{metrics,ci,attributes}`), `run.json`, `predictions_<set>.csv`, `history.csv`
and `model.pt`. Reporting only reads these files, so tables and figures never depend on training code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import pandas as pd

from mmdiag.io import file_sha256, read_json


@dataclass(frozen=True)
class Cell:
    """One table value: a point estimate and, where one exists, its 95% interval."""

    point: float
    low: float = math.nan
    high: float = math.nan

    @property
    def has_ci(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def defined(self) -> bool:
        return self.point is not None and math.isfinite(self.point)


MISSING = Cell(math.nan)


@dataclass
class MetricsFile:
    """A `metrics.json` and its parsed contents; the folder it sits in holds the rest of the record."""

    metrics_path: Path
    metrics: dict[str, Any] = field(repr=False)

    @classmethod
    def load(cls, metrics_path: str | Path) -> Self:
        path = Path(metrics_path)
        return cls(path, read_json(path))

    @property
    def dir(self) -> Path:
        return self.metrics_path.parent


@dataclass
class Run(MetricsFile):
    """One run folder, addressed by its `metrics.json`."""

    @cached_property
    def record(self) -> dict[str, Any]:
        """The provenance record (`run.json`, else the copy inside `metrics.json`)."""
        path = self.dir / "run.json"
        if path.exists():
            return read_json(path)
        if "run" not in self.metrics:
            raise ValueError(f"{self.metrics_path}: no run.json beside it and no 'run' record inside")
        return self.metrics["run"]

    @cached_property
    def metrics_sha256(self) -> str:
        return file_sha256(self.metrics_path)

    @property
    def eval_sets(self) -> list[str]:
        return list(self.metrics.get("eval", {}))

    def evaluation(self, evalset: str) -> dict[str, Any]:
        try:
            return self.metrics["eval"][evalset]
        except KeyError:
            raise KeyError(f"{self.metrics_path}: no evaluation set '{evalset}' (has {self.eval_sets})") from None

    def cell(self, evalset: str, key: str) -> Cell:
        """`key` on `evalset`: with its bootstrap CI when recorded, else the point (metrics, then attributes)."""
        ev = self.evaluation(evalset)
        ci = (ev.get("ci") or {}).get(key)
        if ci is not None:
            return Cell(_float(ci["point"]), _float(ci.get("low")), _float(ci.get("high")))
        for group in ("metrics", "attributes"):
            value = (ev.get(group) or {}).get(key)
            if value is not None:
                return Cell(_float(value))
        return MISSING

    def predictions(self, evalset: str) -> pd.DataFrame:
        path = self.dir / f"predictions_{evalset}.csv"
        if not path.exists():
            raise FileNotFoundError(f"{path}: the run has no predictions for '{evalset}'")
        return pd.read_csv(path, dtype={"case_id": str})

    def history(self) -> pd.DataFrame:
        return pd.read_csv(self.dir / "history.csv")

    @property
    def model_path(self) -> Path:
        return self.dir / "model.pt"


@dataclass
class CVRun(MetricsFile):
    """A k-fold cross-validation summary (`tmmnet_cv/<centre>/metrics.json`) and its fold runs."""

    @property
    def name(self) -> str:
        """The folder name (the centre, for TMM-Net's Table 4)."""
        return self.dir.name

    @property
    def folds(self) -> list[Run]:
        """Fold runs in fold order (`fold<i>/metrics.json`)."""
        return [Run.load(self.dir / f"fold{i}" / "metrics.json") for i in range(len(self.metrics["folds"]))]

    def fold_values(self, key: str) -> list[float]:
        return [_float(f.get(key)) for f in self.metrics["folds"]]

    def summary(self, key: str, stat: str) -> float:
        return _float(self.metrics["summary"][key][stat])


def any_synthetic(runs: Iterable[Run]) -> bool:
    """True when any of the runs used a synthetic dataset (their outputs must say so)."""
    return any(bool(r.record.get("dataset_synthetic")) for r in runs)


def dataset_labels(meta: str | Path) -> tuple[list[str], int]:
    """Class names of the cache's `meta.json` and the positive class index (`positive_label`, else the last)."""
    ds = read_json(meta)["dataset"]
    labels = list(ds["labels"])
    return labels, labels.index(ds["positive_label"]) if ds.get("positive_label") else len(labels) - 1


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)
