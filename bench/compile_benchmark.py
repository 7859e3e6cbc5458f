"""nutpie's compilation of the evidence model per process: nutpie's own callbacks, the local adapter's
(irsynth.nutpie_compile) without its on-disk cache, and with it; prints figures, asserts nothing.

    .venv/bin/python bench/compile_benchmark.py [--repeats 2]

Each compilation runs in a fresh process (as each Snakemake job is one), on the bundled data and config, with the
compile cache of the Makefile (PyTensor's numba cache warm after the first run). Printed per variant: the wall time
of the compilation in each process, and the ratios of the medians. The cached variant's first process, which fills
the cache, runs before the timed ones (as any earlier run on the machine has).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys, time
from pathlib import Path
from irsynth import nutpie_compile
from irsynth.config import load_config
from irsynth.csvfile import read_effects
from irsynth.effects import contrasts
from irsynth.evidence_set import evidence_data
from irsynth.harmonise import arm_changes, harmonise_arms
from irsynth.validate import load_evidence
from models.evidence import build_evidence_model
import nutpie

config = load_config(Path("config/config.yaml"))
evidence = load_evidence(Path(config["data_dir"]), config)
changes = arm_changes(harmonise_arms(evidence.arms, evidence.studies, config), config)
data = evidence_data(evidence.pooled, contrasts(changes, config), changes, evidence.studies, config)
settings = config["evidence_model"]
model = build_evidence_model(data, settings["priors"], settings["outcome_correlation"])
var_names = [rv.name for rv in model.free_RVs]
start = time.perf_counter()
if sys.argv[1] == "cached":
    nutpie_compile.compile_pymc_model(model, var_names=var_names)
else:
    if sys.argv[1] == "uncached":
        nutpie_compile.install()
    nutpie.compile_pymc_model(model, var_names=var_names)
print(time.perf_counter() - start)
"""


def compile_seconds(variant: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.setdefault("PYTENSOR_FLAGS", f"base_compiledir={Path.home() / '.cache/irsynth/pytensor'}")
    run = subprocess.run([sys.executable, "-c", PROBE, variant], cwd=ROOT, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(run.stderr)
    return float(run.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    compile_seconds("cached")  # fills PyTensor's cache and the adapter's, as any earlier run on the machine has
    medians = {}
    for variant in ("nutpie", "uncached", "cached"):
        times = [compile_seconds(variant) for _ in range(args.repeats)]
        medians[variant] = statistics.median(times)
        listed = ", ".join(f"{t:.1f}" for t in times)
        print(f"{variant:8s} compile: {listed} s (median {medians[variant]:.1f})")
    for variant in ("uncached", "cached"):
        print(f"ratio nutpie / {variant}: {medians['nutpie'] / medians[variant]:.2f}")


if __name__ == "__main__":
    main()
