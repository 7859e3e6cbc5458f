"""Benchmark of the next-trial stage at the config's settings; prints figures, asserts nothing.

    .venv/bin/python bench/next_trial_benchmark.py [--cores 2] [--workdir DIR]

In a private copy of the workflow and the bundled data (or DIR, a copy that has run before), the stages the
next-trial jobs need are run first (not timed); then the next-trial target is run alone and timed: its wall time is
what the stage adds to a full run (its jobs follow the evidence model, and the report follows them). Printed: the
simulated trials per design and n, each assurance with its Monte Carlo SE, the share of updates by PSIS and MCMC,
each job's duration and the stage's wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from living_benchmark import job_times  # noqa: E402

STAGE_OUTPUTS = "results/next_trial"
BENCHMARKS = "results/benchmarks/next_trial"
STORED = "results/cache/next_trial"  # the jobs' stored results (irsynth.nexttrial_stage): timed runs compute


def snakemake(work: Path, cores: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTENSOR_FLAGS": os.environ.get("PYTENSOR_FLAGS", f"base_compiledir={ROOT}/.cache/pytensor")}
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), *args], cwd=work, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="a copy of the workflow to use (default: a new temporary one)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="irsynth-next-trial-")) / "workflow"
    if not (work / "Snakefile").exists():
        work.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "Snakefile", work)
        for folder in ("workflow", "config", "data", "profiles"):
            shutil.copytree(ROOT / folder, work / folder)
    snakemake(work, args.cores, "fit_evidence")  # the stage's inputs (not timed)
    for folder in (STAGE_OUTPUTS, BENCHMARKS, STORED):
        shutil.rmtree(work / folder, ignore_errors=True)
    start = time.perf_counter()
    done = snakemake(work, args.cores, "next_trial")
    seconds = time.perf_counter() - start
    summary = pd.read_csv(work / STAGE_OUTPUTS / "summary.csv")
    print(f"workflow copy: {work}")
    print(f"next-trial stage (snakemake next_trial, --cores {args.cores}): wall time {seconds:.0f} s")
    print(f"jobs: {job_times(done.stderr)}")
    print("per design and n: simulated trials, assurance (Monte Carlo SE), share of updates by PSIS / MCMC")
    for row in summary.itertuples():
        print(
            f"  {row.design:12s} n = {row.n_per_arm:4d} per arm: {row.simulated_trials} simulated trials, assurance "
            f"{row.assurance:.3f} ({row.assurance_mc_se:.3f}), PSIS {row.share_psis:.0%} / MCMC {row.share_mcmc:.0%}"
        )
    funnel = pd.read_csv(work / STAGE_OUTPUTS / "funnel.csv")
    print(f"extended funnel grids: {len(funnel)} points; {funnel['method'].value_counts().to_dict()}")
    # Snakemake's benchmark files: each job's CPU time does not depend on what else the machine runs
    jobs = {path.stem: pd.read_csv(path, sep="\t").iloc[0] for path in sorted((work / BENCHMARKS).glob("*.tsv"))}
    for name, row in jobs.items():
        print(f"  job {name}: wall {row['s']:.0f} s, CPU {row['cpu_time']:.0f} s, max RSS {row['max_rss']:.0f} MB")
    cpu = sum(row["cpu_time"] for row in jobs.values())
    print(f"CPU time of the stage's jobs: {cpu:.0f} s (on {args.cores} cores: at least {cpu / args.cores:.0f} s wall)")


if __name__ == "__main__":
    main()
