"""The one figure style of the project, and saving every figure as PNG and PDF.

Paper-sized fonts, a colour-blind-safe palette, and reproducible files: the PDF carries no creation date
and the PNG no software stamp, so an unchanged figure has unchanged bytes (DVC and Snakemake see no change).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: workflow jobs and CI have no display

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mmdiag.io import atomic_path

logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting logs every glyph at INFO

PALETTE = "colorblind"
DPI = 200
PANEL = (3.2, 3.0)  # inches per panel


def apply_style() -> None:
    """Set the project style (idempotent; every figure builder calls it first)."""
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=1.0)
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": DPI,
            "savefig.bbox": "tight",
            "savefig.pad_inches": 0.05,
            "pdf.fonttype": 42,  # embed TrueType: text stays text in the PDF
            "axes.titlesize": 9,
            "axes.labelsize": 8,
            "legend.fontsize": 7,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
        }
    )


def colours(n: int) -> list[tuple[float, float, float]]:
    return sns.color_palette(PALETTE, n)


def panels(n: int, ncols: int | None = None, panel: tuple[float, float] = PANEL) -> tuple[Figure, list[Axes]]:
    """A figure with `n` panels in a grid (unused cells hidden), flattened row-major."""
    apply_style()
    ncols = min(n, ncols or n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False, layout="constrained"
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def suptitle(fig: Figure, title: str, synthetic: bool) -> None:
    """The figure's title, tagged when it shows results on synthetic data."""
    fig.suptitle(title + (" (synthetic data)" if synthetic else ""), fontsize=10)


def save_figure(fig: Figure, png: str | Path, pdf: str | Path) -> None:
    """Write `fig` as PNG and PDF (atomically, reproducible bytes) and close it."""
    try:
        with atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
        with atomic_path(pdf) as tmp:
            fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    finally:
        plt.close(fig)
