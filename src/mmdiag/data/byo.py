"""Bring-your-own (BYO) dataset folders: the validated loader and the atomic writer.

Every source (synthetic generator, MedMNIST, HAM10000, a user's folder) ends as a folder in this
format, so everything downstream of `download` has one data path. The format (file and column names,
`dataset.yaml`, the readers) is `mmdiag.data.format`, documented in `docs/data_format.md`; validation
with file/line/column messages lives in `mmdiag.data.validate`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from mmdiag.data.format import (
    CASES_CSV,
    DATASET_YAML,
    IMAGES_CSV,
    REPORTS_CSV,
    DatasetSpec,
    read_reports,
    read_spec,
    read_table,
)
from mmdiag.io import make_temp_dir


@dataclass
class Dataset:
    """A BYO folder loaded into tables (images are not decoded here).

    `reports` is an empty frame with the one column `case_id` when the folder has no reports.csv.
    """

    root: Path
    spec: DatasetSpec
    cases: pd.DataFrame
    images: pd.DataFrame
    reports: pd.DataFrame

    @property
    def has_reports(self) -> bool:
        return "report" in self.reports.columns

    def report_for(self, modality: str | None = None) -> pd.Series:
        """case_id -> report text, using the `report.<modality>` section when the folder has one."""
        col = f"report.{modality}" if modality else "report"
        if col not in self.reports.columns:
            col = "report"
        return self.reports.set_index("case_id")[col].astype(str)


def load_dataset(root: str | Path, validate: bool = True) -> Dataset:
    """Load a BYO folder; with `validate`, raise `DataFormatError` listing every violation."""
    root = Path(root)
    if validate:
        from mmdiag.data.validate import check_dataset  # local: validation pulls in PIL

        check_dataset(root)
    return Dataset(
        root=root,
        spec=read_spec(root),
        cases=read_table(root / CASES_CSV),
        images=read_table(root / IMAGES_CSV),
        reports=read_reports(root),
    )


@contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder that replaces `target` only if the block succeeds.

    A crash or a validation error leaves the previous `target` (or nothing) in place, never a
    half-written dataset.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target.parent, prefix=f".{target.name}.")
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_tables(
    root: str | Path,
    spec: DatasetSpec,
    cases: pd.DataFrame,
    images: pd.DataFrame,
    reports: pd.DataFrame | None = None,
) -> None:
    """Write `dataset.yaml` and the CSVs into `root` (image files are the caller's job).

    `reports` None (or a frame without a `report` column) writes no reports.csv: the dataset has no text.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / DATASET_YAML, "w", encoding="utf-8") as fh:
        yaml.safe_dump(spec.to_dict(), fh, sort_keys=False, allow_unicode=True)
    cases.to_csv(root / CASES_CSV, index=False, lineterminator="\n")
    images.to_csv(root / IMAGES_CSV, index=False, lineterminator="\n")
    if reports is not None and "report" in reports.columns:
        reports.to_csv(root / REPORTS_CSV, index=False, lineterminator="\n")


def dataset_checksum(root: str | Path) -> str:
    """sha256 over the dataset's tables and every image file, in a fixed order.

    Recorded in every run's provenance so a table cell traces to the exact bytes it was built on.
    """
    root = Path(root)
    h = hashlib.sha256()
    names = [DATASET_YAML, CASES_CSV, IMAGES_CSV] + ([REPORTS_CSV] if (root / REPORTS_CSV).is_file() else [])
    images = read_table(root / IMAGES_CSV)
    names += sorted(set(images["path"]))
    for name in names:
        h.update(name.encode())
        h.update(b"\0")
        with open(root / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
