"""CSV files: the strict reader of the data tables, the one writer of every CSV irsynth writes, and the readers of
the tables the stages write.

`read_text` reads a data table or template safely: only a regular file (links resolved; a folder, pipe or device is a
problem, never a hang), UTF-8 without NUL bytes. `read_table` keeps each row's line number for error messages. It
accepts a UTF-8 byte-order mark and CRLF line endings, drops rows that are entirely blank (trailing blank rows, rows
of bare commas), and reports in one line each: an empty file, a blank first line, a file separated by semicolons or
tabs, missing or unknown columns, duplicated headers, an unclosed quote (at the line where it opens), an over-long
field, and rows with the wrong number of fields.

Every CSV irsynth writes goes through `csv_text` (tables) or `csv_rows_text` (rows appended to data/): a text cell
that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return, and not a plain
number) is written with a leading single quote (the OWASP rule for CSV injection). The readers here remove that
quote again, so a value survives a round trip unchanged. `read_result`, `text_columns` and `read_effects` read back
the tables an earlier stage wrote (results/).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import stat
from pathlib import Path

import pandas as pd

from irsynth.problems import Problem

LINE = "_line"
# a cell a spreadsheet runs as a formula; cells already quoted this way get one more quote, so restoring is exact
_ESCAPED = re.compile(r"^'+[=+\-@\t\r]")
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
UTF8_HINT = "save it as UTF-8 (in a spreadsheet: 'CSV UTF-8')"


def neutralise(cell):
    """`cell` as written to CSV: a text cell a spreadsheet would read as a formula gets a leading single quote."""
    if isinstance(cell, str) and _FORMULA.match(cell) and not _NUMBER.match(cell):
        return "'" + cell
    return cell


def restore(cell):
    """The inverse of `neutralise`."""
    return cell[1:] if isinstance(cell, str) and _ESCAPED.match(cell) else cell


def _text_cells(frame: pd.DataFrame, function) -> pd.DataFrame:
    """`function` applied to every text cell of `frame` (numeric columns are left alone)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype).startswith("str"):
            out[column] = out[column].map(function)
    return out


def csv_text(frame: pd.DataFrame) -> str:
    """The CSV text of a table as irsynth writes it (formula cells neutralised, floats to 10 significant digits)."""
    return _text_cells(frame, neutralise).to_csv(index=False, lineterminator="\n", float_format="%.10g")


def csv_rows_text(header: list[str], rows: list[dict]) -> str:
    """CSV lines (no header) of `rows` in the column order of `header`, formula cells neutralised."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([[neutralise(row.get(c, "")) for c in header] for row in rows])
    return buffer.getvalue()


def open_regular(path: Path) -> tuple[object | None, list[Problem]]:
    """A binary handle on `path`, or None and the problem: only a regular file (after resolving links) is opened,
    without blocking (a pipe or device is refused, never waited on)."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, [Problem(name, None, None, None, "file not found")]
    except IsADirectoryError:
        return None, [Problem(name, None, None, None, "is a folder, not a file")]
    except NotADirectoryError:
        return None, [Problem(name, None, None, None, "a part of this path is a file, not a folder")]
    except OSError as err:
        return None, [Problem(name, None, None, None, f"cannot be opened ({err.strerror})")]
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            return None, [Problem(name, None, None, None, "is a folder, not a file")]
        return None, [Problem(name, None, None, None, "is not a regular file (a pipe, device or socket): give a file")]
    return os.fdopen(fd, "rb"), []


class _Lines:
    """The decoded lines of a binary handle, for csv.reader: UTF-8 (a byte-order mark is dropped), no NUL byte or
    other control character (line breaks and tabs are text).
    Iteration stops at the first bad line and `problem` says why (with the line number)."""

    def __init__(self, handle, name: str):
        self.handle, self.name, self.problem = handle, name, None

    def __iter__(self):
        number = 0
        try:
            for number, raw in enumerate(self.handle, start=1):
                if b"\x00" in raw:
                    self.problem = Problem(self.name, number, None, None, "contains a NUL byte: not a text table")
                    return
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                control = _CONTROL.search(line)
                if control:
                    reason = f"contains a control character (U+{ord(control.group()):04X}): delete it"
                    self.problem = Problem(self.name, number, None, None, reason)
                    return
                yield line
        except UnicodeDecodeError as err:
            legacy = err.object[err.start : err.start + 1].decode("cp1252", errors="replace")
            reason = (
                f"not UTF-8 text (byte 0x{err.object[err.start]:02x}, {legacy!r} in Latin-1/Windows-1252): {UTF8_HINT}"
            )
            self.problem = Problem(self.name, number, None, None, reason)
        except OSError as err:
            self.problem = Problem(self.name, None, None, None, f"cannot be read ({err.strerror})")


def read_text(path: Path) -> tuple[str | None, list[Problem]]:
    """The whole text of a data table, template or config, or None and the problem (see `open_regular`,
    `_Lines`)."""
    handle, problems = open_regular(path)
    if problems:
        return None, problems
    with handle:
        lines = _Lines(handle, str(path))
        text = "".join(lines)
    return (None, [lines.problem]) if lines.problem else (text, [])


def _layout_problem(name: str, first: str) -> Problem | None:
    """One problem for a file laid out unlike a CSV table: a blank first line, or another field separator."""
    if not first.strip(" ,\r\n"):
        return Problem(name, 1, None, None, "line 1 is blank: the header row must be the first line")
    for separator, label in ((";", "semicolons"), ("\t", "tabs")):
        if first.count(separator) > first.count(","):
            reason = f"fields are separated by {label}, not commas: save the file as comma-separated CSV"
            return Problem(name, 1, None, None, reason)
    return None


def read_table(path: Path, required: list[str], optional: list[str] = ()) -> tuple[pd.DataFrame, list[Problem]]:
    """Read `path` as strings, streaming (memory: the table, not copies of the file); return the frame (with a
    `_line` column) and the problems found."""
    name = str(path)
    handle, problems = open_regular(path)
    if problems:
        return pd.DataFrame(), problems
    with handle:
        lines = _Lines(handle, name)
        stream = iter(lines)
        first = next(stream, None)
        if first is None or not first.strip(" ,\r\n") and not any(line.strip(" ,\r\n") for line in stream):
            problem = lines.problem or Problem(name, None, None, None, "file is empty (expected a header row and data)")
            return pd.DataFrame(), [problem]
        layout = lines.problem or _layout_problem(name, first)
        if layout:
            return pd.DataFrame(), [layout]
        reader = csv.reader(itertools.chain([first], stream))
        try:
            header = [h.strip() for h in next(reader)]
        except csv.Error as err:
            return pd.DataFrame(), [Problem(name, 1, None, None, f"not readable as CSV: {err}")]
        problems = _header_problems(name, header, required, optional)
        if problems:
            return pd.DataFrame(), problems
        records, numbers, problems = _records(reader, lines, name, len(header))
    if not records and not problems:
        problems.append(Problem(name, None, None, None, "file has a header but no data rows"))
    frame = pd.DataFrame(records, columns=header, dtype=object)
    del records
    frame[LINE] = numbers
    for column in optional:
        if column not in frame:
            frame[column] = ""
    return frame, problems


def _records(reader, lines: _Lines, name: str, width: int) -> tuple[list[list[str]], list[int], list[Problem]]:
    """The non-blank rows after the header (cells stripped) with the line each starts on, and the problems: a row
    of the wrong width (at the line where its unclosed quote opens, if it spans lines), an over-long field, a line
    that is not UTF-8 or holds a NUL byte."""
    records, numbers, problems = [], [], []
    seen: dict[str, str] = {}  # one object per distinct cell text: repeated units, URLs and quotes cost memory once
    previous_end = 1
    try:
        for row in reader:
            line, previous_end = previous_end + 1, reader.line_num
            if len(row) == width:
                cells = [seen.setdefault(cell, cell) for cell in map(str.strip, row)]
                joined = "\x1f".join(cells)
                if joined.strip("\x1f"):
                    records.append([restore(c) for c in cells] if "'" in joined else cells)
                    numbers.append(line)
            elif any(cell.strip() for cell in row):
                if previous_end > line and any("\n" in cell for cell in row):
                    reason = (
                        f"a quote opened on this line is not closed until line {previous_end}, which merges rows: "
                        'close it (a field\'s own double quotes must be doubled: "")'
                    )
                else:
                    reason = f"expected {width} fields as in the header, found {len(row)}"
                    if len(row) < width and any("," in cell for cell in row):
                        reason += " (a stray or unclosed quote on this line?)"
                problems.append(Problem(name, line, None, None, reason))
    except csv.Error as err:
        reason = str(err)
        if "field larger than field limit" in reason:
            reason = (
                f"a field longer than {csv.field_size_limit()} characters starts here: a quote that is not closed? "
                '(a field\'s own double quotes must be doubled: "")'
            )
        problems.append(Problem(name, previous_end + 1, None, None, f"not readable as CSV: {reason}"))
    if lines.problem:
        problems.append(lines.problem)
    return records, numbers, problems


def _header_problems(name: str, header: list[str], required: list[str], optional: list[str]) -> list[Problem]:
    problems = []
    seen = set()
    for column in header:
        if column in seen:
            problems.append(Problem(name, 1, column, None, "column appears twice in the header"))
        seen.add(column)
    for column in required:
        if column not in seen:
            problems.append(Problem(name, 1, column, None, "required column is missing"))
    known = set(required) | set(optional)
    for column in header:
        if column not in known:
            problems.append(Problem(name, 1, column, None, "unknown column (typo? data/README.md lists the columns)"))
    return problems


def read_result(path: Path) -> pd.DataFrame:
    """A table written by a stage: only empty cells are missing (text such as 'NA' or 'none' stays text)."""
    return _text_cells(pd.read_csv(path, keep_default_na=False, na_values=[""]), restore)


def text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Validated tables are re-read from CSV: restore blank text cells to '' (not NaN)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype).startswith("str"):
            frame[column] = frame[column].fillna("")
    return frame


def read_effects(path: Path) -> pd.DataFrame:
    """The effect-size table (results/effects/contrasts.csv) with its `usable` column as booleans."""
    table = text_columns(read_result(path))
    table["usable"] = table["usable"].astype(bool)
    return table
