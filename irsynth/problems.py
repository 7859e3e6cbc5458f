"""Input problems: each names file, line, column (or config key), value and reason; all are collected first."""

from __future__ import annotations

from dataclasses import dataclass

CONFIG_SUFFIXES = (".yaml", ".yml", "config")  # a problem in a config file names a key, not a column


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int | None  # line in the file as a text editor counts it (header = 1); None for whole-file problems
    column: str | None  # or, in a config file, the dotted key
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"{'key' if self.file.endswith(CONFIG_SUFFIXES) else 'column'} '{self.column}'")
        value = "" if self.value is None else f" (value {self.value!r})"
        return f"{', '.join(where)}{value}: {self.reason}"


class DataError(Exception):
    """Raised with every problem found in the inputs, not only the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or "", p.reason))
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the input:\n{lines}")
