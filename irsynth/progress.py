"""Progress lines of a long stage: to its log (stdout, which pipeline.log_to sends there) and to the console."""

from __future__ import annotations

import sys
from typing import TextIO

console: TextIO | None = None  # the console while a stage's output goes to its log file (set by pipeline.log_to)


def say(line: str) -> None:
    """Print `line` to stdout (the stage's log) and, during pipeline.log_to, to the console too."""
    print(line, flush=True)
    if console is not None and console is not sys.stdout:
        print(line, file=console, flush=True)
