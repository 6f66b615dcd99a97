"""Checks of `reports.csv`: one non-empty report per known case, sections only for declared modalities."""

from __future__ import annotations

from mmdiag.data.format import REQUIRED_REPORT_COLUMNS, SECTION_PREFIX
from mmdiag.data.validation.csv_table import CsvTable, first_occurrences, require_columns, require_values
from mmdiag.data.validation.spec_check import SpecFacts
from mmdiag.data.validation.violation import Violation


def check_reports(
    table: CsvTable, facts: SpecFacts, case_lines: dict[str, int] | None, violations: list[Violation]
) -> None:
    """Validate reports.csv and that every case of cases.csv has exactly one report.

    A `report.<modality>` column, when present, replaces the whole report for that modality, so its
    cells must be non-empty too (an empty section would train on empty text).
    """
    require_columns(table, REQUIRED_REPORT_COLUMNS, violations)
    sections = [c for c in table.header if c.startswith(SECTION_PREFIX)]
    if facts.modalities is not None:
        for column in sections:
            modality = column[len(SECTION_PREFIX) :]
            if modality not in facts.modalities:
                violations.append(
                    Violation(
                        table.name,
                        1,
                        column,
                        f"report section for modality {modality!r}, which dataset.yaml does "
                        f"not declare ({', '.join(facts.modalities)})",
                    )
                )
    require_values(table, ["case_id"], violations)
    _check_texts(table, ["report", *sections], violations)
    if not table.has("case_id"):
        return
    report_lines: dict[str, int] = {}
    repeat = "second report for case {!r} (first at line {})".format
    for record in first_occurrences(table, "case_id", violations, repeat):
        case_id = record.get("case_id")
        report_lines[case_id] = record.line
        if record.complete and case_lines is not None and case_id not in case_lines:
            violations.append(Violation(table.name, record.line, "case_id", f"case {case_id!r} is not in cases.csv"))
    if case_lines is not None:
        for case_id, case_line in case_lines.items():
            if case_id not in report_lines:
                violations.append(
                    Violation(table.name, None, None, f"case {case_id!r} (cases.csv:{case_line}) has no report")
                )


def _check_texts(table: CsvTable, columns: list[str], violations: list[Violation]) -> None:
    present = [c for c in columns if table.has(c)]
    for record in table.complete_records:
        for column in present:
            if not record.get(column).strip():
                violations.append(Violation(table.name, record.line, column, "report text is empty"))
