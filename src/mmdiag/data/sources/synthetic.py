"""The embedded synthetic dataset as a source, so generated data takes exactly the path real data takes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmdiag.data.format import DatasetSpec
from mmdiag.data.synthetic import SYNTHETIC_SCHEMA


def prepare(cfg: Mapping[str, Any], out_dir: Path, progress: bool = True) -> DatasetSpec:
    """Generate the dataset described by `dataset.synthetic` into `out_dir` (atomically)."""
    from mmdiag.data.synthetic import generate_dataset

    return generate_dataset(out_dir, dict(cfg), progress=progress)


__all__ = ["SYNTHETIC_SCHEMA", "prepare"]
