"""Checks of `cases.csv`: required columns and cells, unique ids, labels, centres, splits, attributes.

An empty attribute cell is allowed: it means "not annotated for this case" (sparse annotation); a
non-empty one must be a value of the attribute's vocabulary.
"""

from __future__ import annotations

from mmdiag.data.format import REQUIRED_CASE_COLUMNS
from mmdiag.data.validation.csv_table import CsvTable, first_occurrences, require_columns, require_values
from mmdiag.data.validation.spec_check import SpecFacts
from mmdiag.data.validation.violation import Violation, quote_list

SPLITS = ("train", "val", "test")


def check_cases(table: CsvTable, facts: SpecFacts, violations: list[Violation]) -> dict[str, int] | None:
    """Validate cases.csv; returns case_id -> line of its row, or None when there is no case_id column.

    The returned map lets images.csv and reports.csv name the cases.csv line of a case they lack.
    """
    require_columns(table, REQUIRED_CASE_COLUMNS, violations)
    require_values(table, REQUIRED_CASE_COLUMNS, violations)
    for column in facts.attribute_vocab:
        if not table.has(column):
            modality, attribute = column.split(".", 1)
            violations.append(
                Violation(
                    table.name,
                    1,
                    column,
                    f"attribute column is missing (dataset.yaml declares {attribute!r} for modality {modality!r})",
                )
            )
    if not table.records:
        violations.append(
            Violation(table.name, None, None, "holds no cases (only its header line); a dataset needs cases")
        )
    _check_values(table, facts, violations)
    _check_group_splits(table, violations)
    if not table.has("case_id"):
        return None
    repeat = "duplicate case_id {!r} (first at line {})".format
    return {r.get("case_id"): r.line for r in first_occurrences(table, "case_id", violations, repeat)}


def _check_values(table: CsvTable, facts: SpecFacts, violations: list[Violation]) -> None:
    """Cell values against dataset.yaml's vocabularies (empty required cells are reported elsewhere)."""
    name = table.name
    declared = (("label", facts.labels), ("centre", facts.centres))  # column, what dataset.yaml allows
    for record in table.complete_records:
        for column, allowed in declared:
            value = record.get(column)
            if allowed is not None and table.has(column) and value.strip() and value not in allowed:
                message = f"{value!r} is not one of the {column}s in dataset.yaml ({quote_list(allowed)})"
                violations.append(Violation(name, record.line, column, message))
        split = record.get("split")
        if table.has("split") and split and split not in SPLITS:
            violations.append(
                Violation(
                    name,
                    record.line,
                    "split",
                    f"{split!r} is not a split; use train, val, test or leave it empty",
                )
            )
        for column, vocabulary in facts.attribute_vocab.items():
            if not table.has(column):
                continue
            value = record.get(column)
            if not value.strip():
                continue  # not annotated for this case (sparse annotation)
            if value not in vocabulary:
                allowed = quote_list(vocabulary)
                message = f"{value!r} is not in the vocabulary of {column} in dataset.yaml ({allowed})"
                violations.append(Violation(name, record.line, column, message))


def _check_group_splits(table: CsvTable, violations: list[Violation]) -> None:
    """Cases of one group (patient) must not sit in different official splits: that would leak."""
    if not (table.has("group_id") and table.has("split")):
        return
    first_in_group: dict[str, tuple[str, str, int]] = {}  # group -> (split, case_id, line)
    for record in table.complete_records:
        split = record.get("split")
        if split not in SPLITS:
            continue
        group = record.get("group_id").strip() or record.get("case_id")
        if group not in first_in_group:
            first_in_group[group] = (split, record.get("case_id"), record.line)
            continue
        first_split, first_case, first_line = first_in_group[group]
        if split != first_split:
            violations.append(
                Violation(
                    table.name,
                    record.line,
                    "split",
                    f"case {record.get('case_id')!r} is in {split!r} but case {first_case!r} of the same "
                    f"group {group!r} (line {first_line}) is in {first_split!r}; "
                    "a group must stay in one split",
                )
            )


def case_groups(table: CsvTable) -> dict[str, str]:
    """case_id -> group (its `group_id`, or the case itself when empty or absent), for cross-file checks."""
    if not table.has("case_id"):
        return {}
    return {
        r.get("case_id"): (r.get("group_id").strip() or r.get("case_id"))
        for r in table.records
        if r.get("case_id").strip()
    }
