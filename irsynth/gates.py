"""The verdict of the convergence gates on one fit, as written in the `gate` column of a diagnostics table."""

from __future__ import annotations

PASSED = "passed"


def gate_verdict(failures: list[str]) -> str:
    """'passed', or 'failed: ' and the failures (fitting.check_gates' messages) joined by '; '."""
    return PASSED if not failures else "failed: " + "; ".join(failures)
