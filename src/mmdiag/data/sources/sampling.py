"""Seeded, stratified subsampling shared by the converters (`max_per_split`, `max_cases`).

Small CPU runs need a few hundred cases that still contain every class in its usual proportion;
the same seed must give the same cases on every machine, so only numpy's seeded Generator is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_subsample(labels: Sequence[object] | np.ndarray, n: int, seed: int | Sequence[int]) -> np.ndarray:
    """Sorted indices of `n` items whose class proportions follow `labels`.

    Each class gets `n * share` items rounded by largest remainder, and at least one item when `n`
    is at least the number of classes, so rare classes do not vanish from small runs.

    Args:
        labels: one class per item (any hashable values).
        n: how many items to keep; all are kept when `n >= len(labels)`.
        seed: seed (or seed sequence) of the numpy Generator that picks items within each class.
    """
    labels = np.asarray(labels)
    total = len(labels)
    if n >= total:
        return np.arange(total)
    if n <= 0:
        raise ValueError(f"subsample size must be positive, got {n}")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = counts * n / total
    alloc = np.floor(quota).astype(int)
    if n >= len(classes):
        alloc = np.maximum(alloc, 1)
    while alloc.sum() < n:  # hand out the rest by largest remainder, never more than a class holds
        gap = np.where(alloc < counts, quota - alloc, -np.inf)
        alloc[int(np.argmax(gap))] += 1
    while alloc.sum() > n:  # the minimum of one overshot: take back from the most over-served class
        excess = np.where(alloc > 1, alloc - quota, -np.inf)
        alloc[int(np.argmax(excess))] -= 1
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(inverse == k))[:a] for k, a in enumerate(alloc)]
    return np.sort(np.concatenate(chosen))


def cycled_draw(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` items of `pool` in seeded random order, reusing the pool only once it is exhausted.

    Draws are uniform like sampling with replacement, but each item is used at most
    `ceil(n / len(pool))` times, so no item is over-represented by chance.
    """
    if len(pool) == 0:
        raise ValueError("cannot draw from an empty pool")
    reps = -(-n // len(pool))
    return np.concatenate([rng.permutation(pool) for _ in range(max(reps, 1))])[:n]
