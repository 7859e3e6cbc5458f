"""Run the simulation proof (irsynth.simulation) against today's evidence model; write a markdown table.

Usage: python bench/simulation_proof.py [REPLICATIONS] [OUT.md] [SCENARIO ...]
       python bench/simulation_proof.py render OUT.md [SCENARIO ...]   (re-write OUT.md from its per-scenario CSVs)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from irsynth import simulation as sim
from irsynth.config import load_config

COLUMNS = ["component", "outcome", "truth", "coverage_90", "p_coverage", "mean_bias", "bias_mc_se", "bias_z",
           "mean_posterior_sd", "bias_over_sd", "rmse"]  # fmt: skip


def verdict(table: pd.DataFrame) -> str:
    """The issue's criterion (coverage p <= 0.01 or |bias| >= 0.1 posterior SD), which biases are systematic (more
    than 3 Monte Carlo SEs from 0), and the slow test's (coverage, and |bias| not beyond 0.1 SD + 3 MC SE)."""
    bad = table[(table["p_coverage"] <= 0.01) | (table["bias_over_sd"].abs() >= 0.1)]
    detectable = table["mean_bias"].abs() >= 0.1 * table["mean_posterior_sd"] + 3 * table["bias_mc_se"]
    test = table[(table["p_coverage"] <= 0.01) | detectable]
    systematic = table[(table["mean_bias"] / table["bias_mc_se"]).abs() > 3]
    names = [", ".join(f"{r.component}/{r.outcome}" for r in t.itertuples()) or "none" for t in (bad, systematic, test)]
    return (
        ("pass" if bad.empty else f"FAIL: {names[0]}")
        + f"; bias beyond 3 MC SE: {names[1]}; slow test (bias not detectably above 0.1 SD): "
        + ("pass" if test.empty else f"FAIL: {names[2]}")
    )


def section(name: str, table: pd.DataFrame) -> str:
    table = table.assign(bias_z=table["mean_bias"] / table["bias_mc_se"])
    per = table["seconds_per_replication"].iloc[0]
    head = f"## {name}\n\n{sim.SCENARIOS[name].description}\n\n"
    head += f"{int(table['replications'].iloc[0])} replications, {per:.2f} s per replication (compile included)\n\n"
    return head + table[COLUMNS].round(3).to_markdown(index=False) + f"\n\n**{verdict(table)}**\n\n"


def csv_path(out: Path, name: str) -> Path:
    return out.with_name(f"{out.stem}_{name}.csv")


def render(out: Path, names: list[str]) -> None:
    tables = [(name, pd.read_csv(csv_path(out, name))) for name in names if csv_path(out, name).exists()]
    replications = int(tables[0][1]["replications"].iloc[0]) if tables else 0
    text = "# Simulation proof against today's evidence model\n\n"
    text += f"{replications} replications per scenario; 90% central intervals; seed 2026.\n\n"
    out.write_text(text + "".join(section(name, table) for name, table in tables), encoding="utf-8")


def main(replications: int, out: Path, names: list[str]) -> None:
    config = load_config("config/config.yaml")
    for done, name in enumerate(names, 1):
        table = sim.run_scenario(name, replications, sim.fit_evidence_model, seed=2026, config=config)
        table.to_csv(csv_path(out, name), index=False)
        render(out, names[:done])
        print(name, verdict(table), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "render":
        render(Path(args[1]), args[2:] or list(sim.SCENARIOS))
    else:
        main(int(args[0]) if args else 100, Path(args[1] if len(args) > 1 else "bench/simulation_proof_before.md"),
             args[2:] or list(sim.SCENARIOS))  # fmt: skip
