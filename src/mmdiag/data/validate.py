"""Validate a BYO dataset folder with file/line/column messages, and summarise a valid one.

`validate_dataset` collects every violation instead of stopping at the first, so one run of
`mmdiag validate-data` shows everything to fix; `check_dataset` turns them into a `DataFormatError`
(what `mmdiag.data.byo.load_dataset` and the pipeline's first rule rely on). The checks themselves
live in `mmdiag.data.validation`, one module per file of the format.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmdiag.data.format import CASES_CSV, DATASET_YAML, FILES, IMAGES_CSV, OPTIONAL_FILES, REPORTS_CSV, REQUIRED_FILES
from mmdiag.data.validation.cases_check import case_groups, check_cases
from mmdiag.data.validation.csv_table import CsvTable, read_csv_table
from mmdiag.data.validation.images_check import check_images as check_image_table
from mmdiag.data.validation.reports_check import check_reports
from mmdiag.data.validation.spec_check import SpecFacts, check_spec
from mmdiag.data.validation.summary import summarize
from mmdiag.data.validation.violation import Violation, sort_violations
from mmdiag.errors import DataFormatError

__all__ = ["Violation", "check_dataset", "main", "summarize", "validate_dataset"]


def validate_dataset(root: str | Path, check_images: bool = True) -> list[Violation]:
    """Every format violation in the folder `root`, sorted by file then line (empty when valid).

    Args:
        root: the dataset folder.
        check_images: also open every image file to check it decodes (otherwise only that it exists).
    """
    root = Path(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        return [Violation(str(root), None, None, f"dataset folder {what}")]
    violations: list[Violation] = []
    present = {name: (root / name).is_file() for name in FILES}
    for name in REQUIRED_FILES:
        if not present[name]:
            violations.append(Violation(name, None, None, "required file is missing"))
    for name in OPTIONAL_FILES:
        if (root / name).exists() and not present[name]:
            violations.append(Violation(name, None, None, "is not a regular file"))

    facts = SpecFacts()
    if present[DATASET_YAML]:
        facts, spec_violations = check_spec(root)
        violations += spec_violations
    tables: dict[str, CsvTable | None] = {
        name: read_csv_table(root / name, violations) if present[name] else None
        for name in (CASES_CSV, IMAGES_CSV, REPORTS_CSV)
    }
    case_lines = None
    groups: dict[str, str] = {}
    if (cases := tables[CASES_CSV]) is not None:
        case_lines = check_cases(cases, facts, violations)
        groups = case_groups(cases)
    if (images := tables[IMAGES_CSV]) is not None:
        check_image_table(root, images, facts, case_lines, groups, check_images, violations)
    if (reports := tables[REPORTS_CSV]) is not None:
        check_reports(reports, facts, case_lines, violations)
    return sort_violations(violations)


def check_dataset(root: str | Path, check_images: bool = True) -> None:
    """Raise `DataFormatError` listing every violation when `root` is not a valid BYO folder."""
    violations = validate_dataset(root, check_images=check_images)
    if violations:
        raise DataFormatError(str(root), violations)


def main(argv: list[str]) -> int:
    """`mmdiag validate-data <folder> [--no-images] [--quiet]`: 0 when valid, 1 with the violations."""
    parser = argparse.ArgumentParser(
        prog="mmdiag validate-data",
        description="Check a dataset folder against the BYO format (docs/data_format.md) and summarise it.",
    )
    parser.add_argument("folder", type=Path, help="the dataset folder (holding dataset.yaml)")
    parser.add_argument("--no-images", action="store_true", help="check image files exist, but do not decode them")
    parser.add_argument("--quiet", action="store_true", help="print nothing when the folder is valid")
    args = parser.parse_args(argv)
    violations = validate_dataset(args.folder, check_images=not args.no_images)
    if violations:
        for violation in violations:
            print(violation)
        print(f"{args.folder}: {len(violations)} format error(s)", file=sys.stderr)
        return 1
    if not args.quiet:
        print(summarize(args.folder), end="")
    return 0
