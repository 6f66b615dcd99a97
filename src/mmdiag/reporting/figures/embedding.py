"""t-SNE embeddings of feature vectors (TMM-Net Fig. 6: per-modality features vs fused features)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from sklearn.manifold import TSNE
from sklearn.preprocessing import StandardScaler

from mmdiag.reporting.figures.style import PALETTE


def tsne(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE of standardised features; perplexity capped below n/3 so small test sets work."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 4:
        raise ValueError(f"t-SNE needs a [n >= 4, d] matrix, got shape {x.shape}")
    x = StandardScaler().fit_transform(x)
    perp = float(min(perplexity, max(1.0, (len(x) - 1) / 3.0)))
    return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(x)


def plot_embedding(
    ax: Axes,
    xy: np.ndarray,
    hue: Sequence[str],
    title: str,
    style: Sequence[str] | None = None,
    hue_order: Sequence[str] | None = None,
) -> None:
    """Scatter of a 2-D embedding coloured by `hue` (and marker by `style`)."""
    sns.scatterplot(
        x=xy[:, 0],
        y=xy[:, 1],
        hue=list(hue),
        hue_order=hue_order,
        style=None if style is None else list(style),
        ax=ax,
        s=14,
        palette=PALETTE,
        linewidth=0.2,
        edgecolor="white",
    )
    ax.set(title=title, xticks=[], yticks=[], xlabel="t-SNE 1", ylabel="t-SNE 2")
    ax.legend(loc="best", fontsize=6, markerscale=0.8)
