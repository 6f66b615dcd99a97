"""Read-only view of one finished run folder: metrics, provenance record, predictions, history.

A run folder is what `mmdiag.experiments.tmm.train_arm` (and every later study) writes: `metrics.json`
(`run` record + `eval.<set>.{metrics,ci,attributes,warnings}`), `run.json`, `predictions_<set>.csv`,
`history.csv` and `model.pt` (the names are `mmdiag.run_folder`'s). Reporting only reads these files, so
tables and figures never depend on training code. A damaged input (garbage JSON, a truncated CSV, a record
without the keys a table needs) raises `CorruptInputError`: one line naming the file and
`snakemake <metrics.json> --force`, the command that rebuilds it (predictions are written by the job whose
declared output is the `metrics.json`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import pandas as pd

from mmdiag.data.format import positive_index
from mmdiag.engine.checkpoint import load_json_input, read_metrics_json, rebuild_hint
from mmdiag.errors import CorruptInputError
from mmdiag.io import file_sha256
from mmdiag.run_folder import HISTORY, METRICS, MODEL, RUN_RECORD, predictions_file


@dataclass(frozen=True)
class Cell:
    """One table value: a point estimate and, where one exists, its 95% interval, or a mean ± SD over `n`
    repeats (seeds); a mean cell is shown as `mean ± sd`, and only when n >= 2."""

    point: float
    low: float = math.nan
    high: float = math.nan
    sd: float = math.nan
    n: int = 0

    @property
    def has_ci(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def zero_width(self) -> bool:
        """An interval of no width (e.g. 0.500 [0.500, 0.500]): the bootstrap saw no variation at all."""
        return self.has_ci and self.low == self.high

    @property
    def has_sd(self) -> bool:
        return self.n >= 2 and math.isfinite(self.sd)

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
        return cls(path, load_json_input(path))

    def corrupt(self, what: str, path: str | Path | None = None) -> CorruptInputError:
        """The one-line error for a damaged input of this run (`path`, default its `metrics.json`)."""
        return CorruptInputError(f"{path or self.metrics_path}: {what}; {rebuild_hint(self.metrics_path)}")

    @property
    def dir(self) -> Path:
        return self.metrics_path.parent


@dataclass
class Run(MetricsFile):
    """One run folder, addressed by its `metrics.json`."""

    @classmethod
    def load(cls, metrics_path: str | Path) -> Self:
        path = Path(metrics_path)
        run = cls(path, read_metrics_json(path))
        if not isinstance(run.metrics["eval"], dict) or not all(
            isinstance(v, dict) for v in run.metrics["eval"].values()
        ):
            raise run.corrupt("'eval' must map each evaluation set to its results")
        return run

    @cached_property
    def record(self) -> dict[str, Any]:
        """The provenance record (`run.json`, else the copy inside `metrics.json`)."""
        path = self.dir / RUN_RECORD
        record = load_json_input(path) if path.exists() else self.metrics.get("run")
        if not isinstance(record, dict):
            raise self.corrupt("the run record is not a mapping", path if path.exists() else None)
        return record

    def field(self, key: str) -> Any:
        """A record entry a table needs (`arm`, `arm_spec`, `encoder`, ...), or `CorruptInputError`."""
        if key not in self.record:
            raise self.corrupt(f"the run record has no '{key}'")
        return self.record[key]

    @property
    def spec(self) -> dict[str, Any]:
        """The arm's spec as the run resolved it (`arm_spec`: modality names, stage switches)."""
        spec = self.field("arm_spec")
        if not isinstance(spec, dict) or not isinstance(spec.get("modalities"), list):
            raise self.corrupt("'arm_spec' must be a mapping with a 'modalities' list")
        return spec

    @property
    def seed(self) -> int | None:
        seed = self.record.get("seed")
        return None if seed is None else int(seed)

    def warnings(self, evalset: str) -> list[str]:
        """The evaluation's warnings (C7) as the run recorded them (older runs recorded none)."""
        return [str(w) for w in self.evaluation(evalset).get("warnings") or []]

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

    def predictions(self, evalset: str, labels: Iterable[str] | None = None) -> pd.DataFrame:
        """`predictions_<set>.csv`: `case_id`, `y` (class index) and `p_<label>` columns (all of `labels`)."""
        path = self.dir / predictions_file(evalset)
        frame = self._csv(path)
        probs = [c for c in frame.columns if c.startswith("p_")] if labels is None else [f"p_{x}" for x in labels]
        missing = [c for c in ("case_id", "y", *probs) if c not in frame.columns]
        if missing or not probs:
            raise self.corrupt(f"not a predictions file (missing column(s) {missing or ['p_<label>']})", path)
        values = frame[["y", *probs]]
        numeric = values.apply(pd.to_numeric, errors="coerce")
        if numeric.isna().to_numpy().any() or (numeric["y"] != numeric["y"].round()).any():
            raise self.corrupt("non-numeric or empty values in 'y' or the probability columns", path)
        frame["y"] = numeric["y"].astype(int)
        return frame

    def history(self) -> pd.DataFrame:
        return self._csv(self.dir / HISTORY)

    def _csv(self, path: Path) -> pd.DataFrame:
        if not path.exists():
            raise self.corrupt("file not found", path)
        try:
            return pd.read_csv(path, dtype={"case_id": str})
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "not a readable CSV"
            first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
            raise self.corrupt(f"{reason} ({first})", path) from None

    @property
    def model_path(self) -> Path:
        return self.dir / MODEL


@dataclass
class CVRun(MetricsFile):
    """A k-fold cross-validation summary (`tmmnet_cv/<centre>/metrics.json`) and its fold runs."""

    @property
    def name(self) -> str:
        """The folder name (the centre, for TMM-Net's Table 4)."""
        return self.dir.name

    @classmethod
    def load(cls, metrics_path: str | Path) -> Self:
        cv = super().load(metrics_path)
        doc = cv.metrics
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("folds"), list)
            or not isinstance(doc.get("summary"), dict)
        ):
            raise cv.corrupt("not a cross-validation summary (needs 'folds' and 'summary')")
        return cv

    @property
    def folds(self) -> list[Run]:
        """Fold runs in fold order (`fold<i>/metrics.json`)."""
        return [Run.load(self.dir / f"fold{i}" / METRICS) for i in range(len(self.metrics["folds"]))]

    def fold_values(self, key: str) -> list[float]:
        return [_float(f.get(key)) for f in self.metrics["folds"]]

    def summary(self, key: str, stat: str) -> float:
        return _float((self.metrics["summary"].get(key) or {}).get(stat))


def any_synthetic(runs: Iterable[Run]) -> bool:
    """True when any of the runs used a synthetic dataset (their outputs must say so)."""
    return any(bool(r.record.get("dataset_synthetic")) for r in runs)


def read_meta(meta: str | Path) -> dict[str, Any]:
    """The preprocessing cache's `meta.json` (needs its `dataset` record), else `CorruptInputError`."""
    doc = load_json_input(meta)
    if not isinstance(doc, dict) or not isinstance(doc.get("dataset"), dict) or "labels" not in doc["dataset"]:
        raise CorruptInputError(f"{meta}: not a cache meta.json (no 'dataset.labels'); {rebuild_hint(meta)}")
    return doc


def dataset_labels(meta: str | Path) -> tuple[list[str], int]:
    """Class names of the cache's `meta.json` and the positive class index (`positive_label`, else the last)."""
    ds = read_meta(meta)["dataset"]
    labels = list(ds["labels"])
    return labels, positive_index(labels, ds.get("positive_label"))


def labelled_runs(runs: Iterable[str | Path], meta: str | Path) -> tuple[list[Run], list[str]]:
    """The runs of one study, loaded, and the class names of their dataset (`dataset_labels`)."""
    return [Run.load(p) for p in runs], dataset_labels(meta)[0]


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)
