"""CSV reading: the strict reader of the data tables, and the readers of the tables the stages write.

`read_table` keeps each row's line number for error messages. It accepts a UTF-8 byte-order mark and CRLF line
endings, drops rows that are entirely blank (trailing blank rows, rows of bare commas), and reports empty files,
missing or unknown columns, duplicated headers and rows with the wrong number of fields. `read_result`,
`text_columns` and `read_effects` read back the tables an earlier stage wrote (results/).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from irsynth.problems import Problem

LINE = "_line"


def read_table(path: Path, required: list[str], optional: list[str] = ()) -> tuple[pd.DataFrame, list[Problem]]:
    """Read `path` as strings; return the frame (with a `_line` column) and the problems found."""
    name = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return pd.DataFrame(), [Problem(name, None, None, None, "file not found")]
    except UnicodeDecodeError as err:
        return pd.DataFrame(), [Problem(name, None, None, None, f"not UTF-8 text ({err.reason} at byte {err.start})")]
    if not text.strip():
        return pd.DataFrame(), [Problem(name, None, None, None, "file is empty (expected a header row and data)")]

    reader = csv.reader(io.StringIO(text, newline=""))
    rows, starts, previous_end = [], [], 0
    for row in reader:
        rows.append(row)
        starts.append(previous_end + 1)
        previous_end = reader.line_num
    header = [h.strip() for h in rows[0]]
    problems = _header_problems(name, header, required, optional)
    if problems:
        return pd.DataFrame(), problems

    records, lines = [], []
    for line, row in zip(starts[1:], rows[1:]):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(
                Problem(name, line, None, None, f"expected {len(header)} fields as in the header, found {len(row)}")
            )
            continue
        records.append([cell.strip() for cell in row])
        lines.append(line)
    if not records and not problems:
        problems.append(Problem(name, None, None, None, "file has a header but no data rows"))
    frame = pd.DataFrame(records, columns=header, dtype=object)
    frame[LINE] = lines
    for column in optional:
        if column not in frame:
            frame[column] = ""
    return frame, problems


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
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


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
