"""The next-trial stage's jobs (workflow/rules/next_trial.smk): a design's first batch of simulated trials and its
extended funnel grid, in one job that sets up once (imports, model, compiled functions, the stored posterior: about
4 s of a 6 s job); each further batch of one design, where next_trial.batch_size splits the simulations; and the
gather of both into the tables the report reads (irsynth.nexttrial)."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from irsynth import stage_store
from irsynth.csvfile import read_effects, read_result, text_columns
from irsynth.provenance import stamp, write_table


def batch_count(config: dict) -> int:
    settings = config["next_trial"]
    return math.ceil(settings["simulations"] / settings["batch_size"])


def design_named(config: dict, name: str) -> dict:
    """The design called `name`, its arm classes checked against its comparison in config `comparisons`."""
    design = next(d for d in config["next_trial"]["designs"] if d["name"] == name)
    spec = config["comparisons"].get(design["comparison"])
    if spec is None:
        raise ValueError(f"next_trial design {name}: comparison {design['comparison']} is not in config comparisons")
    for side in ("treatment", "comparator"):
        if design[side] not in spec[side]:
            raise ValueError(
                f"next_trial design {name}: {side} {design[side]} is not among the {side} classes of "
                f"{design['comparison']} ({', '.join(spec[side])})"
            )
    return design


def _updater(inputs, design: dict, config: dict, threads: int):
    """The evidence model's TrialUpdater for `design`, from the evidence stage's inputs and primary posterior (an
    MCMC fit: irsynth.evidence_run samples it whenever what informs it changes)."""
    import xarray as xr

    from irsynth.evidence_set import evidence_data
    from irsynth.nexttrial import evidence_updater

    pooled = text_columns(read_result(inputs.pooled))
    changes = text_columns(read_result(inputs.changes))
    studies = text_columns(read_result(inputs.studies))
    data = evidence_data(pooled, read_effects(inputs.effects), changes, studies, config)
    with xr.open_datatree(inputs.posterior) as tree:
        posterior = tree.posterior.to_dataset().load()
    diagnostics = read_result(inputs.diagnostics)
    ess = float(diagnostics[["ess_bulk", "ess_tail"]].min().min())
    config = {**config, "sampling": {**config["sampling"], "cores": threads}}
    return evidence_updater(data, design, posterior, ess, config)


def job_key(inputs, config: dict, job: dict) -> str:
    """What informs a next-trial job (irsynth.stage_store): the evidence model's data and config (the evidence
    stage's key), its posterior (the file's bytes) and diagnostics, and the job with its settings."""
    import hashlib

    from irsynth.pipeline import evidence_key

    pooled, changes, studies = (text_columns(read_result(getattr(inputs, n))) for n in ("pooled", "changes", "studies"))
    evidence = evidence_key(pooled, read_effects(inputs.effects), changes, studies, config)
    posterior = hashlib.sha256(Path(inputs.posterior).read_bytes()).hexdigest()
    diagnostics = read_result(inputs.diagnostics).to_csv(index=False)
    return stage_store.stage_key(evidence=evidence, posterior=posterior, diagnostics=diagnostics, job=job)


def _set_up(inputs, design_name: str, config: dict, threads: int) -> Callable:
    """The design's updater and predictive draws (_updater), made at the first call and kept for the next."""
    return functools.cache(lambda: _updater(inputs, design_named(config, design_name), config, threads))


def simulate_batch(inputs, design_name: str, batch: int, config: dict, data_dir: Path, out_csv: Path, threads=1,
                   cache_dir: Path | None = None, set_up: Callable | None = None):  # fmt: skip
    """Batch `batch` of the simulated trials of one design (seeds from next_trial.seed, the design and the batch).
    With `cache_dir`, re-used as stored where nothing that informs it changed (job_key); `set_up` (_set_up) shares
    the design's updater with the job's other work."""
    settings = config["next_trial"]
    set_up = set_up or _set_up(inputs, design_name, config, threads)
    job = {"design": design_name, "batch": batch, **{k: v for k, v in settings.items() if k != "funnel"}}

    def make() -> dict:
        from irsynth.nexttrial import batch_seed, simulate

        start = time.perf_counter()
        design = design_named(config, design_name)
        first = batch * settings["batch_size"]
        replicates = min(settings["batch_size"], settings["simulations"] - first)
        updater, predictive = set_up()
        ready = time.perf_counter()
        seed = batch_seed(settings["seed"], design_name, batch)
        table = simulate(updater, predictive, design["n_per_arm"], replicates, seed, config)
        table.insert(0, "design", design_name)
        table.insert(1, "batch", batch)
        table["replicate"] += first
        print(
            f"{design_name} batch {batch}: {replicates} simulated trials x {len(design['n_per_arm'])} n; updates: "
            f"{table['method'].value_counts().to_dict()}; set-up {ready - start:.1f} s, "
            f"simulation {time.perf_counter() - ready:.1f} s"
        )
        return {"table": table}

    label = f"next trial, {design_name} batch {batch}"
    table = stage_store.reused_or_made(cache_dir, job_key(inputs, config, job), label, make)["table"]
    write_table(table, Path(out_csv), {**stamp(data_dir, config), "seed": settings["seed"]})


def funnel(inputs, design_name: str, config: dict, data_dir: Path, out_csv: Path, threads=1, cache_dir=None,
           set_up: Callable | None = None):  # fmt: skip
    """The extended funnel grid of one design (with `cache_dir` and `set_up`: as simulate_batch)."""
    settings = config["next_trial"]
    set_up = set_up or _set_up(inputs, design_name, config, threads)
    job = {"funnel": design_name, **{k: v for k, v in settings.items() if k not in ("simulations", "batch_size")}}

    def make() -> dict:
        from irsynth.nexttrial import funnel_grid

        start = time.perf_counter()
        updater, predictive = set_up()
        table = funnel_grid(updater, predictive, config)
        table.insert(0, "design", design_name)
        print(
            f"{design_name}: {len(table)} grid points; updates: {table['method'].value_counts().to_dict()}; "
            f"{time.perf_counter() - start:.1f} s"
        )
        return {"table": table}

    label = f"next trial, {design_name} funnel"
    table = stage_store.reused_or_made(cache_dir, job_key(inputs, config, job), label, make)["table"]
    write_table(table, Path(out_csv), {**stamp(data_dir, config), "seed": settings["seed"]})


def first_batch_and_funnel(inputs, design_name: str, config: dict, data_dir: Path, outputs, threads=1,
                           cache_dirs=None):  # fmt: skip
    """A design's first batch of simulated trials (outputs.table) and its funnel grid (outputs.funnel), set up once;
    `cache_dirs` (batch, funnel) as simulate_batch's and funnel's."""
    batch_cache, funnel_cache = cache_dirs or (None, None)
    set_up = _set_up(inputs, design_name, config, threads)
    simulate_batch(inputs, design_name, 0, config, data_dir, Path(outputs.table), threads, batch_cache, set_up)
    funnel(inputs, design_name, config, data_dir, Path(outputs.funnel), threads, funnel_cache, set_up)


def gather(batch_csvs, funnel_csvs, config: dict, data_dir: Path, outputs) -> None:
    """All simulated trials, the summary per design and n, and the funnel grids, each in one table."""
    from irsynth.nexttrial import summary_table

    provenance = {**stamp(data_dir, config), "seed": config["next_trial"]["seed"]}
    simulations = pd.concat([read_result(path) for path in batch_csvs], ignore_index=True)
    simulations = simulations.sort_values(["design", "replicate", "n_per_arm"], kind="stable")
    order = [d["name"] for d in config["next_trial"]["designs"]]
    summary = summary_table(simulations)
    summary = summary.sort_values("design", key=lambda s: s.map(order.index), kind="stable")
    write_table(simulations, Path(outputs.simulations), provenance)
    write_table(summary, Path(outputs.summary), provenance)
    write_table(pd.concat([read_result(p) for p in funnel_csvs], ignore_index=True), Path(outputs.funnel), provenance)
    print(summary.to_string(index=False))
