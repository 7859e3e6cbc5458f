"""Sampling and convergence gates shared by every model.

`Sampler` compiles a PyMC model once (nutpie by default, PyMC's NUTS selectable) and samples it with new data as
often as needed. `diagnostics` tabulates R-hat, bulk and tail ESS per parameter plus divergences and E-BFMI;
`check_gates` compares them with config `sampling.gates` and raises `ConvergenceError` naming the model, the
parameter and the figure (or returns the failures as warnings when `sampling.on_gate_failure` is "warn").
`fit_gated` re-fits a run that fails a gate with the safer settings of config `sampling.retries` before giving up,
and records which attempt and which settings gave the fit it returns.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import nutpie
import pandas as pd
import pymc as pm


class ConvergenceError(RuntimeError):
    """A fit failed a convergence gate."""


class data_values:
    """Context in which a model's pm.Data containers hold `overrides`, restored on exit."""

    def __init__(self, model: pm.Model, overrides: dict):
        self.model, self.overrides, self.saved = model, overrides, {}

    def __enter__(self):
        for name, value in self.overrides.items():
            shared = self.model[name]
            self.saved[name] = shared.get_value()
            shared.set_value(np.asarray(value, dtype=shared.dtype))

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            self.model[name].set_value(value)


@dataclass
class Sampler:
    """A compiled model that can be re-sampled with new values of its `pm.Data` containers."""

    model: pm.Model
    settings: dict
    var_names: list[str] | None = None  # variables to keep (default: all); fewer compile faster
    _compiled: object = field(default=None, repr=False)

    def __post_init__(self):
        if self.settings["sampler"] == "nutpie":
            from irsynth import nutpie_compile

            self._compiled = nutpie_compile.compile_pymc_model(self.model, var_names=self.var_names)

    def sample(self, seed: int, **data):
        s = self.settings
        if s["sampler"] == "nutpie":
            compiled = self._compiled.with_data(**data) if data else self._compiled
            return nutpie.sample(
                compiled,
                draws=s["draws"],
                tune=s["tune"],
                chains=s["chains"],
                cores=s["cores"],
                seed=seed,
                target_accept=s["target_accept"],
                progress_bar=s.get("progress", _console_is_terminal()),
                save_warmup=False,
                adaptation="low_rank" if s.get("low_rank_mass_matrix", False) else "diag",
            )
        with self.model, data_values(self.model, data):
            return pm.sample(
                draws=s["draws"],
                tune=s["tune"],
                chains=s["chains"],
                cores=s["cores"],
                random_seed=seed,
                target_accept=s["target_accept"],
                nuts_sampler="pymc",
                progressbar=s.get("progress", False),
                compute_convergence_checks=False,
                var_names=self.var_names,
            )


def _console_is_terminal() -> bool:
    """Whether the process's stderr (where nutpie draws its progress bar, past Python's redirection) is a terminal:
    elsewhere a progress bar would only fill a log."""
    return os.isatty(2)


def diagnostics(trace, var_names: list[str]) -> tuple[pd.DataFrame, dict]:
    """Per-parameter R-hat and ESS (bulk, tail), and per-fit divergences and minimum E-BFMI."""
    rhat = az.rhat(trace, var_names=var_names)
    bulk = az.ess(trace, var_names=var_names, method="bulk")
    tail = az.ess(trace, var_names=var_names, method="tail")
    rows = []
    for name in var_names:
        r, b, t = (np.atleast_1d(ds[name].values).ravel() for ds in (rhat, bulk, tail))
        labels = _element_labels(rhat[name])
        rows += [
            {"parameter": label, "r_hat": float(ri), "ess_bulk": float(bi), "ess_tail": float(ti)}
            for label, ri, bi, ti in zip(labels, r, b, t)
        ]
    stats = trace["sample_stats"]
    energy = stats["energy"].values
    bfmi = np.square(np.diff(energy, axis=1)).mean(axis=1) / np.var(energy, axis=1)
    per_fit = {"divergences": int(stats["diverging"].values.sum()), "bfmi_min": float(np.min(bfmi))}
    return pd.DataFrame(rows), per_fit


def _element_labels(array) -> list[str]:
    if array.ndim == 0:
        return [array.name]
    index = array.to_series().index
    return [f"{array.name}[{', '.join(map(str, np.atleast_1d(key)))}]" for key in index]


NAMED_PER_GATE = 3


def check_gates(
    table: pd.DataFrame, per_fit: dict, gates: dict, model_name: str, on_failure: str = "stop"
) -> list[str]:
    """Messages for every gate a fit fails; raise ConvergenceError if any and `on_failure` is 'stop'. Up to
    NAMED_PER_GATE parameters failing a gate are named each; beyond that, the count and the worst one."""
    failures = []
    r_hat, ess = gates["r_hat_max"], gates["ess_min"]
    for column, name, digits, fails, gate in (
        ("r_hat", "R-hat", 3, ~(table["r_hat"] <= r_hat), f"<= {r_hat}"),
        ("ess_bulk", "ess bulk ESS", 0, ~(table["ess_bulk"] >= ess), f">= {ess}"),
        ("ess_tail", "ess tail ESS", 0, ~(table["ess_tail"] >= ess), f">= {ess}"),
    ):
        failing = table[fails]
        if len(failing) > NAMED_PER_GATE:
            worst = failing.sort_values(column, ascending=column != "r_hat", na_position="first").iloc[0]
            failures.append(
                f"{model_name}: {name} of {len(failing)} parameters fails its gate ({gate}); the worst, "
                f"{worst['parameter']}, is {worst[column]:.{digits}f}"
            )
            continue
        failures += [
            f"{model_name}: {name} of {row['parameter']} is {row[column]:.{digits}f} (gate {gate})"
            for row in failing.to_dict("records")
        ]
    if per_fit["divergences"] > gates["divergences_max"]:
        failures.append(
            f"{model_name}: {per_fit['divergences']} divergent transitions (gate <= {gates['divergences_max']})"
        )
    if not per_fit["bfmi_min"] >= gates["bfmi_min"]:
        failures.append(f"{model_name}: E-BFMI {per_fit['bfmi_min']:.2f} in a chain (gate >= {gates['bfmi_min']})")
    if failures and on_failure == "stop":
        raise ConvergenceError(_gate_message(failures))
    return failures


def _gate_message(failures: list[str]) -> str:
    return "convergence gate failed:\n  " + "\n  ".join(failures)


RETRY_KEYS = ("target_accept", "tune", "draws")


def retry_ladder(sampling: dict) -> list[dict]:
    """The sampling settings of each attempt: as configured, then each step of `sampling.retries` over the attempt
    before it. A step never lowers a setting (the evidence model's own target_accept may already be higher)."""
    ladder = [dict(sampling)]
    for step in sampling.get("retries", []):
        ladder.append({**ladder[-1], **{k: max(v, ladder[-1][k]) for k, v in step.items()}})
    return ladder


def sample_with(sampler: Sampler, seed: int, **data) -> Callable[[dict], object]:
    """`fit_gated`'s sampling function of a compiled `sampler` and its data: other target_accept, tune or draws need
    no new compilation."""

    def sample(settings: dict):
        saved, sampler.settings = sampler.settings, settings
        try:
            return sampler.sample(seed=seed, **data)
        finally:
            sampler.settings = saved

    return sample


@dataclass
class GatedFit:
    """An MCMC fit, its diagnostics, the gates it failed, and the attempt (1: as configured) that gave it."""

    trace: object
    table: pd.DataFrame
    per_fit: dict
    failures: list[str]
    attempt: int
    settings: dict

    @property
    def columns(self) -> dict:
        """The attempt and its settings, as recorded beside the diagnostics."""
        return {"attempt": self.attempt, **{key: self.settings[key] for key in RETRY_KEYS}}


def fit_gated(
    sample: Callable[[dict], object], sampling: dict, var_names: list[str], model_name: str, on_failure: str = "warn"
) -> GatedFit:
    """Fit by `sample(settings) -> trace` under each setting of the retry ladder until the gates pass; the last
    attempt's failures raise ConvergenceError when `on_failure` is 'stop', else they are returned with the fit."""
    ladder = retry_ladder(sampling)
    for attempt, settings in enumerate(ladder, 1):
        trace = sample(settings)
        table, per_fit = diagnostics(trace, var_names)
        failures = check_gates(table, per_fit, sampling["gates"], model_name, "warn")
        if not failures or attempt == len(ladder):
            break
    if failures and attempt > 1:
        failures = [f"{f} (after {attempt} attempts, the last with {settings_text(settings)})" for f in failures]
    if failures and on_failure == "stop":
        raise ConvergenceError(_gate_message(failures))
    return GatedFit(trace, table, per_fit, failures, attempt, settings)


def settings_text(settings: dict) -> str:
    """'target_accept 0.999, tune 4000, draws 4000'."""
    return ", ".join(f"{key} {settings[key]:g}" for key in RETRY_KEYS)
