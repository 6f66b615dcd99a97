"""A readable summary of a (valid) BYO folder, printed before training so surprises show early.

It answers: how many cases per centre and label, how many images per case and modality, how long the
reports are, how the attribute values and the official split are distributed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmdiag.data.byo import CASES_CSV, IMAGES_CSV, REPORTS_CSV, DatasetSpec, read_spec, read_table

SPLIT_ORDER = ("train", "val", "test")


def summarize(root: str | Path) -> str:
    """Multi-line summary of the dataset at `root`; assumes it passed `validate_dataset`."""
    root = Path(root)
    spec = read_spec(root)
    cases = read_table(root / CASES_CSV)
    images = read_table(root / IMAGES_CSV)
    reports = read_table(root / REPORTS_CSV)
    sections = [
        _overview(spec, cases, images, reports),
        _cases_table(spec, cases),
        _images_table(spec, cases, images),
        _reports_table(reports),
        _attribute_counts(spec, cases),
        _split_counts(cases),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _overview(spec: DatasetSpec, cases: pd.DataFrame, images: pd.DataFrame, reports: pd.DataFrame) -> str:
    positive = f" (positive: {spec.labels[spec.positive_index]})" if spec.task == "binary" else ""
    kind = ", synthetic" if spec.synthetic else ""
    groups = ""
    if "group_id" in cases.columns:
        group_ids = cases["group_id"].where(cases["group_id"].str.strip() != "", cases["case_id"])
        groups = f" in {group_ids.nunique()} groups"
    return (
        f"dataset {spec.name}: {spec.task}{kind}, labels {', '.join(spec.labels)}{positive}\n"
        f"{len(cases)} cases{groups}, {len(images)} images, {len(reports)} reports"
    )


def _cases_table(spec: DatasetSpec, cases: pd.DataFrame) -> str:
    counts = pd.crosstab(cases["centre"], cases["label"]).reindex(columns=list(spec.labels), fill_value=0)
    if spec.centres:  # declared order, and declared centres without cases show as zeros
        counts = counts.reindex(index=list(spec.centres), fill_value=0)
    rows = [[centre, *map(str, row), str(sum(row))] for centre, row in zip(counts.index, counts.to_numpy().tolist())]
    totals = counts.sum(axis=0).tolist()
    rows.append(["total", *map(str, totals), str(sum(totals))])
    return "cases per centre and label:\n" + _format_table(["centre", *spec.labels, "total"], rows)


def _images_table(spec: DatasetSpec, cases: pd.DataFrame, images: pd.DataFrame) -> str:
    per_case = images.groupby(["modality", "case_id"]).size()
    rows = []
    for name, modality in spec.modalities.items():
        counts = per_case.get(name, pd.Series(dtype=int)).reindex(cases["case_id"], fill_value=0)
        rows.append(
            [
                name,
                str(modality.channels),
                str(int(counts.sum())),
                str(int(counts.min())),
                _number(counts.median()),
                str(int(counts.max())),
            ]
        )
    header = ["modality", "channels", "images", "per case min", "median", "max"]
    return "images per modality:\n" + _format_table(header, rows)


def _reports_table(reports: pd.DataFrame) -> str:
    columns = [c for c in reports.columns if c == "report" or c.startswith("report.")]
    rows = []
    for column in columns:
        lengths = reports[column].str.len()
        rows.append([column, str(int(lengths.min())), _number(lengths.median()), str(int(lengths.max()))])
    return "report length in characters:\n" + _format_table(["column", "min", "median", "max"], rows)


def _attribute_counts(spec: DatasetSpec, cases: pd.DataFrame) -> str:
    lines = []
    for modality in spec.attributes:
        for attribute, vocabulary in spec.attributes[modality].items():
            column = f"{modality}.{attribute}"
            counts = cases[column].value_counts()
            lines.append(f"  {column}: " + ", ".join(f"{v} {int(counts.get(v, 0))}" for v in vocabulary))
    return "attribute values (cases):\n" + "\n".join(lines) if lines else ""


def _split_counts(cases: pd.DataFrame) -> str:
    if "split" not in cases.columns:
        return ""
    counts = cases["split"].value_counts()
    parts = [f"{split} {int(counts.get(split, 0))}" for split in SPLIT_ORDER]
    parts.append(f"free {int(counts.get('', 0))}")
    return "official split (cases): " + ", ".join(parts)


def _number(value: float) -> str:
    return f"{value:g}"


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    """Plain-text table: first column left-aligned, the rest right-aligned (they hold numbers)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  " + "  ".join([first, *rest])

    return "\n".join(fmt(r) for r in [header, *rows])
