"""The generic result table: label columns, value columns (point + 95% CI), best-per-column, provenance.

Every paper table of every study is a `Table`: a builder turns runs into `Row`s, `mmdiag.reporting.render`
writes it as CSV, Markdown, LaTeX (booktabs) and HTML, and `mmdiag.reporting.provenance` writes the sidecar
mapping each row to the run(s) it came from. A new table is a list of rows and a list of `Column`s::

    runs = [Run.load(p) for p in metrics_paths]
    rows = [metric_row(r, "test", {"Model": r.record["arm"]}, ["Acc", "F1_macro"]) for r in runs]
    table = Table("fusion_t3_strategies", "Fusion strategies", ["Model"], columns(["Acc", "F1_macro"]), rows)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mmdiag.reporting.runs import Cell, Run, any_synthetic

Best = Literal["max", "min"] | None
SYNTHETIC_NOTE = "Synthetic data — not a clinical result."
# the evaluation warning flagged in the caption (C7): "the model predicts one class ('<label>') for every case ..."
ONE_CLASS = ("predicts one class (", ") for every case")


def format_number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def format_p(value: float) -> str:
    """p-values: three decimals, `<0.001` below that (no false precision)."""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def format_int(value: float) -> str:
    return f"{value:.0f}"


@dataclass(frozen=True)
class Column:
    """A value column.

    Attributes:
        name: header, also the CSV column (`<name>_low`/`<name>_high` hold the interval).
        best: mark the highest (`max`) or lowest (`min`) defined value per group, or nothing (None).
        fmt: number formatter for Markdown/LaTeX/HTML (`format_number`, `format_p`, `format_int`, ...).
    """

    name: str
    best: Best = "max"
    fmt: Callable[[float], str] = format_number


def columns(names: Iterable[str], best: Best = "max") -> list[Column]:
    return [Column(n, best) for n in names]


@dataclass
class Row:
    """One table row: its labels, its values, the runs it came from, and its group (best is per group).

    `warnings` are the evaluation warnings (C7) of the run(s) and set(s) the row shows; the renderers print
    them under the table.
    """

    labels: dict[str, str]
    cells: dict[str, Cell]
    runs: list[Run] = field(default_factory=list)
    group: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Table:
    """A result table. `notes` are printed under it; `extras` go to the provenance sidecar as-is.

    `left_out` lists what the DAG did not run for this dataset, one line each ("stage-1 arms — the dataset
    has no reports"); it is printed under the table and recorded in the sidecar.
    """

    name: str
    caption: str
    label_columns: list[str]
    columns: list[Column]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names) or set(names) & set(self.label_columns):
            raise ValueError(f"{self.name}: column names must be unique, got {self.label_columns + names}")
        for i, row in enumerate(self.rows):
            missing = set(self.label_columns) - set(row.labels)
            if missing:
                raise ValueError(f"{self.name}: row {i} lacks label(s) {sorted(missing)}")

    @property
    def synthetic(self) -> bool:
        """True when any row comes from a synthetic dataset."""
        return any_synthetic(r for row in self.rows for r in row.runs)

    @property
    def one_class_rows(self) -> list[str]:
        """Labels of the rows whose model predicts one class for every case of a set they show."""
        return [self.row_name(row) for row in self.rows if any(all(p in w for p in ONE_CLASS) for w in row.warnings)]

    def row_name(self, row: Row) -> str:
        return " / ".join(row.labels[c] for c in self.label_columns)

    @property
    def full_caption(self) -> str:
        caption = self.caption
        flagged = self.one_class_rows
        if flagged:
            caption += (
                f" Warning: {len(flagged)} row(s) come from a model that predicts one class for every test case "
                f"({'; '.join(flagged)}); their SEN/SPE/balanced accuracy are not comparable (see notes)."
            )
        return f"{caption} {SYNTHETIC_NOTE}" if self.synthetic else caption

    def with_ci(self, column: Column) -> bool:
        return any(row.cells.get(column.name, Cell(math.nan)).has_ci for row in self.rows)

    def best_cells(self) -> set[tuple[int, str]]:
        """(row index, column name) of every best value, per group; ties are all best, NaN never.

        A value whose interval has zero width (e.g. 0.500 [0.500, 0.500]: the bootstrap saw no variation,
        typically a one-class or tiny set) is never marked either; it still counts as a rival, so when it
        is the top value nothing in that column is called best.
        """
        marked: set[tuple[int, str]] = set()
        groups: dict[str | None, list[int]] = {}
        for i, row in enumerate(self.rows):
            groups.setdefault(row.group, []).append(i)
        for col in self.columns:
            if col.best is None:
                continue
            for members in groups.values():
                cells = {i: self.rows[i].cells.get(col.name, Cell(math.nan)) for i in members}
                defined = {i: c.point for i, c in cells.items() if c.point is not None and math.isfinite(c.point)}
                if len(defined) < 2:
                    continue  # a lone value is not "best" of anything
                target = max(defined.values()) if col.best == "max" else min(defined.values())
                marked.update((i, col.name) for i, v in defined.items() if v == target and not cells[i].zero_width)
        return marked


def metric_row(
    run: Run,
    evalset: str,
    labels: dict[str, str],
    keys: Sequence[str] | Mapping[str, str],
    group: str | None = None,
) -> Row:
    """A row from one run on one evaluation set, carrying that evaluation's warnings.

    Args:
        keys: metric/CI/attribute keys of `metrics.json` (`Acc`, `F1_macro`, `P-Acc`), used as column names, or
            a mapping column name -> key (e.g. `{"G-Acc": "Acc"}`).
    """
    mapping = dict(keys) if isinstance(keys, Mapping) else {k: k for k in keys}
    cells = {col: run.cell(evalset, key) for col, key in mapping.items()}
    return Row(dict(labels), cells, [run], group, run_warnings(run, evalset))


def run_warnings(run: Run, evalset: str) -> list[str]:
    """The run's warnings on `evalset`, each prefixed with the set's name."""
    return [f"{evalset}: {w}" for w in run.warnings(evalset)]


def as_lines(items: Iterable[Any] | None) -> list[str]:
    """`left_out` entries as one line each: strings as they are, `(what, reason)` pairs, mappings or objects with
    `what`/`reason` (e.g. `mmdiag.plan.LeftOut`) as "what — reason"."""
    out = []
    for item in items or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(f"{item['what']} — {item['reason']}")
        elif hasattr(item, "what") and hasattr(item, "reason"):
            out.append(f"{item.what} — {item.reason}")
        else:
            what, reason = item
            out.append(f"{what} — {reason}")
    return out
