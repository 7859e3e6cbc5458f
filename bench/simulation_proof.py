"""Run the simulation proof (irsynth.simulation) against today's evidence model in one process; write a markdown
table. The workflow target `calibration` (workflow/rules/calibration.smk) runs the same study in batches of jobs.

Usage: python bench/simulation_proof.py [REPLICATIONS] [OUT.md] [SCENARIO ...]
       python bench/simulation_proof.py render OUT.md [SCENARIO ...]   (re-write OUT.md from its per-scenario CSVs)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from irsynth import calibration
from irsynth import simulation as sim
from irsynth.config import load_config

SEED = 2026


def csv_path(out: Path, name: str) -> Path:
    return out.with_name(f"{out.stem}_{name}.csv")


def render(out: Path, names: list[str]) -> None:
    tables = [pd.read_csv(csv_path(out, name)) for name in names if csv_path(out, name).exists()]
    summary = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["scenario", "replications"])
    out.write_text(calibration.markdown(summary, SEED), encoding="utf-8")


def main(replications: int, out: Path, names: list[str]) -> None:
    config = load_config("config/config.yaml")
    for done, name in enumerate(names, 1):
        table = sim.run_scenario(name, replications, sim.fit_evidence_model, seed=SEED, config=config)
        table.to_csv(csv_path(out, name), index=False)
        render(out, names[:done])
        print(name, calibration.verdict(table), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "render":
        render(Path(args[1]), args[2:] or list(sim.SCENARIOS))
    else:
        main(int(args[0]) if args else 100, Path(args[1] if len(args) > 1 else "bench/simulation_proof_before.md"),
             args[2:] or list(sim.SCENARIOS))  # fmt: skip
