"""Write a `Table` as CSV, Markdown, LaTeX (booktabs) and HTML, plus its provenance sidecar.

CSV is for scripts: raw floats, `<col>_low`/`<col>_high` beside every column that has intervals, and a
`best` column listing (`;`-separated) the columns in which that row is best (within its group). Markdown,
LaTeX and HTML are for people: `point [low, high]` (or `mean ± sd` for a mean over seeds), best values in
bold, the caption above and the notes (CI method, the table's own notes such as the Bayes accuracy, the
evaluation warnings of the runs shown, what was left out) below. Mean columns add `<col>_sd` and `<col>_n`
to the CSV.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmdiag.io import write_text
from mmdiag.reporting.runs import Cell
from mmdiag.reporting.table import SYNTHETIC_NOTE, Column, Table

log = logging.getLogger(__name__)
DASH = "–"  # undefined value (e.g. P-Acc of an arm without attribute classifiers)
CI_NOTE = "Brackets: 95% confidence interval (percentile bootstrap resampling cases, not images)."
ZERO_WIDTH_NOTE = " Undefined values and values with a zero-width interval are never marked."


@dataclass(frozen=True)
class Shown:
    """A value cell as displayed: number text, interval text, bold flag."""

    text: str
    interval: str
    bold: bool


def display_rows(table: Table) -> list[list[str | Shown]]:
    best = table.best_cells()
    out: list[list[str | Shown]] = []
    for i, row in enumerate(table.rows):
        cells: list[str | Shown] = [row.labels[c] for c in table.label_columns]
        for col in table.columns:
            cells.append(_shown(row.cells.get(col.name), col, (i, col.name) in best))
        out.append(cells)
    return out


def _shown(cell: Cell | None, col: Column, bold: bool) -> Shown:
    if cell is None or not cell.defined:
        return Shown(DASH, "", False)
    if cell.n:  # a mean over repeats: meaningful with two or more
        if not cell.has_sd:
            return Shown(DASH, "", False)
        return Shown(f"{col.fmt(cell.point)} ± {col.fmt(cell.sd)}", "", bold)
    interval = f"[{col.fmt(cell.low)}, {col.fmt(cell.high)}]" if cell.has_ci else ""
    return Shown(col.fmt(cell.point), interval, bold)


def with_sd(table: Table, col: Column) -> bool:
    """True for a column of means over repeats (its cells carry n)."""
    return any(row.cells.get(col.name, Cell(0.0)).n for row in table.rows)


def warning_notes(table: Table) -> list[str]:
    """One note per distinct evaluation warning of the rows, naming the rows it concerns."""
    rows_of: dict[str, list[str]] = {}
    for row in table.rows:
        for w in row.warnings:
            names = rows_of.setdefault(w, [])
            if table.row_name(row) not in names:
                names.append(table.row_name(row))
    out = []
    for w, names in rows_of.items():
        which = "all rows" if len(names) == len(table.rows) and len(names) > 1 else f"rows: {'; '.join(names)}"
        out.append(f"Warning ({which}): {w}.")
    return out


def notes(table: Table) -> list[str]:
    """Notes printed under the table, in order: method notes, the table's own notes, warnings, left out."""
    out = []
    if any(table.with_ci(c) for c in table.columns):
        out.append(CI_NOTE)
    if table.best_cells():
        grouped = len({row.group for row in table.rows}) > 1
        out.append("Bold: best value per column" + (" within each group." if grouped else ".") + ZERO_WIDTH_NOTE)
    out += list(table.notes)
    out += warning_notes(table)
    out += [line if line.lower().startswith("left out") else f"Left out: {line}" for line in table.left_out]
    return out


def group_starts(table: Table) -> set[int]:
    """Row indices that open a new group (a rule is drawn above them)."""
    return {i for i in range(1, len(table.rows)) if table.rows[i].group != table.rows[i - 1].group}


# ------------------------------------------------------------------------------------------------ CSV
def to_frame(table: Table) -> pd.DataFrame:
    """The machine-readable form: labels, raw values with their intervals, and the `best` marker column."""
    best = table.best_cells()
    records = []
    for i, row in enumerate(table.rows):
        rec: dict[str, object] = {c: row.labels[c] for c in table.label_columns}
        for col in table.columns:
            cell = row.cells.get(col.name)
            rec[col.name] = cell.point if cell is not None else None
            if table.with_ci(col):
                rec[f"{col.name}_low"] = cell.low if cell is not None and cell.has_ci else None
                rec[f"{col.name}_high"] = cell.high if cell is not None and cell.has_ci else None
            if with_sd(table, col):
                rec[f"{col.name}_sd"] = cell.sd if cell is not None and cell.has_sd else None
                rec[f"{col.name}_n"] = cell.n if cell is not None else None
        rec["best"] = ";".join(c.name for c in table.columns if (i, c.name) in best)
        records.append(rec)
    return pd.DataFrame.from_records(records)


def to_csv(table: Table) -> str:
    return to_frame(table).to_csv(index=False)


# ------------------------------------------------------------------------------------------- Markdown
def to_markdown(table: Table) -> str:
    def cell(c: str | Shown) -> str:
        if isinstance(c, str):
            return c.replace("|", "\\|")
        text = f"**{c.text}**" if c.bold else c.text
        return f"{text} {c.interval}".strip()

    header = table.label_columns + [c.name for c in table.columns]
    body = [[cell(c) for c in row] for row in display_rows(table)]
    align = ["left"] * len(table.label_columns) + ["right"] * len(table.columns)
    grid = pd.DataFrame(body, columns=header).to_markdown(index=False, colalign=align, disable_numparse=True)
    foot = "".join(f"\n{n}\n" for n in notes(table))
    return f"**Table `{table.name}`.** {table.full_caption}\n\n{grid}\n{foot}"


# ---------------------------------------------------------------------------------------------- LaTeX
_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "—": "---",
    "–": "--",
    "Δ": r"$\Delta$",
    "χ": r"$\chi$",
    "²": r"$^2$",
    "±": r"$\pm$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "·": r"$\cdot$",
}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX_SPECIAL))


def tex_escape(text: str) -> str:
    return _TEX_RE.sub(lambda m: _TEX_SPECIAL[m.group()], text)


def to_latex(table: Table) -> str:
    """A booktabs `table` float (needs `\\usepackage{booktabs}`); label `tab:<name>`."""

    def cell(c: str | Shown) -> str:
        if isinstance(c, str):
            return tex_escape(c)
        text = tex_escape(c.text)
        text = rf"\textbf{{{text}}}" if c.bold else text
        return f"{text} {tex_escape(c.interval)}".strip()

    spec = "l" * len(table.label_columns) + "r" * len(table.columns)
    header = " & ".join(tex_escape(h) for h in table.label_columns + [c.name for c in table.columns])
    starts = group_starts(table)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{tex_escape(table.full_caption)}}}",
        rf"\label{{tab:{table.name}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        header + r" \\",
        r"\midrule",
    ]
    for i, row in enumerate(display_rows(table)):
        if i in starts:
            lines.append(r"\midrule")
        lines.append(" & ".join(cell(c) for c in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    foot = notes(table)
    if foot:
        lines.append(r"\par\smallskip{\footnotesize " + r" \\ ".join(tex_escape(n) for n in foot) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- HTML
HTML_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .5em; max-width: 60em; }
th, td { padding: .25em .5em; vertical-align: top; }
td { max-width: 16em; }
td.num, th.num { white-space: nowrap; text-align: right; max-width: none; }
thead th { border-top: 2px solid #222; border-bottom: 1px solid #222; text-align: left; }
tbody tr:last-child td { border-bottom: 2px solid #222; }
tr.group-start td { border-top: 1px solid #888; }
td .ci { color: #666; font-size: 11px; }
p.note { font-size: 12px; color: #444; margin: .3em 0; max-width: 60em; }
p.synthetic { color: #a00; font-weight: 600; }
"""


def table_fragment(table: Table) -> str:
    """`<section class="mmdiag-table">` holding the table and its notes (embedded by the study overview)."""

    def cell(c: str | Shown) -> str:
        if isinstance(c, str):
            return f"<td>{html.escape(c)}</td>"
        text = f"<b>{html.escape(c.text)}</b>" if c.bold else html.escape(c.text)
        ci = f' <span class="ci">{html.escape(c.interval)}</span>' if c.interval else ""
        return f'<td class="num">{text}{ci}</td>'

    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.label_columns)
    head += "".join(f'<th class="num">{html.escape(c.name)}</th>' for c in table.columns)
    starts = group_starts(table)
    body = "\n".join(
        ('<tr class="group-start">' if i in starts else "<tr>") + "".join(cell(c) for c in row) + "</tr>"
        for i, row in enumerate(display_rows(table))
    )
    foot = "\n".join(f'<p class="note">{html.escape(n)}</p>' for n in notes(table))
    warning = f'<p class="note synthetic">{SYNTHETIC_NOTE}</p>' if table.synthetic else ""
    return (
        f'<section class="mmdiag-table" id="{html.escape(table.name)}">\n'
        f"<table>\n<caption>Table <code>{html.escape(table.name)}</code>. {html.escape(table.full_caption)}</caption>\n"
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n{warning}\n{foot}\n</section>\n"
    )


def html_page(title: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{HTML_STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def to_html(table: Table) -> str:
    return html_page(table.name, table_fragment(table))


SECTION_RE = re.compile(r'<section class="mmdiag-table".*?</section>', re.S)


def extract_fragment(page: str) -> str:
    """The table section of a page written by `to_html` (the overview embeds it)."""
    match = SECTION_RE.search(page)
    if match is None:
        raise ValueError("no mmdiag table section in the page")
    return match.group()


# ---------------------------------------------------------------------------------------------- write
RENDERERS: dict[str, Callable[[Table], str]] = {
    "csv": to_csv,
    "md": to_markdown,
    "tex": to_latex,
    "html": to_html,
}


def write_table(table: Table, provenance: str | Path | None = None, **paths: str | Path) -> None:
    """Write `table` in each format given by keyword (`csv=`, `md=`, `tex=`, `html=`) and its sidecar."""
    from mmdiag.reporting.provenance import write_sidecar

    unknown = set(paths) - set(RENDERERS)
    if unknown:
        raise ValueError(f"unknown table format(s) {sorted(unknown)}; known: {sorted(RENDERERS)}")
    for line in warning_notes(table):  # the job's log says it too, not only the table
        log.warning("%s: %s", table.name, line)
    if table.one_class_rows:
        log.warning("%s: model(s) predicting one class for every case: %s", table.name, "; ".join(table.one_class_rows))
    for fmt, path in paths.items():
        write_text(path, RENDERERS[fmt](table))
    if provenance is not None:
        write_sidecar(table, provenance)
