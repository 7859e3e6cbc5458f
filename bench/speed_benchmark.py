"""Where users wait: wall and CPU time of each pipeline stage in the situations of issue 13; prints a table, asserts
nothing.

    .venv/bin/python bench/speed_benchmark.py [--source DIR] [--cores 2] [--out FILE.md]

In a fresh copy of `--source` (default: this checkout; its tracked files, with the venv of this Python), as
`make run` does (`python -m irsynth.locks`, then `snakemake --cores N`), with the compile cache in the copy's
.cache/ as the Makefile puts it:
1. a cold run: empty results/ and an empty compile cache (a fresh clone, environment built);
2. a full run with a warm compile cache (results/ and .snakemake/ removed);
3. a no-op run;
4. a re-run after adding a trial no model uses (the synthetic trial, non-randomised: require_randomised drops it);
5. a re-run after changing only report config (report.funnel_min_studies);
6. a re-run after adding a trial that the models use (tests/fixtures/synthetic_trial.yaml, synthetic numbers);
7. `irsynth check data`.
With `--results DIR` (a results/ of the same data), 1 and 2 are replaced by a copy of DIR and a re-run of the model
stages that finds their stored fits (to build what this code stores), which is timed and printed separately.
Each job's wall and CPU time (user + system, its children included) is read off the run's process tree every
0.05 s. The machine is shared: wall time is noisy, CPU time less so.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
TRIAL = ROOT / "tests" / "fixtures" / "synthetic_trial.yaml"
# issue 13's floors, seconds of wall time
TARGETS = {
    "cold run (fresh clone)": 75,
    "warm full run": 40,
    "no-op run": 2,
    "add a trial no model uses": 8,
    "change report config only": 8,
    "add a trial a model uses": 15,
    "irsynth check": 1.5,
    "model stages again, stored fits": float("nan"),
}
MODEL_STAGES = ("fit_pairwise", "fit_network", "fit_evidence")
LIGHT = {"validate", "harmonise", "effects", "reference", "small_study", "report"}
LIGHT_TARGET = 1.5
POLL = 0.05  # seconds between looks at a run's processes


def copy_source(source: Path, work: Path) -> None:
    """The files git tracks in `source` (or the whole tree outside git), and a link to this venv."""
    listed = subprocess.run(["git", "ls-files"], cwd=source, capture_output=True, text=True)
    names = listed.stdout.split() if listed.returncode == 0 else None
    if names is None:
        shutil.copytree(
            source, work, ignore=shutil.ignore_patterns(".venv", ".cache", "results", ".snakemake"), dirs_exist_ok=True
        )
    else:
        for name in names:
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, work / name)
    (work / ".venv").symlink_to(Path(sys.prefix))


class JobMonitor(threading.Thread):
    """Polls the process tree of a run for Snakemake's job scripts: per job, its stage, the wall time from its start
    to when it was last seen and its CPU time (user + system, with its children) as last seen, every POLL seconds."""

    def __init__(self, pid: int, started: float):
        super().__init__(daemon=True)
        self.root, self.seen, self.done = psutil.Process(pid), {}, threading.Event()
        # psutil's process start times count from the boot time in whole seconds (/proc/stat btime), up to 1 s off
        # time.time(): measured on the run's own process, started at `started` (time.time() before Popen)
        self.clock_offset = self.root.create_time() - started

    def run(self) -> None:
        while not self.done.is_set():
            try:
                children = self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for child in children:
                try:
                    with child.oneshot():
                        match = re.search(r"\.snakemake/scripts/tmp\w+\.(\w+)\.py", " ".join(child.cmdline()))
                        if match:
                            cpu = child.cpu_times()
                            used = cpu.user + cpu.system + cpu.children_user + cpu.children_system
                            started = child.create_time() - self.clock_offset
                            self.seen[child.pid] = (match.group(1), started, time.time() - started, used)
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
            time.sleep(POLL)

    def jobs(self) -> list[tuple[str, float, float]]:
        """(stage, wall s, CPU s) of each job, in the order they started."""
        return [(stage, wall, cpu) for stage, _, wall, cpu in sorted(self.seen.values(), key=lambda v: v[1])]


class Bench:
    def __init__(self, work: Path, cores: int):
        self.work, self.cores = work, cores
        self.env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", str(work.parent)),
            "PYTHONPATH": str(work),
            "PYTENSOR_FLAGS": f"base_compiledir={work / '.cache' / 'pytensor'}",
        }
        self.rows: list[dict] = []

    def measure(self, name: str, *command: str) -> dict:
        """Run `command` (default: what `make run` runs) and record its wall time and its jobs' times."""
        commands = [command] if command else [
            [sys.executable, "-m", "irsynth.locks"],
            [sys.executable, "-m", "snakemake", "--cores", str(self.cores)],
        ]  # fmt: skip
        start, cpu, jobs = time.perf_counter(), os.times(), []
        for argv in commands:
            started = time.time()
            process = subprocess.Popen(
                argv, cwd=self.work, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            monitor = JobMonitor(process.pid, started)
            monitor.start()
            out, err = process.communicate()
            monitor.done.set()
            monitor.join()
            jobs += monitor.jobs()
            if process.returncode != 0:
                raise SystemExit(f"{name}: {' '.join(argv)} failed:\n{out}\n{err}")
        after = os.times()
        row = {
            "name": name,
            "wall": time.perf_counter() - start,
            "cpu": after.children_user - cpu.children_user + after.children_system - cpu.children_system,
            "jobs": jobs,
        }
        self.rows.append(row)
        jobs = ", ".join(f"{stage} {wall:.1f}/{cpu:.1f}" for stage, wall, cpu in jobs)
        print(f"{name}: {row['wall']:.1f} s wall, {row['cpu']:.1f} s CPU; jobs (wall/CPU s): {jobs}", flush=True)
        return row


def unused_trial(folder: Path) -> Path:
    """The synthetic trial as a non-randomised study under another id: validated and harmonised, used by no model."""
    template = yaml.safe_load(TRIAL.read_text())
    for row in template["studies"] + template["arms"]:
        row["study_id"] = "Synthetic2026NR"
    template["studies"][0]["randomised"] = "no"
    path = folder / "unused_trial.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


def table(rows: list[dict]) -> str:
    lines = [
        "| situation | wall s | CPU s | target s | wall / target |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        target = TARGETS[row["name"]]
        ratio = row["wall"] / target
        lines.append(f"| {row['name']} | {row['wall']:.1f} | {row['cpu']:.1f} | {target:g} | {ratio:.2f} |")
    lines += ["", "Per job (wall s / CPU s; light stages' target 1.5 s wall):", ""]
    stages = sorted({stage for row in rows for stage, _, _ in row["jobs"]})
    lines += ["| situation | " + " | ".join(stages) + " |", "|---|" + "---:|" * len(stages)]
    for row in rows:
        per = defaultdict(list)
        for stage, wall, cpu in row["jobs"]:
            per[stage].append(f"{wall:.1f}/{cpu:.1f}")
        lines.append(f"| {row['name']} | " + " | ".join(" ".join(per[s]) or "-" for s in stages) + " |")
    light = [wall for row in rows for stage, wall, _ in row["jobs"] if stage in LIGHT]
    if light:
        ratio = max(light) / LIGHT_TARGET
        lines += ["", f"Light stages: at most {max(light):.1f} s wall (ratio {ratio:.2f} to {LIGHT_TARGET} s)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--results",
        type=Path,
        help="start from a copy of this results/ (of the same code and data) instead of the cold and warm full runs",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="irsynth-speed-") as tmp:
        work = Path(tmp) / "clone"
        work.mkdir()
        copy_source(args.source.resolve(), work)
        bench = Bench(work, args.cores)
        if args.results is None:
            bench.measure("cold run (fresh clone)")
            shutil.rmtree(work / "results")
            shutil.rmtree(work / ".snakemake")
            bench.measure("warm full run")
        else:
            shutil.copytree(args.results, work / "results", symlinks=True)
            snakemake = [sys.executable, "-m", "snakemake", "--cores", str(args.cores)]
            subprocess.run([*snakemake, "--touch"], cwd=work, env=bench.env, check=True, capture_output=True)
            warm = bench.measure("model stages again, stored fits", *snakemake, "--forcerun", *MODEL_STAGES)
            bench.rows.remove(warm)
            print(table([warm]), flush=True)
        bench.measure("no-op run")
        cli = [sys.executable, "-m", "irsynth.cli"]
        add = {"cwd": work, "env": bench.env, "check": True, "capture_output": True}
        subprocess.run([*cli, "add", str(unused_trial(Path(tmp))), "--data", "data"], **add)
        bench.measure("add a trial no model uses")
        config = work / "config" / "config.yaml"
        config.write_text(config.read_text().replace("funnel_min_studies: 3", "funnel_min_studies: 4"))
        bench.measure("change report config only")
        subprocess.run([*cli, "add", str(TRIAL), "--data", "data"], **add)
        bench.measure("add a trial a model uses")
        bench.measure("irsynth check", *cli, "check", "data")
    head = (
        f"Speed benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, source {args.source}, --cores {args.cores}, "
        f"{os.cpu_count()} CPUs (shared with other work: wall time is noisy, CPU time less so)."
    )
    text = f"{head}\n\n{table(bench.rows)}\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
