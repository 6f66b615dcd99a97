"""Figures of the issue-4 studies: confusion matrices of the dual-branch model's branches and fused model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from mmdiag.eval.curves import predicted_labels
from mmdiag.reporting.catalog import figure
from mmdiag.reporting.figures.confusion import plot_confusion
from mmdiag.reporting.figures.style import panels, suptitle
from mmdiag.reporting.runs import any_synthetic, labelled_runs
from mmdiag.reporting.study_tables import EVALSET, row_label


@figure(
    "dualbranch_confusion",
    "Confusion matrices of each unimodal branch and of the fused dual-branch model on the test set: counts and "
    "row shares (recall per class on the diagonal).",
)
def dualbranch_confusion(runs: Sequence[str], meta: str, **_: Any) -> Figure:
    loaded, labels = labelled_runs(runs, meta)
    side = max(2.6, 0.45 * len(labels) + 1.2)
    fig, axes = panels(len(loaded), panel=(side, side + 0.3))
    for ax, r in zip(axes, loaded):
        pred = r.predictions(EVALSET)
        plot_confusion(ax, pred["y"].to_numpy(), predicted_labels(pred, labels), labels, row_label(r))
    suptitle(fig, "Dual-branch confusion matrices", any_synthetic(loaded))
    return fig
