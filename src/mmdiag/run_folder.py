"""The run folder: what every trained run leaves behind, named once, and the two small files DVC reads.

Training code writes these files (`mmdiag.experiments.runs`), reporting reads them (`mmdiag.reporting.runs`)
and the `dvc.yaml` generator declares them (`mmdiag.dvc_yaml`, at build time only); all three take the
names from here. A run folder holds:
- `model.pt`: {state, model_config} (a stage-1 pretraining folder holds `stage1.pt` instead);
- `history.csv`: one row per epoch of every phase;
- `predictions_<set>.csv`: `case_id`, `y` and `p_<label>` per test image of each evaluation set;
- `metrics.json`: {run: provenance, eval: {set: {metrics, ci, attributes, n_samples, n_cases, ...}}},
  written last (the rule's declared output); a cross-validation summary holds {folds, summary, ...};
- `run.json`: the provenance record alone;
- `dvc_metrics.json`: the flat headline numbers `dvc metrics show/diff` compare (`write_dvc_metrics`);
- `plots/roc_<set>.csv` (`fpr,tpr`) and `plots/confusion_<set>.csv` (`actual,predicted`, one row per test
  sample), what `dvc plots show` draws (`write_run_plots`);
- `ckpt/`: resume checkpoints while the run trains (removed when it finishes).

Evaluation sets are named after the split whose test partition they are: `single_centre`, `multi_centre`
(the other centre), and a CV fold's own `test`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmdiag.io import read_json, write_json, write_text

MODEL = "model.pt"
STAGE1 = "stage1.pt"
HISTORY = "history.csv"
METRICS = "metrics.json"
RUN_RECORD = "run.json"
DVC_METRICS = "dvc_metrics.json"
CHECKPOINTS = "ckpt"
PLOTS = "plots"
_PREDICTIONS = "predictions_"

SINGLE_CENTRE = "single_centre"
MULTI_CENTRE = "multi_centre"
CV_TEST = "test"
# A training job's split inputs -> the evaluation set named after each one's test partition.
EVAL_SET_INPUTS = {"split": SINGLE_CENTRE, "external": MULTI_CENTRE}
CV_EVAL_SET_INPUTS = {"split": CV_TEST}  # a CV fold is scored on its own split's test partition


def eval_sets(
    splits: Mapping[str, str | Path | None], names: Mapping[str, str] = EVAL_SET_INPUTS
) -> dict[str, tuple[str | Path, str]]:
    """{set name: (split file, "test")} for each split input given (`names`: input -> set name)."""
    return {name: (splits[key], "test") for key, name in names.items() if splits.get(key)}


# ------------------------------------------------------------------------------------------ file names
def predictions_file(eval_set: str) -> str:
    return f"{_PREDICTIONS}{eval_set}.csv"


def eval_set_name(predictions_csv: str | Path) -> str:
    """The evaluation set of a `predictions_<set>.csv`."""
    stem = Path(predictions_csv).stem
    if not stem.startswith(_PREDICTIONS):
        raise ValueError(f"{predictions_csv}: expected a file named {predictions_file('<set>')}")
    return stem.removeprefix(_PREDICTIONS)


def roc_file(eval_set: str) -> str:
    """ROC points of one evaluation set, relative to the run folder."""
    return f"{PLOTS}/roc_{eval_set}.csv"


def confusion_file(eval_set: str) -> str:
    """Confusion pairs of one evaluation set, relative to the run folder."""
    return f"{PLOTS}/confusion_{eval_set}.csv"


# ------------------------------------------------------------------------------------------ DVC metrics
def flat_metrics(metrics: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The headline numbers of a run's `metrics.json`, for `dvc metrics show/diff`.

    An arm: `{<eval set>: {<metric>: point, ..., "P-Acc": attribute accuracy}}`; a cross-validation:
    `{"cv": {<metric>_mean, <metric>_std}}`. Provenance, timing and CI bounds are left out, so two runs
    that score the same show no difference.
    """
    if "eval" in metrics:
        out: dict[str, dict[str, float]] = {}
        for name, result in metrics["eval"].items():
            row = {k: float(v) for k, v in result.get("metrics", {}).items() if _is_number(v)}
            if _is_number((result.get("attributes") or {}).get("P-Acc")):
                row["P-Acc"] = float(result["attributes"]["P-Acc"])
            out[name] = row
        return out
    if "summary" in metrics:
        return {
            "cv": {
                f"{k}_{stat}": float(v[stat])
                for k, v in metrics["summary"].items()
                for stat in ("mean", "std")
                if _is_number(v.get(stat))
            }
        }
    raise ValueError("metrics: expected a run's {'eval': ...} or a cross-validation's {'summary': ...}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def write_dvc_metrics(run_dir: str | Path, metrics: Mapping[str, Any] | None = None) -> Path:
    """Write `<run_dir>/dvc_metrics.json` (declared under `metrics:` in dvc.yaml) from the run's metrics."""
    run_dir = Path(run_dir)
    metrics = read_json(run_dir / METRICS) if metrics is None else metrics
    path = run_dir / DVC_METRICS
    write_json(path, flat_metrics(metrics))
    return path


# ------------------------------------------------------------------------------------------ DVC plots
def write_run_plots(
    run_dir: str | Path, predictions_csv: str | Path, labels: Sequence[str], positive_label: str | None = None
) -> list[Path]:
    """Write the ROC and confusion plot files of one evaluation set of a run; returns their paths.

    Declared in dvc.yaml as plots with `x: fpr, y: tpr` (template `simple`) and `x: actual, y: predicted`
    (template `confusion`); see docs/reporting.md.

    Args:
        run_dir: the run folder (files go to `run_dir/plots/`).
        predictions_csv: `predictions_<set>.csv` with `y` and `p_<label>` columns.
        labels: class names in index order.
        positive_label: the positive class of a binary task (default: the last label, as evaluation does);
            multi-class tasks get the micro-averaged one-vs-rest ROC.
    """
    import pandas as pd  # local: the DAG parse reads this module's names, and pandas costs it ~0.5 s

    from mmdiag.data.format import positive_index
    from mmdiag.eval.curves import confusion_pairs, roc_input, roc_points

    pred = pd.read_csv(predictions_csv, dtype={"case_id": str})
    name = eval_set_name(predictions_csv)
    roc = Path(run_dir) / roc_file(name)
    conf = Path(run_dir) / confusion_file(name)
    write_text(roc, roc_points(*roc_input(pred, labels, positive_index(labels, positive_label))).to_csv(index=False))
    write_text(conf, confusion_pairs(pred, labels).to_csv(index=False))
    return [roc, conf]
