"""One format violation, located by file, physical line and column."""

from __future__ import annotations

from dataclasses import dataclass

from mmdiag.data.format import FILES

# Files in the order a user fixes them: the spec first, then the tables that depend on it.
FILE_ORDER: dict[str, int] = {name: i for i, name in enumerate(FILES)}


@dataclass(frozen=True)
class Violation:
    """A single problem in a dataset folder.

    Attributes:
        file: file name relative to the dataset folder (`cases.csv`), or the folder itself when it is missing.
        line: 1-based physical line in the file (the CSV header is line 1), None for file-level problems.
        column: CSV column, or dotted key path in `dataset.yaml` (`modalities.eus.channels`); None if none.
        message: what is wrong, naming the offending value.
    """

    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        location = [self.file]
        if self.line is not None:
            location.append(str(self.line))
        if self.column:
            location.append(self.column)
        return f"{':'.join(location)}: {self.message}"


def sort_violations(violations: list[Violation]) -> list[Violation]:
    """Order by file (spec first), then line; file-level problems close their file's block.

    The sort is stable, so problems on one line keep the order they were found in (column order).
    """
    return sorted(
        violations,
        key=lambda v: (FILE_ORDER.get(v.file, -1), v.file, v.line is None, v.line or 0),
    )


def quote_list(values: tuple[str, ...] | list[str], limit: int = 12) -> str:
    """`a, b, c` for messages, shortened past `limit` values so a long vocabulary stays one line."""
    shown = ", ".join(values[:limit])
    return shown if len(values) <= limit else f"{shown}, ... ({len(values)} in all)"
