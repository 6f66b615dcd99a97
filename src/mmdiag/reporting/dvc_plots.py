"""Per-run plot data that `dvc plots show` renders: ROC points and confusion pairs per evaluation set.

`write_run_plots(run_dir, predictions_csv, labels)` writes `<run_dir>/plots/roc_<set>.csv` (`fpr,tpr`) and
`<run_dir>/plots/confusion_<set>.csv` (`actual,predicted`, one row per test sample), where `<set>` comes from
the file name `predictions_<set>.csv`. Declare them in dvc.yaml as plots with `x: fpr, y: tpr`
(template `simple`) and `x: actual, y: predicted` (template `confusion`); see docs/reporting.md.

The metrics side (a flat `dvc_metrics.json` per run) is `mmdiag.dvc_yaml.write_dvc_metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mmdiag.io import write_text
from mmdiag.reporting.curves import confusion_pairs, roc_input, roc_points


def eval_set_name(predictions_csv: str | Path) -> str:
    stem = Path(predictions_csv).stem
    if not stem.startswith("predictions_"):
        raise ValueError(f"{predictions_csv}: expected a file named predictions_<set>.csv")
    return stem.removeprefix("predictions_")


def write_run_plots(
    run_dir: str | Path, predictions_csv: str | Path, labels: Sequence[str], positive_label: str | None = None
) -> list[Path]:
    """Write the ROC and confusion plot files of one evaluation set of a run; returns their paths.

    Args:
        run_dir: the run folder (files go to `run_dir/plots/`).
        predictions_csv: `predictions_<set>.csv` with `y` and `p_<label>` columns.
        labels: class names in index order.
        positive_label: the positive class of a binary task (default: the last label, as evaluation does);
            multi-class tasks get the micro-averaged one-vs-rest ROC.
    """
    pred = pd.read_csv(predictions_csv, dtype={"case_id": str})
    name = eval_set_name(predictions_csv)
    pos = list(labels).index(positive_label) if positive_label else None
    out = Path(run_dir) / "plots"
    roc = out / f"roc_{name}.csv"
    conf = out / f"confusion_{name}.csv"
    write_text(roc, roc_points(*roc_input(pred, labels, pos)).to_csv(index=False))
    write_text(conf, confusion_pairs(pred, labels).to_csv(index=False))
    return [roc, conf]
