"""Re-fitting after a change of the evidence by updating the last MCMC fit: Pareto-smoothed importance sampling.

A living review changes its evidence a little at a time. When the parameter space is unchanged (the evidence model
integrates its per-study effects out, so a new trial adds data but no parameter), the draws theta_i of the last
MCMC fit, whose unnormalised log posterior log q(theta_i) was stored with them, are a proposal for the new
posterior p. Their importance weights w_i = p(theta_i) / q(theta_i) (new prior x likelihood over old, at each draw)
are Pareto-smoothed (PSIS; Vehtari, Simpson, Gelman, Yao & Gabry 2024, JMLR 25(72)) and the draws resampled in
proportion to them (systematic resampling, then shuffled), giving an equally weighted sample of p of the same size
that every summary downstream reads as it reads an MCMC fit. Within one pipeline run the same holds: a sensitivity,
leave-one-out or cumulative run differs from the primary analysis by a prior or a little evidence, so a run without
a stored fit of its own is updated from the primary fit (PSIS-LOO's setting; Vehtari, Gelman & Gabry 2017, Stat
Comput 27:1413), and only the runs where that is unreliable are sampled. A run fitted with `psis=False` (the evidence
model's primary, whose draws later updates start from) is re-used unchanged or sampled, never updated; the fit it
replaces stays a fallback base of the other runs.

The update is used only when it is reliable: Pareto k <= `pareto_k_max` (config 0.5: the weights have finite
variance; the paper's limit for useful estimates is 0.7), and every parameter's effective sample size, the stored
fit's bulk and tail ESS times the weights' efficiency 1 / (S sum(w_i^2)) (normalised smoothed weights), at least the
sampling gate's. Otherwise the run is sampled by MCMC afresh, and that fit becomes the run's new base. When the log
weights are constant (the data and priors that inform the run did not change), the stored draws are used unchanged.
Every fit records how it was obtained.
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from irsynth import progress
from irsynth.draws_function import draws_function, flat_draws
from irsynth.fitting import (
    RETRY_KEYS,
    Sampler,
    check_gates,
    data_values,
    fit_gated,
    retry_ladder,
    sample_with,
    settings_text,
)
from irsynth.moment_matching import Weighted, efficiency, moment_match, relative_efficiency, resample, smoothed
from irsynth.provenance import atomic_path
from irsynth.unconstrained import Unconstrained

UNCHANGED_TOLERANCE = 1e-8  # log-weight range below which the posterior is taken as unchanged
RETRY_STORED = "the stored fit fails a gate: sampled again with safer settings"
NOT_UPDATED = "not tried, as this run is sampled whenever what informs it changes"
OBTAINED = {"unchanged": "re-used", "PSIS update": "updated", "MCMC": "sampled"}  # progress lines' words


class PosteriorFunctions:
    """One compiled function of a model, vectorised over draws: (free-variable draws) -> (unnormalised log
    posterior, deterministics). pm.Data values are read at each call, so one compilation serves every run."""

    def __init__(self, model: pm.Model):
        self.model = model
        self.free = [rv.name for rv in model.free_RVs]
        self.deterministics = [v.name for v in model.deterministics]

        def outputs(plain: pm.Model) -> list:
            return [plain.logp(jacobian=False), *(plain[name] for name in self.deterministics)]

        self._fn, self.plain = draws_function(model, outputs)

    def __call__(self, posterior: xr.Dataset, **overrides) -> tuple[np.ndarray, xr.Dataset]:
        """Log posterior (chain x draw) and the deterministics of `posterior`, under pm.Data `overrides`."""
        chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
        with data_values(self.plain, overrides):
            log_density, *values = self._fn(*flat_draws(posterior, self.free).values())
        dims = {name: self.model.named_vars_to_dims.get(name, ()) for name in self.deterministics}
        coords = {dim: list(self.model.coords[dim]) for names in dims.values() for dim in names}
        extra = xr.Dataset(
            {
                name: (("chain", "draw", *dims[name]), value.reshape(chains, draws, *value.shape[1:]))
                for name, value in zip(self.deterministics, values)
            },
            coords={**coords, "chain": posterior["chain"], "draw": posterior["draw"]},
        )
        return log_density.reshape(chains, draws), extra

    def log_density(self, values: dict[str, np.ndarray], overrides: dict) -> np.ndarray:
        """Unnormalised log posterior (constrained scale, no Jacobian) at flat draws `values` (name -> draws x
        shape) under pm.Data `overrides`."""
        with data_values(self.plain, overrides):
            return self._fn(*(values[name] for name in self.free))[0]

    @cached_property
    def space(self) -> Unconstrained:
        """The free variables on the unconstrained scale (for moment matching)."""
        return Unconstrained(self.model)


@dataclass
class Reweighting:
    """Resampling indices of a PSIS update, with its diagnostics."""

    indices: np.ndarray
    pareto_k: float
    efficiency: float  # 1 / sum(w^2) / S: the share of the draws the weights keep


def psis_resample(log_ratio: np.ndarray, seed: int) -> Reweighting:
    """PSIS-smoothed weights of MCMC draws (`log_ratio`: chain x draw) and systematic resampling in proportion to
    them. The tail length uses r_eff, the relative MCMC efficiency of the raw weights (as the loo package does).
    Raises ValueError where the weights' tail cannot be fitted (ties)."""
    log_weights, k = smoothed(np.ravel(log_ratio), relative_efficiency(log_ratio))
    return Reweighting(resample(log_weights, seed), k, efficiency(log_weights))


def matched_update(
    functions: PosteriorFunctions,
    posterior: xr.Dataset,
    base: dict,
    target: dict,
    k_max: float,
    min_efficiency: float,
    seed: int,
) -> tuple[xr.Dataset, Weighted]:
    """The update of MCMC draws `posterior` of the model under pm.Data values `base` to the model under `target`, by
    PSIS with moment matching (irsynth.moment_matching) on the unconstrained scale: resampled draws of the free
    variables (chain x draw), and the weighted sample they come from. Needs the draws' own posterior as a function,
    which `base` gives; `k_max` and `min_efficiency` say when the weights are good enough. Raises ValueError where
    no Pareto tail can be fitted to the plain weights, or a transform of the model does not allow the flat
    unconstrained form."""
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    space = functions.space
    start = space.flat(flat_draws(posterior, functions.free))

    def log_density(points: np.ndarray, overrides: dict) -> np.ndarray:
        values, log_jacobian = space.values(points)
        return functions.log_density(values, overrides) + log_jacobian

    weighted = moment_match(
        start, chains, lambda x: log_density(x, target), lambda x: log_density(x, base), k_max, min_efficiency
    )
    values, _ = space.values(weighted.points[resample(weighted.log_weights, seed)])
    dims = {name: posterior[name].dims for name in functions.free}
    resampled = xr.Dataset(
        {name: (dims[name], value.reshape(chains, draws, *value.shape[1:])) for name, value in values.items()},
        coords=posterior.coords,
    )
    return resampled, weighted


def take_draws(posterior: xr.Dataset, indices: np.ndarray) -> xr.Dataset:
    """The draws at flat `indices`, laid out again as chain x draw."""
    stacked = posterior.stack(sample=("chain", "draw")).isel(sample=indices)
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    return xr.Dataset(
        {
            name: (
                ("chain", "draw", *var.dims[:-1]),
                np.moveaxis(var.values, -1, 0).reshape(chains, draws, *var.shape[:-1]),
            )
            for name, var in stacked.drop_vars(["sample", "chain", "draw"]).data_vars.items()
        },
        coords={
            "chain": posterior["chain"].values,
            "draw": posterior["draw"].values,
            **{k: v for k, v in posterior.coords.items() if k not in ("chain", "draw")},
        },
    )


@dataclass
class Fit:
    """A posterior and how it was obtained."""

    trace: xr.DataTree
    method: str  # "MCMC", "unchanged" (a stored MCMC fit whose posterior is the same), "PSIS update"
    diagnostics: pd.DataFrame  # per parameter, of the MCMC fit the draws come from (ESS scaled by an update)
    per_fit: dict  # divergences, bfmi_min; base, pareto_k and ess_update for an update
    failures: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        if self.method == "PSIS update":
            matched = ""
            if "moment_matching_steps" in self.per_fit:
                matched = (
                    f", moment-matched in {_steps(self.per_fit['moment_matching_steps'])} from Pareto k "
                    f"{self.per_fit['pareto_k_plain']:.2f}"
                )
            return (
                f"PSIS update (Pareto k {self.per_fit['pareto_k']:.2f}, ESS {self.per_fit['ess_update']:.0f}{matched})"
            )
        if self.method == "unchanged" and self.per_fit["base_run"] != self.per_fit.get("run"):
            return f"MCMC (the stored fit of run '{self.per_fit['base_run']}', whose posterior this is)"
        notes = [f"update {self.per_fit['update_rejected']}"] if self.per_fit.get("update_rejected") else []
        if self.per_fit.get("attempt", 1) > 1:
            notes.append(f"attempt {self.per_fit['attempt']}, with safer settings: {settings_text(self.per_fit)}")
        return f"MCMC ({'; '.join(notes)})" if notes else "MCMC"

    @property
    def columns(self) -> dict:
        """How the posterior was obtained, and the stored MCMC fit it updates (blank unless updated)."""
        return {"fit": self.description, "updated_from": self.per_fit["base"] if self.method == "PSIS update" else ""}

    def diagnostics_table(self) -> pd.DataFrame:
        """Per-parameter diagnostics (of the MCMC fit the draws come from), per-fit figures, how it was obtained."""
        update = {key: self.per_fit.get(key, np.nan) for key in ("pareto_k", "ess_update")}
        per_fit = {key: self.per_fit[key] for key in ("divergences", "bfmi_min")}
        attempt = {key: self.per_fit.get(key, np.nan) for key in ("attempt", *RETRY_KEYS)}
        return self.diagnostics.assign(**per_fit, **attempt, **self.columns, **update)


def unreliable(pareto_k: float, ess: float, update: dict, gates: dict) -> str:
    """Why a PSIS update with this Pareto k and ESS (the stored fit's smallest times the weights' efficiency) is not
    used ('' where it is reliable): k must be <= update['pareto_k_max'] and the ESS must pass gates['ess_min']."""
    if not pareto_k <= update["pareto_k_max"]:
        return f"Pareto k {pareto_k:.2f} > {update['pareto_k_max']:g}"
    if not ess >= gates["ess_min"]:
        return f"ESS {ess:.0f} < {gates['ess_min']}"
    return ""


class IncrementalSampler:
    """Posteriors of one model under pm.Data overrides, one per named run: the run's stored MCMC fit updated by PSIS
    where that is reliable, MCMC otherwise. Each MCMC fit returned is stored in `cache_dir` as its run's base. The
    primary run is sampled with `sampling`, every other run with `refits` over it (shorter tuning, say)."""

    def __init__(
        self,
        model: pm.Model,
        sampling: dict,
        update: dict,
        cache_dir: Path | None,
        var_names: list[str],
        label: str,
        fitted: str,
        refits: dict | None = None,
    ):
        self.model, self.sampling, self.update = model, sampling, update
        self.refit_sampling = {**sampling, **(refits or {})}
        self.cache = Path(cache_dir) if cache_dir is not None else None
        self.var_names, self.label, self.fitted = var_names, label, fitted
        self.functions = PosteriorFunctions(model)
        self.fingerprints = {
            key: fingerprint(model, s) for key, s in (("primary", sampling), ("refit", self.refit_sampling))
        }
        self.methods: dict[str, str] = {}  # run -> how its posterior was obtained
        self.total: int | None = None  # number of runs expected, for the progress lines
        self._sampler = None
        self._bases: dict[str, tuple | None] = {}  # run -> its stored fit as read (_base)
        # stored fits whose posterior is known as a function (pm.Data values), being fitted or re-used in this process
        self._current: dict[str, dict] = {}

    def fit(self, run: str, on_failure: str, fallback_base: str | None = None, psis: bool = True, **overrides) -> Fit:
        """The posterior of `run` (stored under that name). A run without a usable base of its own is updated from
        the base of `fallback_base`, the primary fit, whether stored by this pipeline run or an earlier one (a
        sensitivity or leave-one-out run, or a cumulative year, is close to the primary: PSIS-LOO's setting), where
        that is reliable. An update carries the MCMC diagnostics of the fit it updates, checked against the current
        gates. Without `psis`, a stored fit is re-used only unchanged, and a changed posterior is sampled; the fit it
        replaces is kept as `previous_fit(run)`, the last fallback of the other runs (a run whose evidence did not
        change with the primary's, a cumulative year, updates from it as it did)."""
        start, fit, rejected = time.perf_counter(), None, []
        if self.update["method"] == "importance_sampling" and self.cache is not None:
            fallbacks = (fallback_base, previous_fit(fallback_base)) if fallback_base is not None else ()
            bases = list(dict.fromkeys((run, *fallbacks)))
            # a stored fit re-used unchanged or reweighted first, from any base; then moment matching, from a base
            # whose posterior is known as a function (fitted or re-used in this process)
            matching = psis and self.update["moment_matching"]
            attempts = [(b, False) for b in bases] + [(b, True) for b in bases if matching and b in self._current]
            for base_run, matched in attempts:
                if fit is None:
                    fit, reason = self._update(run, base_run, on_failure, overrides, psis, matched)
                    how = ", moment-matched" if matched else ""
                    rejected += [f"from {base_run}{how}: {reason}"] if reason else []
        fit = fit or self._mcmc(run, on_failure, overrides, rejected, keep_previous=not psis)
        self.methods[run] = fit.method
        if fit.method != "PSIS update":
            self._current[run if fit.method == "MCMC" else fit.per_fit["base_run"]] = overrides
        count = f"{len(self.methods)}/{self.total}" if self.total else f"{len(self.methods)}"
        progress.say(f"{self.label} fit {count}, {run}: {OBTAINED[fit.method]} ({time.perf_counter() - start:.1f} s)")
        return fit

    def summary(self) -> str:
        """How many runs' posteriors are MCMC fits (sampled now or stored and unchanged) and PSIS updates."""
        kinds = ["PSIS update" if m == "PSIS update" else "MCMC fit" for m in self.methods.values()]
        return ", ".join(
            f"{count} {kind}{'s' * (count > 1)}" for kind, count in pd.Series(kinds).value_counts().items()
        )

    def _update(
        self, run: str, base_run: str, on_failure: str, overrides: dict, psis: bool, matched: bool = False
    ) -> tuple[Fit | None, str]:
        """The update of `base_run`'s stored fit (without `psis`: only the stored fit unchanged; with `matched`, by
        moment matching, which needs the base's posterior as a function: a base in self._current), or None and why
        not (blank: there is no usable stored fit).

        An update's ESS per parameter is the stored fit's times the weights' efficiency 1 / sum(w^2) / S; it must
        pass the ESS gate, with Pareto k <= pareto_k_max. The stored fit's other diagnostics (R-hat, divergences,
        E-BFMI) carry over and are checked against the current gates like a new MCMC fit's (the same seed would
        reproduce them); a stored fit that fails them is not used unless it came from the last attempt of the retry
        ladder, so the run is sampled again with safer settings."""
        base = self._base(base_run)
        if base is None:
            return None, ""
        posterior, stored_log_density, meta = base
        table = pd.DataFrame(meta["diagnostics"]["data"], columns=meta["diagnostics"]["columns"])
        per_fit = dict(meta["per_fit"], base=meta["fitted"], base_run=base_run, run=run)
        smallest = float(table[["ess_bulk", "ess_tail"]].min().min())
        seed = self.sampling["seed"]
        if matched:
            try:
                draws, weighted = matched_update(
                    self.functions, posterior, self._current[base_run], overrides, self.update["pareto_k_max"],
                    self.sampling["gates"]["ess_min"] / smallest, seed,
                )  # fmt: skip
            except ValueError as error:
                return None, f"not possible ({error})"
            pareto_k, kept = weighted.pareto_k, weighted.efficiency
            per_fit |= {"pareto_k_plain": weighted.plain_k, "moment_matching_steps": weighted.steps}
        else:
            log_density, extra = self.functions(posterior, **overrides)
            log_ratio = log_density - stored_log_density
            if np.ptp(log_ratio) < UNCHANGED_TOLERANCE:
                failures = self._stored_gates(table, per_fit, run, on_failure)
                if failures is None:
                    return None, RETRY_STORED
                return Fit(_trace(posterior, extra), "unchanged", table, per_fit, failures), ""
            if not psis:
                return None, NOT_UPDATED
            try:
                update = psis_resample(log_ratio, seed)
            except ValueError as error:
                return None, f"no Pareto fit to the weights ({error})"
            pareto_k, kept = update.pareto_k, update.efficiency
        if why := unreliable(pareto_k, smallest * kept, self.update, self.sampling["gates"]):
            return None, f"{_steps(weighted.steps)}, {why}" if matched else why
        scaled = table.assign(ess_bulk=table["ess_bulk"] * kept, ess_tail=table["ess_tail"] * kept)
        failures = self._stored_gates(scaled, per_fit, run, on_failure)
        if failures is None:
            return None, RETRY_STORED
        per_fit |= {"pareto_k": pareto_k, "ess_update": smallest * kept}
        if matched:
            resampled = xr.merge([draws, self.functions(draws, **overrides)[1]])
        else:
            resampled = take_draws(xr.merge([posterior, extra]), update.indices)
        return Fit(xr.DataTree.from_dict({"posterior": resampled}), "PSIS update", scaled, per_fit, failures), ""

    def _base(self, run: str) -> tuple[xr.Dataset, np.ndarray, dict] | None:
        """`run`'s stored fit (load_base), read once: the primary's is the fallback base of every other run."""
        if run not in self._bases:
            self._bases[run] = load_base(self.cache, run, self._fingerprint(run))
        return self._bases[run]

    def _stored_gates(self, table: pd.DataFrame, per_fit: dict, run: str, on_failure: str) -> list[str] | None:
        """The gates a stored fit's carried diagnostics fail, as check_gates; None where it fails some and the retry
        ladder has attempts it did not try (the run is then sampled again, with safer settings)."""
        failures = check_gates(table, per_fit, self.sampling["gates"], self._label(run), "warn")
        if failures and per_fit.get("attempt", 1) < len(retry_ladder(self.sampling)):
            return None
        return check_gates(table, per_fit, self.sampling["gates"], self._label(run), on_failure)

    def _sampling(self, run: str) -> dict:
        return self.sampling if run == "primary" else self.refit_sampling

    def _fingerprint(self, run: str) -> str:
        return self.fingerprints["primary" if run in ("primary", previous_fit("primary")) else "refit"]

    def _mcmc(self, run: str, on_failure: str, overrides: dict, rejected: list[str], keep_previous: bool) -> Fit:
        if self._sampler is None:
            self._sampler = Sampler(self.model, self.sampling, var_names=self.functions.free)
        sample = sample_with(self._sampler, self.sampling["seed"], **overrides)

        def with_deterministics(settings: dict) -> xr.DataTree:
            sampled = sample(settings)
            posterior = sampled.posterior.to_dataset()[self.functions.free]
            trace = _trace(posterior, self.functions(posterior, **overrides)[1])
            trace["sample_stats"] = sampled["sample_stats"]
            return trace

        gated = fit_gated(with_deterministics, self._sampling(run), self.var_names, self._label(run), on_failure)
        trace, posterior = gated.trace, gated.trace.posterior.to_dataset()[self.functions.free]
        log_density = self.functions(posterior, **overrides)[0]
        # why no update was used is part of how the fit was obtained: stored with it, so a re-use says the same
        per_fit = gated.per_fit | gated.columns | {"update_rejected": "; ".join(rejected)}
        table, failures = gated.table, gated.failures
        if self.cache is not None:
            if keep_previous and (previous := self._base(run)) is not None:
                store_base(self.cache, previous_fit(run), *previous)
                self._bases[previous_fit(run)] = previous
            self._bases.pop(run, None)
            store_base(
                self.cache,
                run,
                posterior,
                log_density,
                {
                    "fingerprint": self._fingerprint(run),
                    "fitted": self.fitted,
                    "diagnostics": table.to_dict("split", index=False),
                    "per_fit": per_fit,
                },
            )
        return Fit(trace, "MCMC", table, per_fit, failures)

    def _label(self, run: str) -> str:
        return self.label if run == "primary" else f"{self.label} ({run})"


def _steps(count: int) -> str:
    """'1 step', '3 steps': moment matching's affine maps."""
    return f"{count} step{'s' * (count != 1)}"


def previous_fit(run: str) -> str:
    """The name a run's replaced fit is kept under (IncrementalSampler.fit without psis)."""
    return f"{run}, previous fit"


def fingerprint(model: pm.Model, sampling: dict) -> str:
    """What a stored base must share with a model to serve it: the sampler settings and the free variables' shapes."""
    point = model.initial_point()
    shapes = {rv.name: list(point[model.rvs_to_values[rv].name].shape) for rv in model.free_RVs}
    keys = ("sampler", "draws", "tune", "chains", "target_accept", "low_rank_mass_matrix", "seed")
    return hashlib.sha256(json.dumps([{k: sampling.get(k) for k in keys}, shapes], sort_keys=True).encode()).hexdigest()


def _trace(posterior: xr.Dataset, deterministics: xr.Dataset) -> xr.DataTree:
    return xr.DataTree.from_dict({"posterior": xr.merge([posterior, deterministics])})


def _base_path(cache: Path, run: str) -> Path:
    return cache / f"{hashlib.sha256(run.encode()).hexdigest()[:16]}.npz"


def store_base(cache: Path, run: str, posterior: xr.Dataset, log_density: np.ndarray, meta: dict) -> None:
    """Store a run's MCMC draws (free variables) with their log posterior, atomically: arrays in an uncompressed
    .npz (read in milliseconds; netCDF took 80 ms a fit), their names, dimensions and coordinates in its header."""
    names = list(posterior.data_vars)
    header = {
        "run": run,
        "meta": meta,
        "variables": [[name, list(posterior[name].dims)] for name in names],
        "coords": {name: [list(coord.dims), coord.values.tolist()] for name, coord in posterior.coords.items()},
    }
    arrays = {f"variable_{i}": posterior[name].values for i, name in enumerate(names)}
    with atomic_path(_base_path(cache, run)) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, header=np.array(json.dumps(header)), log_density=log_density, **arrays)


def load_base(cache: Path, run: str, fingerprint: str) -> tuple[xr.Dataset, np.ndarray, dict] | None:
    """A run's stored draws, their log posterior and metadata; None if absent, unreadable or of another setup."""
    path = _base_path(cache, run)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(str(stored["header"]))
            variables = {name: (dims, stored[f"variable_{i}"]) for i, (name, dims) in enumerate(header["variables"])}
            log_density = stored["log_density"]
            run_stored, meta, coords = header["run"], header["meta"], header["coords"]
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None
    if run_stored != run or meta.get("fingerprint") != fingerprint:
        return None
    coords = {name: (dims, values) for name, (dims, values) in coords.items()}
    return xr.Dataset(variables, coords=coords), log_density, meta
