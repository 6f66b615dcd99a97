"""A readable summary of a (valid) BYO folder, printed before training so surprises show early.

It answers: how many cases per centre and label, how many images per case and modality (with the
image modes found, e.g. L, RGB, I;16), which combinations of modalities the cases have, how long the
reports are (if any), how the attribute values (and how many are not annotated) and the official
split are distributed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from mmdiag.data.format import CASES_CSV, IMAGES_CSV, SECTION_PREFIX, DatasetSpec, read_reports, read_spec, read_table
from mmdiag.data.validation.image_decode import image_mode

SPLIT_ORDER = ("train", "val", "test")


def summarize(root: str | Path) -> str:
    """Multi-line summary of the dataset at `root`; assumes it passed `validate_dataset`."""
    root = Path(root)
    spec = read_spec(root)
    cases = read_table(root / CASES_CSV)
    images = read_table(root / IMAGES_CSV)
    reports = read_reports(root)
    sections = [
        _overview(spec, cases, images, reports),
        _cases_table(spec, cases),
        _images_table(root, spec, cases, images),
        _coverage(spec, cases, images),
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
    texts = f"{len(reports)} reports" if "report" in reports.columns else "no reports (no reports.csv)"
    return (
        f"dataset {spec.name}: {spec.task}{kind}, labels {', '.join(spec.labels)}{positive}\n"
        f"{len(cases)} cases{groups}, {len(images)} images, {texts}"
    )


def _cases_table(spec: DatasetSpec, cases: pd.DataFrame) -> str:
    counts = pd.crosstab(cases["centre"], cases["label"]).reindex(columns=list(spec.labels), fill_value=0)
    if spec.centres:  # declared order, and declared centres without cases show as zeros
        counts = counts.reindex(index=list(spec.centres), fill_value=0)
    rows = [[centre, *map(str, row), str(sum(row))] for centre, row in zip(counts.index, counts.to_numpy().tolist())]
    totals = counts.sum(axis=0).tolist()
    rows.append(["total", *map(str, totals), str(sum(totals))])
    return "cases per centre and label:\n" + _format_table(["centre", *spec.labels, "total"], rows)


def _images_table(root: Path, spec: DatasetSpec, cases: pd.DataFrame, images: pd.DataFrame) -> str:
    per_case = images.groupby(["modality", "case_id"]).size()
    rows = []
    for name, modality in spec.modalities.items():
        counts = per_case.get(name, pd.Series(dtype=int)).reindex(cases["case_id"], fill_value=0)
        modes = Counter(image_mode(root / p) for p in images.loc[images["modality"] == name, "path"].unique())
        rows.append(
            [
                name,
                str(modality.channels),
                str(int(counts.sum())),
                str(int(counts.min())) if len(counts) else "0",
                _number(counts.median()) if len(counts) else "0",
                str(int(counts.max())) if len(counts) else "0",
                ", ".join(f"{mode} {n}" for mode, n in sorted(modes.items())) or "-",
            ]
        )
    header = ["modality", "channels", "images", "per case min", "median", "max", "image modes"]
    return "images per modality:\n" + _format_table(header, rows)


def _coverage(spec: DatasetSpec, cases: pd.DataFrame, images: pd.DataFrame) -> str:
    """Cases per combination of modalities present (only shown for datasets with several modalities)."""
    if len(spec.modalities) < 2:
        return ""
    have = images.groupby("case_id")["modality"].agg(set).reindex(cases["case_id"])
    combos = Counter(
        "+".join(m for m in spec.modalities if isinstance(mods, set) and m in mods) or "(none)" for mods in have
    )
    order = sorted(combos.items(), key=lambda item: (-item[0].count("+"), -item[1], item[0]))
    rows = [[combo, str(n)] for combo, n in order]
    complete = combos.get("+".join(spec.modalities), 0)
    return f"modality coverage (cases): {complete} of {len(cases)} have every modality\n" + _format_table(
        ["modalities", "cases"], rows
    )


def _reports_table(reports: pd.DataFrame) -> str:
    columns = [c for c in reports.columns if c == "report" or c.startswith(SECTION_PREFIX)]
    if not columns or reports.empty:
        return ""
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
            counts = cases[column].str.strip().value_counts()
            parts = [f"{v} {int(counts.get(v, 0))}" for v in vocabulary]
            if counts.get("", 0):
                parts.append(f"not annotated {int(counts[''])}")
            lines.append(f"  {column}: " + ", ".join(parts))
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
