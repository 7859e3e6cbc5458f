"""Benchmark of input validation on a large arms.csv; prints figures, asserts nothing.

    .venv/bin/python bench/validation_benchmark.py [--rows 200000] [--repo PATH]

Writes a data folder whose arms.csv repeats the bundled arm rows under new study ids (one studies.csv row per new
study, the bundled pooled.csv) up to `--rows` rows, then validates it with `irsynth.validate.load_evidence` in a
fresh process (the irsynth found first on PYTHONPATH, or the one in `--repo`) and prints the wall time and the
peak resident memory of that process (its CPU time too: on a shared machine the wall time varies with the load).
Run it once on a checkout before a change and once after.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import resource, sys, time
from pathlib import Path
from irsynth.config import load_config
from irsynth.validate import load_evidence
start, cpu = time.perf_counter(), time.process_time()
evidence = load_evidence(Path(sys.argv[1]), load_config(Path(sys.argv[2])))
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{len(evidence.arms)} arm rows valid in {seconds:.1f} s (CPU {cpu:.1f} s); peak resident memory {peak:.0f} MB")
"""


def write_data(folder: Path, rows: int) -> None:
    """A valid data folder with `rows` arm rows (bundled rows under new study ids)."""
    with open(ROOT / "data" / "arms.csv", encoding="utf-8", newline="") as handle:
        arm_reader = csv.DictReader(handle)
        arm_header, arms = arm_reader.fieldnames, list(arm_reader)
    with open(ROOT / "data" / "studies.csv", encoding="utf-8", newline="") as handle:
        study_reader = csv.DictReader(handle)
        study_header, studies = study_reader.fieldnames, {r["study_id"]: r for r in study_reader}
    (folder / "pooled.csv").write_bytes((ROOT / "data" / "pooled.csv").read_bytes())
    with (
        open(folder / "arms.csv", "w", encoding="utf-8", newline="") as arm_out,
        open(folder / "studies.csv", "w", encoding="utf-8", newline="") as study_out,
    ):
        arm_writer = csv.DictWriter(arm_out, arm_header, lineterminator="\n")
        study_writer = csv.DictWriter(study_out, study_header, lineterminator="\n")
        arm_writer.writeheader()
        study_writer.writeheader()
        study_writer.writerows(studies.values())
        written, copy = 0, 0
        while written < rows:
            copy += 1
            for study in dict.fromkeys(r["study_id"] for r in arms):
                study_writer.writerow({**studies[study], "study_id": f"{study}_{copy}"})
            for row in arms:
                if written == rows:
                    break
                arm_writer.writerow({**row, "study_id": f"{row['study_id']}_{copy}"})
                written += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repo", type=Path, default=None, help="checkout whose irsynth to time (default: this one)")
    args = parser.parse_args()
    repo = (args.repo or ROOT).resolve()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        write_data(folder, args.rows)
        env = {**os.environ, "PYTHONPATH": str(repo)}
        run = subprocess.run(  # -P: the current folder does not shadow `--repo`
            [sys.executable, "-P", "-c", CHILD, str(folder), str(repo / "config" / "config.yaml")],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        print(f"{repo}: {run.stdout.strip() or run.stderr.strip()[-2000:]}")


if __name__ == "__main__":
    main()
