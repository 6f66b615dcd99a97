"""Confusion matrices (counts, with row-normalised shares) for one model or a grid of models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from mmdiag.eval.metrics import confusion


def plot_confusion(ax: Axes, y: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], title: str) -> np.ndarray:
    """Heat map of the row-normalised matrix annotated with counts; returns the count matrix."""
    counts = confusion(y, y_pred, len(labels))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts / counts.sum(axis=1, keepdims=True)
    ax.imshow(np.nan_to_num(shares), cmap="Blues", vmin=0, vmax=1)
    for (i, j), c in np.ndenumerate(counts):
        share = shares[i, j]
        text = f"{c}\n{share:.0%}" if np.isfinite(share) else f"{c}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if share > 0.6 else "black")
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels, rotation=90, va="center")
    ax.grid(False)
    ax.set(xlabel="predicted", ylabel="actual", title=title)
    return counts
