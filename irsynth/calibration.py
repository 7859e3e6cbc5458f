"""The simulation proof (irsynth.simulation) in batches, and its markdown report.

The workflow's `calibration` target scatters scenarios x batches of replications over jobs (`batches`), each job
scores its replications (`simulation.score_replications`), and the gather summarises the concatenated scores
(`simulation.summarise_scores`) and writes `markdown`. A replication depends only on (seed, index), so the summary
is the same however the replications are batched. bench/simulation_proof.py writes the same report in one process. The
Snakefile reads the batching at every start, so the simulation (scipy, PyMARE) is imported only by the jobs.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pandas as pd

COLUMNS = ["component", "outcome", "truth", "coverage_90", "p_coverage", "mean_bias", "bias_mc_se", "bias_z",
           "mean_posterior_sd", "bias_over_sd", "rmse"]  # fmt: skip


def batches(replications: int, batch_size: int) -> list[range]:
    """Replication indices 0 .. replications - 1 cut into consecutive batches of at most `batch_size`."""
    if replications < 1 or batch_size < 1:
        raise ValueError(f"replications ({replications}) and batch_size ({batch_size}) must be at least 1")
    return [range(start, min(start + batch_size, replications)) for start in range(0, replications, batch_size)]


def batch_indices(settings: dict):
    """For the workflow: a function of a job's wildcards giving the replication indices of its batch under
    `settings` (config `calibration`), so that a change of `replications` re-runs only the batches it changes."""
    cut = batches(settings["replications"], settings["batch_size"])
    return lambda wildcards: list(cut[int(wildcards.batch)])


def batch_runtime(settings: dict):
    """For the workflow: a function of (wildcards, attempt) giving a batch job's minutes. Imports and compiling the
    model take 1-3 min of CPU (more on a busy machine), then at most 10 s per replication (measured 2-7 s at 4
    chains x 500 draws); doubled at each retry."""
    return lambda wildcards, attempt: attempt * (10 + math.ceil(settings["batch_size"] * 10 / 60))


def run_batch(scenario: str, indices, config: dict, threads: int = 1) -> pd.DataFrame:
    """Scores of replications `indices` of `scenario`, fitted by the evidence model with `config["calibration"]`'s
    seed and sampling settings (chains run on `threads` cores)."""
    from irsynth import simulation as sim

    settings = config["calibration"]
    fit = functools.partial(sim.fit_evidence_model, sampling={**settings["sampling"], "cores": threads})
    return sim.score_replications(scenario, indices, fit, settings["seed"], config)


def gather(batch_files, scores_out: Path, summary_out: Path, report_out: Path, seed: int) -> None:
    """Concatenate the batches' scores (in the order given), summarise them and write the report. The summary leaves
    out the timing, so that it depends only on the seed and settings (the report and the scores keep it)."""
    from irsynth import simulation as sim

    scores = pd.concat([pd.read_csv(f) for f in batch_files], ignore_index=True)
    summary = sim.summarise_scores(scores)
    scores.to_csv(scores_out, index=False)
    summary.drop(columns="seconds_per_replication").to_csv(summary_out, index=False)
    Path(report_out).write_text(markdown(summary, seed), encoding="utf-8")


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
    """Markdown section of one scenario's summary (rows of `simulation.summarise_scores`)."""
    from irsynth import simulation as sim

    table = table.assign(bias_z=table["mean_bias"] / table["bias_mc_se"])
    per = table["seconds_per_replication"].iloc[0]
    head = f"## {name}\n\n{sim.SCENARIOS[name].description}\n\n"
    head += f"{int(table['replications'].iloc[0])} replications, {per:.2f} s per replication (compile included)\n\n"
    return head + table[COLUMNS].round(3).to_markdown(index=False) + f"\n\n**{verdict(table)}**\n\n"


def markdown(summary: pd.DataFrame, seed: int) -> str:
    """The report of a summary of one or more scenarios (one section each, in order of appearance)."""
    replications = int(summary["replications"].iloc[0]) if len(summary) else 0
    text = "# Simulation proof against today's evidence model\n\n"
    text += f"{replications} replications per scenario; 90% central intervals; seed {seed}.\n\n"
    return text + "".join(section(name, table) for name, table in summary.groupby("scenario", sort=False))
