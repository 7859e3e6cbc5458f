"""Run the simulation proof (irsynth.simulation) against today's evidence model; write a markdown table.

Usage: python bench/simulation_proof.py [REPLICATIONS] [OUT.md] [SCENARIO ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from irsynth import simulation as sim
from irsynth.config import load_config

COLUMNS = ["component", "outcome", "truth", "coverage_90", "p_coverage", "mean_bias", "bias_mc_se",
           "mean_posterior_sd", "bias_over_sd", "rmse"]  # fmt: skip


def verdict(table: pd.DataFrame) -> str:
    """FAIL names the effects whose coverage is inconsistent with 90% or whose bias is 0.1 posterior SD or more."""
    bad = table[(table["p_coverage"] <= 0.01) | (table["bias_over_sd"].abs() >= 0.1)]
    return "pass" if bad.empty else "FAIL: " + ", ".join(f"{r.component}/{r.outcome}" for r in bad.itertuples())


def section(name: str, table: pd.DataFrame, seconds: float) -> str:
    header = f"## {name}\n\n{sim.SCENARIOS[name].description}\n\n"
    per = table["seconds_per_replication"].iloc[0]
    stats = f"{int(table['replications'].iloc[0])} replications, {seconds:.0f} s ({per:.2f} s per replication)\n\n"
    return header + stats + table[COLUMNS].round(3).to_markdown(index=False) + f"\n\n**{verdict(table)}**\n\n"


def main(replications: int, out: Path, names: list[str]) -> None:
    config = load_config("config/config.yaml")
    text = "# Simulation proof against today's evidence model\n\n"
    text += f"{replications} replications per scenario; 90% central intervals; seed 2026.\n\n"
    for name in names:
        started = time.perf_counter()
        table = sim.run_scenario(name, replications, sim.fit_current_model, seed=2026, config=config)
        table.to_csv(out.with_name(f"{out.stem}_{name}.csv"), index=False)
        text += section(name, table, time.perf_counter() - started)
        out.write_text(text, encoding="utf-8")
        print(name, verdict(table), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 100, Path(args[1] if len(args) > 1 else "bench/simulation_proof_before.md"),
         args[2:] or list(sim.SCENARIOS))  # fmt: skip
