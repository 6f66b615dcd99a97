"""ROC curves (TMM-Net Fig. 8: one curve per ablation arm) and the ROC points `dvc plots` renders.

Curves are drawn per image (pair), like the AUC in the tables, so the legend's AUC and its case-bootstrap
CI are the table's. Multi-class predictions give the micro-averaged one-vs-rest curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from matplotlib.axes import Axes

from mmdiag.reporting.figures.style import colours
from mmdiag.reporting.runs import Cell


@dataclass
class RocCurve:
    label: str
    points: pd.DataFrame
    auc: Cell | None = None
    emphasis: bool = False  # drawn thick and black (e.g. the full model among its ablations)

    @property
    def legend(self) -> str:
        if self.auc is None or not self.auc.defined:
            return self.label
        ci = f" [{self.auc.low:.2f}, {self.auc.high:.2f}]" if self.auc.has_ci else ""
        return f"{self.label} (AUC {self.auc.point:.3f}{ci})"


def plot_roc(ax: Axes, curves: Sequence[RocCurve], title: str) -> None:
    """All curves on one axes, the chance diagonal, and a legend with each AUC [95% CI]."""
    for curve, colour in zip(curves, colours(max(len(curves), 1))):
        style = {"color": "black", "lw": 2.4, "zorder": 3} if curve.emphasis else {"color": colour, "lw": 1.3}
        ax.plot(curve.points["fpr"], curve.points["tpr"], label=curve.legend, **style)
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="0.6")
    ax.set(
        xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="1 - specificity (FPR)", ylabel="sensitivity (TPR)", title=title
    )
    ax.set_aspect("equal")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False, ncol=1)
