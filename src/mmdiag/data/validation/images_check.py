"""Checks of `images.csv`: case ids, modalities, safe relative paths, existing files, one image per group."""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath, PureWindowsPath

from mmdiag.data.format import REQUIRED_IMAGE_COLUMNS
from mmdiag.data.validation.csv_table import CsvTable, require_columns, require_values
from mmdiag.data.validation.image_decode import check_image_files
from mmdiag.data.validation.spec_check import SpecFacts
from mmdiag.data.validation.violation import Violation, quote_list


def check_images(
    root: Path,
    table: CsvTable,
    facts: SpecFacts,
    case_lines: dict[str, int] | None,
    groups: dict[str, str],
    check_decode: bool,
    violations: list[Violation],
) -> None:
    """Validate images.csv rows, that every case has an image, and that no image serves two groups.

    A case may lack a modality (the summary reports the coverage); a case without any image is an
    error. One file (same path after normalisation or, when decoding, the same bytes) listed for cases
    of different groups is refused: those cases could land in train and test with the same pixels.
    """
    if not require_columns(table, REQUIRED_IMAGE_COLUMNS, violations):
        # Without all three columns the rows cannot be interpreted; coverage would be all false alarms.
        return
    require_values(table, REQUIRED_IMAGE_COLUMNS, violations)
    name = table.name
    seen_rows: dict[tuple[str, str, str], int] = {}
    covered: set[str] = set()
    to_decode: list[tuple[int, str]] = []
    owner: dict[str, tuple[str, int]] = {}  # normalised path -> (case, line) of its first row
    rows_of_path: dict[str, list[tuple[str, int]]] = {}
    for record in table.records:
        case_id, modality, rel_path = record.get("case_id"), record.get("modality"), record.get("path")
        covered.add(case_id)
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
        if not rel_path.strip():
            continue
        known_case = case_lines is None or case_id in case_lines  # an unknown case is reported above
        normalised = posixpath.normpath(rel_path)
        first = owner.setdefault(normalised, (case_id, record.line)) if known_case else (case_id, record.line)
        if _other_group(groups, first[0], case_id):
            violations.append(Violation(name, record.line, "path", _shared(rel_path, "is also listed", first)))
            continue
        if _check_path(root, name, record.line, rel_path, violations):
            to_decode.append((record.line, rel_path))
            if known_case:
                rows_of_path.setdefault(rel_path, []).append((case_id, record.line))
    if check_decode:
        digests = check_image_files(root, name, to_decode, violations)
        _check_same_bytes(name, digests, rows_of_path, groups, violations)
    if case_lines is not None:
        for case_id, case_line in case_lines.items():
            if case_id not in covered:
                violations.append(
                    Violation(
                        name,
                        None,
                        None,
                        f"case {case_id!r} (cases.csv:{case_line}) has no image; every case needs at least one",
                    )
                )


def _other_group(groups: dict[str, str], a: str, b: str) -> bool:
    return groups.get(a, a) != groups.get(b, b)


def _shared(rel_path: str, how: str, first: tuple[str, int]) -> str:
    case, line = first
    return (
        f"{rel_path} {how} for case {case!r} (line {line}) of another group: the same image must not belong "
        "to two cases that could land in train and test; remove one row or give the cases one group_id"
    )


def _check_same_bytes(
    name: str,
    digests: dict[str, str],
    rows_of_path: dict[str, list[tuple[str, int]]],
    groups: dict[str, str],
    violations: list[Violation],
) -> None:
    """Distinct paths with identical bytes, listed for cases of different groups (copies of one image)."""
    first_of_digest: dict[str, tuple[str, str, int]] = {}  # digest -> (path, case, line)
    for rel_path, rows in sorted(rows_of_path.items(), key=lambda item: item[1][0][1]):
        digest = digests.get(rel_path)
        if digest is None:
            continue
        first = first_of_digest.setdefault(digest, (rel_path, *rows[0]))
        if first[0] == rel_path:
            continue
        for case_id, line in rows:
            if _other_group(groups, first[1], case_id):
                how = f"has the same bytes as {first[0]}, listed"
                violations.append(Violation(name, line, "path", _shared(rel_path, how, first[1:])))
                break


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
