"""Read a BYO CSV keeping each record's physical line number, reporting structural damage.

pandas row indices drift from file lines as soon as a report spans several lines, so the validator
reads with the csv module and records where each record starts (`reader.line_num`). A field may be
up to `FIELD_LIMIT` characters (the csv module's own default, 128 KiB, is too small for long reports).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mmdiag.data.validation.violation import Violation

FIELD_LIMIT = 64 << 20  # characters per field; pandas (C parser) has no such limit
OTHER_SEPARATORS = (";", "\t", "|")


@dataclass(frozen=True)
class CsvRecord:
    """One data record.

    Attributes:
        line: physical line the record starts on (header = 1).
        values: column -> cell; a short record is padded with "" and extra fields are dropped.
        complete: False when the field count differs from the header's: its cells are unreliable, so
            only its ids are used (to avoid follow-on errors), not its values.
    """

    line: int
    values: dict[str, str]
    complete: bool

    def get(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass(frozen=True)
class CsvTable:
    """A parsed CSV: file name (for messages), header and records in file order."""

    name: str
    header: tuple[str, ...]
    records: tuple[CsvRecord, ...]

    def has(self, column: str) -> bool:
        return column in self.header

    @property
    def complete_records(self) -> list[CsvRecord]:
        return [r for r in self.records if r.complete]


def _decode(data: bytes, name: str, violations: list[Violation]) -> str:
    """UTF-8 text (a leading BOM, as Excel writes, is accepted); bad bytes are reported and replaced."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 1].hex()
        violations.append(Violation(name, line, None, f"not valid UTF-8 (byte 0x{bad}); save the file as UTF-8"))
        return data.decode("utf-8-sig", errors="replace")


def read_csv_table(path: Path, violations: list[Violation]) -> CsvTable | None:
    """Parse `path`, appending every structural violation; None when the file has no header."""
    name = path.name
    text = _decode(path.read_bytes(), name, violations)
    if (separator := _foreign_separator(text)) is not None:
        shown = {"\t": "a tab"}.get(separator, repr(separator))
        violations.append(
            Violation(
                name,
                1,
                None,
                f"the file seems to use {shown} as its separator; save it comma-separated "
                "(in Excel: 'CSV UTF-8 (Comma delimited)')",
            )
        )
        return None
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: tuple[str, ...] | None = None
    records: list[CsvRecord] = []
    last_line = 0
    while True:
        start = last_line + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                message = "a quoted field is never closed (the file ends inside quotes)"
            elif "field larger than field limit" in str(exc):
                message = f"a field is longer than {FIELD_LIMIT:,} characters (an unclosed quote?)"
            else:
                message = f"malformed quoting: {exc}"
            violations.append(Violation(name, start, None, message))
            last_line = reader.line_num
            continue
        last_line = reader.line_num
        if not fields:  # blank line: skipped, as pandas does
            continue
        if header is None:
            header = tuple(fields)
            _check_header(name, header, violations)
            continue
        complete = len(fields) == len(header)
        if not complete:
            violations.append(
                Violation(name, start, None, f"row has {len(fields)} fields, the header has {len(header)}")
            )
        padded = list(fields[: len(header)]) + [""] * (len(header) - len(fields))
        records.append(CsvRecord(start, dict(zip(header, padded)), complete))
    if header is None:
        violations.append(Violation(name, None, None, "file is empty; expected a header line"))
        return None
    return CsvTable(name, header, tuple(records))


def _foreign_separator(text: str) -> str | None:
    """`;`, tab or `|` when the header line is one field that splits on it into several, else None.

    A semicolon-separated export (Excel in many locales) otherwise reads as one column named
    'case_id;centre;label' and every check reports a missing column.
    """
    first = text.split("\n", 1)[0].rstrip("\r")
    if "," in first:
        return None
    counts = {sep: first.count(sep) for sep in OTHER_SEPARATORS}
    separator, count = max(counts.items(), key=lambda item: item[1])
    return separator if count else None


def _check_header(name: str, header: tuple[str, ...], violations: list[Violation]) -> None:
    """Repeated column names: pandas would silently rename the second one (`label.1`)."""
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            violations.append(Violation(name, 1, column, "column appears more than once in the header"))
        seen.add(column)


def require_columns(table: CsvTable, columns: tuple[str, ...] | list[str], violations: list[Violation]) -> bool:
    """Report each missing column (with a hint for near-misses such as ' label'); True if none is missing."""
    ok = True
    for column in columns:
        if table.has(column):
            continue
        ok = False
        near = [h for h in table.header if h.strip().lower() == column.lower()]
        hint = f" (found {near[0]!r}: check spaces and case)" if near else ""
        violations.append(Violation(table.name, 1, column, f"required column is missing{hint}"))
    return ok


def require_values(table: CsvTable, columns: tuple[str, ...] | list[str], violations: list[Violation]) -> None:
    """Report empty (or whitespace-only) cells of required columns in complete records."""
    present = [c for c in columns if table.has(c)]
    for record in table.complete_records:
        for column in present:
            if not record.get(column).strip():
                violations.append(Violation(table.name, record.line, column, "required value is empty"))


def first_occurrences(
    table: CsvTable, column: str, violations: list[Violation], repeat: Callable[[str, int], str]
) -> Iterator[CsvRecord]:
    """The records whose `column` holds a value not seen before (blank cells skipped), in file order.

    A later record with a value already seen is not yielded: it is a violation whose message is
    `repeat(value, line of the first)`. A generator, so those violations are appended in file order
    between the ones the caller adds for the records it is given.
    """
    first: dict[str, int] = {}
    for record in table.records:
        value = record.get(column)
        if not value.strip():
            continue
        if value in first:
            violations.append(Violation(table.name, record.line, column, repeat(value, first[value])))
            continue
        first[value] = record.line
        yield record
