"""The bring-your-own (BYO) dataset format: its spec, reader and atomic writer.

Every source (synthetic generator, MedMNIST, HAM10000, a user's folder) ends as a folder in this
format, so everything downstream of `download` has one data path. The format is documented in
`docs/data_format.md`; validation with file/line/column messages lives in `mmdiag.data.validate`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mmdiag.io import load_yaml, make_temp_dir

DATASET_YAML = "dataset.yaml"
CASES_CSV = "cases.csv"
IMAGES_CSV = "images.csv"
REPORTS_CSV = "reports.csv"
REQUIRED_CASE_COLUMNS = ("case_id", "centre", "label")
REQUIRED_IMAGE_COLUMNS = ("case_id", "modality", "path")
REQUIRED_REPORT_COLUMNS = ("case_id", "report")


@dataclass(frozen=True)
class ModalitySpec:
    """One imaging modality: its key, channel count (1 grey, 3 RGB) and a description."""

    name: str
    channels: int = 3
    description: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """The contents of `dataset.yaml`."""

    name: str
    labels: tuple[str, ...]
    modalities: dict[str, ModalitySpec]
    task: str = "binary"
    positive_label: str | None = None
    attributes: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    centres: tuple[str, ...] = ()
    synthetic: bool = False
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def modality_names(self) -> list[str]:
        return list(self.modalities)

    @property
    def positive_index(self) -> int:
        """Class index SEN/recall refer to in binary tasks (the last label when unset)."""
        if self.positive_label is None:
            return len(self.labels) - 1
        return self.labels.index(self.positive_label)

    def attribute_columns(self, modality: str | None = None) -> list[str]:
        """`<modality>.<attribute>` column names, in declaration order."""
        mods = [modality] if modality else list(self.attributes)
        return [f"{m}.{a}" for m in mods for a in self.attributes.get(m, {})]

    def attribute_sizes(self, modality: str) -> list[int]:
        """Number of values per attribute of `modality` (its prototype streams' class counts)."""
        return [len(v) for v in self.attributes.get(modality, {}).values()]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetSpec:
        mods = {
            k: ModalitySpec(
                name=k, channels=int((v or {}).get("channels", 3)), description=str((v or {}).get("description", ""))
            )
            for k, v in (d.get("modalities") or {}).items()
        }
        attrs = {
            m: {a: tuple(str(x) for x in vals) for a, vals in (av or {}).items()}
            for m, av in (d.get("attributes") or {}).items()
        }
        return cls(
            name=str(d["name"]),
            labels=tuple(str(x) for x in d["labels"]),
            modalities=mods,
            task=str(d.get("task", "binary")),
            positive_label=d.get("positive_label"),
            attributes=attrs,
            centres=tuple(str(x) for x in d.get("centres") or ()),
            synthetic=bool(d.get("synthetic", False)),
            description=str(d.get("description", "")),
            metadata=dict(d.get("metadata") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "task": self.task,
            "labels": list(self.labels),
        }
        if self.positive_label is not None:
            d["positive_label"] = self.positive_label
        d["modalities"] = {
            k: {"channels": m.channels, "description": m.description} for k, m in self.modalities.items()
        }
        if self.attributes:
            d["attributes"] = {m: {a: list(v) for a, v in av.items()} for m, av in self.attributes.items()}
        if self.centres:
            d["centres"] = list(self.centres)
        d["synthetic"] = self.synthetic
        d["metadata"] = self.metadata
        return d


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


def read_spec(root: str | Path) -> DatasetSpec:
    """Parse `dataset.yaml` (bounded YAML, no cross-file validation)."""
    return DatasetSpec.from_dict(load_yaml((Path(root) / DATASET_YAML).read_text(encoding="utf-8-sig")))


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a BYO CSV with every column as string, so ids like '007' keep their zeros."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def read_reports(root: str | Path) -> pd.DataFrame:
    """`reports.csv`, or an empty frame with column `case_id` when the folder has none (reports are optional)."""
    path = Path(root) / REPORTS_CSV
    return read_table(path) if path.is_file() else pd.DataFrame({"case_id": pd.Series(dtype=str)})


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
