"""Table 4's cross-validation summary: one centre's fold metrics averaged, without training anything.

Kept apart from `mmdiag.experiments.tmm` so the `cross_validate` job, which only reads its folds'
`metrics.json`, imports pandas and no torch or timm.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mmdiag.io import read_json, write_json
from mmdiag.run_folder import CV_TEST, write_dvc_metrics


def summarize_cv(fold_metrics: Sequence[str | Path], out: str | Path) -> dict[str, Any]:
    """Per-fold test metrics and their mean / sample std over folds (one centre of Table 4)."""
    runs = [read_json(p) for p in fold_metrics]
    folds = [r["eval"][CV_TEST]["metrics"] for r in runs]
    frame = pd.DataFrame(folds)
    summary = {
        k: {"mean": float(frame[k].mean()), "std": float(frame[k].std(ddof=1)) if len(frame) > 1 else 0.0}
        for k in frame.columns
    }
    record = {
        "arm": runs[0]["run"]["arm"],
        "encoder": runs[0]["run"]["encoder"],
        "folds": folds,
        "summary": summary,
        "splits": [r["run"]["split"] for r in runs],
        "fold_runs": [str(p) for p in fold_metrics],
    }
    write_dvc_metrics(Path(out).parent, record)  # mean/std per metric for `dvc metrics show`
    write_json(out, record)
    return record
