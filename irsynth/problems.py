"""Input problems: each names file, line, column, value and reason; all are collected before failing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int | None  # line in the file as a text editor counts it (header = 1); None for whole-file problems
    column: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        value = "" if self.value is None else f" (value {self.value!r})"
        return f"{', '.join(where)}{value}: {self.reason}"


class DataError(Exception):
    """Raised with every problem found in the inputs, not only the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or "", p.reason))
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the input data:\n{lines}")
