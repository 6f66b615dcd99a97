"""Checks of `images.csv`: case ids, modalities, safe relative paths, existing files, per-case coverage."""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath, PureWindowsPath

from mmdiag.data.validation.csv_table import CsvTable, require_columns, require_values
from mmdiag.data.validation.image_decode import check_image_files
from mmdiag.data.validation.spec_check import SpecFacts
from mmdiag.data.validation.violation import Violation, quote_list

REQUIRED_COLUMNS = ("case_id", "modality", "path")


def check_images(
    root: Path,
    table: CsvTable,
    facts: SpecFacts,
    case_lines: dict[str, int] | None,
    check_decode: bool,
    violations: list[Violation],
) -> None:
    """Validate images.csv rows and that every case has at least one image of every modality."""
    if not require_columns(table, REQUIRED_COLUMNS, violations):
        # Without all three columns the rows cannot be interpreted; coverage would be all false alarms.
        return
    require_values(table, REQUIRED_COLUMNS, violations)
    name = table.name
    seen_rows: dict[tuple[str, str, str], int] = {}
    covered: set[tuple[str, str]] = set()
    to_decode: list[tuple[int, str]] = []
    for record in table.records:
        case_id, modality, rel_path = record.get("case_id"), record.get("modality"), record.get("path")
        covered.add((case_id, modality))
        key = (case_id, modality, rel_path)
        if key in seen_rows:
            violations.append(
                Violation(
                    name,
                    record.line,
                    "path",
                    f"duplicate of line {seen_rows[key]} (same case, modality and path)",
                )
            )
            continue
        seen_rows[key] = record.line
        if not record.complete:
            continue
        if case_lines is not None and case_id.strip() and case_id not in case_lines:
            violations.append(Violation(name, record.line, "case_id", f"case {case_id!r} is not in cases.csv"))
        if facts.modalities is not None and modality.strip() and modality not in facts.modalities:
            violations.append(
                Violation(
                    name,
                    record.line,
                    "modality",
                    f"{modality!r} is not one of the modalities in dataset.yaml ({quote_list(facts.modalities)})",
                )
            )
        if rel_path.strip() and _check_path(root, name, record.line, rel_path, violations):
            to_decode.append((record.line, rel_path))
    if check_decode:
        check_image_files(root, name, to_decode, violations)
    if case_lines is not None and facts.modalities is not None:
        for case_id, case_line in case_lines.items():
            for modality in facts.modalities:
                if (case_id, modality) not in covered:
                    violations.append(
                        Violation(
                            name,
                            None,
                            None,
                            f"case {case_id!r} (cases.csv:{case_line}) has no {modality!r} image",
                        )
                    )


def _check_path(root: Path, table_name: str, line: int, rel_path: str, violations: list[Violation]) -> bool:
    """True when `rel_path` is a safe relative path to an existing file (then it may be decoded).

    The check is lexical (`..`), not `resolve()`-based, so `images/` may be a symlink to bulk storage.
    """
    message = None
    if "\\" in rel_path:
        message = f"{rel_path!r} uses '\\' as a separator; write paths with '/'"
    elif PurePosixPath(rel_path).is_absolute() or PureWindowsPath(rel_path).drive:
        message = f"{rel_path!r} is absolute; paths must be relative to the dataset folder"
    elif posixpath.normpath(rel_path).split("/")[0] == "..":
        message = f"{rel_path!r} points outside the dataset folder"
    else:
        target = root / rel_path
        if not target.exists():
            message = f"file {rel_path} does not exist"
        elif not target.is_file():
            message = f"{rel_path} is not a file"
    if message is None:
        return True
    violations.append(Violation(table_name, line, "path", message))
    return False
