"""The bring-your-own (BYO) dataset format, defined once: file and column names, `dataset.yaml`, readers.

docs/data_format.md describes the format; everything that reads, checks, summarises or writes a BYO folder
takes the names from here (`mmdiag.data.byo` loads and writes folders, `mmdiag.data.validate` checks them).
This module imports no other part of `mmdiag.data`, so the checks can read the format without a circle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mmdiag.io import load_yaml

DATASET_YAML = "dataset.yaml"
CASES_CSV = "cases.csv"
IMAGES_CSV = "images.csv"
REPORTS_CSV = "reports.csv"
REQUIRED_FILES = (DATASET_YAML, CASES_CSV, IMAGES_CSV)
OPTIONAL_FILES = (REPORTS_CSV,)  # no reports.csv = a dataset without text
FILES = (*REQUIRED_FILES, *OPTIONAL_FILES)  # the order a user fixes them in: the spec, then the tables on it
REQUIRED_CASE_COLUMNS = ("case_id", "centre", "label")
REQUIRED_IMAGE_COLUMNS = ("case_id", "modality", "path")
REQUIRED_REPORT_COLUMNS = ("case_id", "report")
SECTION_PREFIX = "report."  # `report.<modality>`: the part of the report about one modality (optional columns)


def positive_index(labels: Sequence[str], positive_label: str | None = None) -> int:
    """Index of the class SEN, recall and a binary ROC refer to: `positive_label`, else the last label."""
    return list(labels).index(positive_label) if positive_label else len(labels) - 1


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
        return positive_index(self.labels, self.positive_label)

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
