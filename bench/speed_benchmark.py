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
Each job's wall and CPU time (user + system, its children included) is taken by a `python` shim first on PATH
(Snakemake's `script:` runs the first Python on PATH). The machine is shared: wall time is noisy, CPU time less so.
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
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

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
}
LIGHT = {"validate", "harmonise", "effects", "reference", "small_study", "report"}
LIGHT_TARGET = 1.5


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


def shim(folder: Path, times: Path) -> Path:
    """A `python` that records the wall and CPU seconds of each process it runs in `times`."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "python"
    script.write_text(f'#!/bin/sh\nexec /usr/bin/time -a -o "{times}" -f "%e %U %S %C" "{sys.executable}" "$@"\n')
    script.chmod(0o755)
    return folder


class Bench:
    def __init__(self, work: Path, cores: int):
        self.work, self.cores = work, cores
        self.times = work.parent / "times.txt"
        bin_dir = shim(work.parent / "shim", self.times)
        self.env = {
            "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", str(work.parent)),
            "PYTHONPATH": str(work),
            "PYTENSOR_FLAGS": f"base_compiledir={work / '.cache' / 'pytensor'}",
        }
        self.rows: list[dict] = []

    def measure(self, name: str, *command: str) -> dict:
        """Run `command` (default: what `make run` runs) and record its wall time and its jobs' times."""
        self.times.write_text("")
        commands = [command] if command else [
            [sys.executable, "-m", "irsynth.locks"],
            [sys.executable, "-m", "snakemake", "--cores", str(self.cores)],
        ]  # fmt: skip
        start, cpu = time.perf_counter(), os.times()
        for argv in commands:
            done = subprocess.run(argv, cwd=self.work, env=self.env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{name}: {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
        after = os.times()
        row = {
            "name": name,
            "wall": time.perf_counter() - start,
            "cpu": after.children_user - cpu.children_user + after.children_system - cpu.children_system,
            "jobs": self.jobs(),
        }
        self.rows.append(row)
        print(f"{name}: {row['wall']:.1f} s wall, {row['cpu']:.1f} s CPU", flush=True)
        return row

    def jobs(self) -> list[tuple[str, float, float]]:
        """(stage, wall s, CPU s) of each job script run through the shim."""
        jobs = []
        for line in self.times.read_text().splitlines():
            match = re.match(r"([\d.]+) ([\d.]+) ([\d.]+) .*?\.snakemake/scripts/tmp\w+\.(\w+)\.py", line)
            if match:
                wall, user, system, stage = match.groups()
                jobs.append((stage, float(wall), float(user) + float(system)))
        return jobs


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="irsynth-speed-") as tmp:
        work = Path(tmp) / "clone"
        work.mkdir()
        copy_source(args.source.resolve(), work)
        bench = Bench(work, args.cores)
        bench.measure("cold run (fresh clone)")
        shutil.rmtree(work / "results")
        shutil.rmtree(work / ".snakemake")
        bench.measure("warm full run")
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
