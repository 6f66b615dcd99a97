"""Training curves from a run's `history.csv`: losses and validation metrics over all training phases.

Phases (stage 2, stage 3, classify, ...) run one after another, each counting epochs from 0; the curves
use one running epoch axis and shade alternate phases, so a schedule reads left to right.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes

from mmdiag.reporting.figures.style import colours


def running_epoch(history: pd.DataFrame) -> pd.Series:
    """0, 1, 2, ... over the rows in order (phases concatenated)."""
    return pd.Series(range(len(history)), index=history.index, name="step")


def _shade_phases(ax: Axes, history: pd.DataFrame) -> None:
    if "phase" not in history:
        return
    step = running_epoch(history)
    for k, (phase, rows) in enumerate(history.groupby("phase", sort=False)):
        lo, hi = step[rows.index].min() - 0.5, step[rows.index].max() + 0.5
        if k % 2:
            ax.axvspan(lo, hi, color="0.93", zorder=0)
        ax.text(
            (lo + hi) / 2, 1.0, str(phase), transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=6
        )


def plot_history(ax: Axes, history: pd.DataFrame, keys: list[str], title: str, ylabel: str) -> list[str]:
    """Lines of the `keys` present in `history` (others skipped); returns the keys drawn."""
    step = running_epoch(history)
    drawn = [k for k in keys if k in history and history[k].notna().any()]
    for key, colour in zip(drawn, colours(max(len(drawn), 1))):
        ax.plot(step, history[key], marker="o", ms=2.5, lw=1.2, color=colour, label=key)
    _shade_phases(ax, history)
    ax.set(xlabel="epoch (all phases)", ylabel=ylabel, xlim=(-0.5, len(history) - 0.5))
    ax.set_title(title, pad=12)
    if drawn:
        ax.legend(loc="best")
    return drawn
