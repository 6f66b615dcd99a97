"""Grids of images with heat maps overlaid (Grad-CAM of attributes, Fig. 5; before/after guidance, Fig. 7)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from mmdiag.reporting.figures.style import panels


def to_display(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised model input [C, H, W] back to a displayable [H, W, C] image in [0, 1]."""
    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"expected [C, H, W], got shape {x.shape}")
    m = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
    return np.clip(x * s + m, 0.0, 1.0).transpose(1, 2, 0)


def image_grid(
    cells: Sequence[Sequence[np.ndarray | None]],
    titles: Sequence[Sequence[str]],
    row_labels: Sequence[str],
    panel: tuple[float, float] = (1.6, 1.75),
) -> Figure:
    """Rows of images ([H, W] grey or [H, W, 3] RGB, uint8 or [0, 1] floats); None leaves a cell empty."""
    nrows = len(cells)
    ncols = max(len(r) for r in cells)
    fig, axes = panels(nrows * ncols, ncols, panel)
    for r, row in enumerate(cells):
        for c in range(ncols):
            ax = axes[r * ncols + c]
            img = row[c] if c < len(row) else None
            if img is None:
                ax.set_visible(False)
                continue
            ax.imshow(
                img.squeeze(),
                cmap="gray" if img.ndim == 2 or img.shape[-1] == 1 else None,
                vmin=0,
                vmax=1 if img.dtype != np.uint8 else 255,
            )
            ax.set(xticks=[], yticks=[])
            ax.grid(False)
            ax.set_title(titles[r][c] if c < len(titles[r]) else "", fontsize=6)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=7)
    return fig
