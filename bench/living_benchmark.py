"""Benchmark of the living-review path; prints figures, asserts nothing.

    .venv/bin/python bench/living_benchmark.py [--cores 2]

In a private copy of the workflow and the bundled data, wall time of:
1. a cold full run: empty results/ and an empty compile cache (a first run on a machine);
2. a full run with empty results/ but a warm compile cache;
3. a no-op run;
4. a re-run after adding one trial with `irsynth add` (tests/fixtures/synthetic_trial.yaml: synthetic numbers);
with the ratio of the re-run to each full run, and the duration of each job (in the order they finished).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRIAL = ROOT / "tests" / "fixtures" / "synthetic_trial.yaml"


def run(work: Path, cache: Path, cores: int, *args: str) -> tuple[float, str]:
    """Wall time of a Snakemake run, and each job's duration (from Snakemake's timestamps)."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    return seconds, job_times(done.stderr)


def job_times(log: str) -> str:
    stamp, started, jobs = None, {}, []
    for line in log.splitlines():
        if line.startswith("[") and line.endswith("]"):
            stamp = datetime.strptime(line.strip("[]"), "%a %b %d %H:%M:%S %Y")
        elif (rule := re.match(r"localrule (\w+):", line)) and rule[1] != "all":
            started.setdefault(rule[1], []).append(stamp)
        elif (end := re.match(r"Finished jobid: \d+ \(Rule: (\w+)\)", line)) and end[1] != "all":
            jobs.append(f"{end[1]} {(stamp - started[end[1]].pop(0)).total_seconds():.0f} s")
    return ", ".join(jobs) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    cores = parser.parse_args().cores
    with tempfile.TemporaryDirectory() as scratch:
        work, cache = Path(scratch, "workflow"), Path(scratch, "pytensor-cache")
        work.mkdir()
        shutil.copy(ROOT / "Snakefile", work)
        for folder in ("workflow", "config", "data", "profiles"):
            shutil.copytree(ROOT / folder, work / folder)

        cold, jobs = run(work, cache, cores)
        print(f"cold full run (empty results/, empty compile cache): {cold:6.1f} s  jobs: {jobs}")
        shutil.rmtree(work / "results")
        shutil.rmtree(work / ".snakemake")
        warm, jobs = run(work, cache, cores)
        print(f"full run (empty results/, warm compile cache):       {warm:6.1f} s  jobs: {jobs}")
        noop, jobs = run(work, cache, cores)
        print(f"no-op run:                                           {noop:6.1f} s  jobs: {jobs}")

        subprocess.run(
            [sys.executable, "-m", "irsynth.cli", "add", str(TRIAL), "--data", str(work / "data")],
            check=True,
            capture_output=True,
        )
        rerun, jobs = run(work, cache, cores)
        print(f"re-run after adding one trial:                       {rerun:6.1f} s  jobs: {jobs}")
        print(
            f"ratio re-run / cold full run: {rerun / cold:.2f};  re-run / warm full run: {rerun / warm:.2f};  "
            f"no-op / cold: {noop / cold:.3f}"
        )


if __name__ == "__main__":
    main()
