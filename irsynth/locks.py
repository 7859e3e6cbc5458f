"""Recovery after a killed run: Snakemake's directory locks outlive SIGKILL. `python -m irsynth.locks [DIR]`
removes them when no Snakemake process works in DIR (default: the current folder), so the next run can start;
the outputs of the killed job are marked incomplete and re-made (profiles/default: rerun-incomplete)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil


def snakemake_running(workdir: Path) -> bool:
    workdir = Path(workdir).resolve()
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = process.info
        if info["pid"] == os.getpid() or not info["cmdline"] or not info["cwd"]:
            continue
        if any("snakemake" in part for part in info["cmdline"]) and Path(info["cwd"]).resolve() == workdir:
            return True
    return False


def release_stale_locks(workdir: Path) -> list[Path]:
    """Remove .snakemake/locks/* of `workdir` if no Snakemake process runs there; return what was removed."""
    locks = sorted(Path(workdir, ".snakemake", "locks").glob("*.lock"))
    if not locks or snakemake_running(workdir):
        return []
    for lock in locks:
        lock.unlink()
    return locks


if __name__ == "__main__":
    removed = release_stale_locks(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
    if removed:
        print(f"removed {len(removed)} lock(s) left by a killed Snakemake run; its unfinished outputs will be re-made")
