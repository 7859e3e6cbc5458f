"""Pairwise Bayesian random-effects fits of every comparison x outcome, by exact integration and by MCMC.

The exact posterior (irsynth.exact) is computed for every group: it is the sampler-free fast path. Groups with
at least `min_studies_mcmc` studies are also sampled, one PyMC model compiled per number of studies and prior and
re-used (new `pm.Data`) across comparisons and outcomes; the exact posterior then cross-checks each MCMC fit
(`exact_minus_mcmc_median` in the summary). An MCMC fit that fails a gate is re-fitted with safer settings
(fitting.fit_gated); if it still fails, it is flagged in both tables, not fatal: the exact posterior is the answer
and the MCMC only its check. With a single study, tau is not identified by the data and the
non-centred posterior is a ridge that NUTS cannot explore reliably; the exact answer is reported alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from irsynth.effects import usable_effects
from irsynth.exact import exact_posterior
from irsynth.fitting import Sampler, fit_gated, sample_with
from irsynth.gates import gate_verdict
from irsynth.intervals import central_interval
from models.pairwise import build_pairwise
from models.priors import tau_logpdf

QUANTILES = (0.025, 0.5, 0.975)
PARAMETERS = ("mu", "tau", "theta_new")


def pairwise_groups(effects: pd.DataFrame, settings: dict) -> dict[tuple[str, str], pd.DataFrame]:
    """Usable study effects per (comparison, outcome) on the configured basis and measure."""
    chosen = usable_effects(effects, settings["basis"], settings["measure"])
    return {key: group.reset_index(drop=True) for key, group in chosen.groupby(["comparison", "outcome"], sort=True)}


def fit_pairwise(effects: pd.DataFrame, settings: dict, sampling: dict):
    """Fit every group under every tau prior; return (summary, diagnostics, gate messages, traces by label)."""
    samplers: dict[tuple[int, str], Sampler] = {}
    summaries, diags, messages, traces = [], [], [], {}
    for (comparison, outcome), group in pairwise_groups(effects, settings).items():
        y, se = group["yi"].to_numpy(float), np.sqrt(group["vi"].to_numpy(float))
        studies = group["study_id"].tolist()
        for prior_name, tau_prior in settings["tau_priors"].items():
            ident = {"comparison": comparison, "outcome": outcome, "tau_prior": prior_name, "k": len(y)}
            mu_prior = (settings["mu_prior"]["mean"], settings["mu_prior"]["sd"])
            exact = exact_posterior(y, se**2, tau_logpdf(tau_prior), mu_prior)
            if len(y) < settings["min_studies_mcmc"]:
                summaries.append(summarise(None, exact, ident, studies))
                continue
            key = (len(y), prior_name)
            if key not in samplers:
                model = build_pairwise(y, se, [f"s{i}" for i in range(len(y))], settings["mu_prior"], tau_prior)
                samplers[key] = Sampler(model, sampling)
            label = f"{comparison}__{outcome}__{prior_name}"
            sample = sample_with(samplers[key], sampling["seed"], y_obs=y, se_obs=se)
            fit = fit_gated(sample, sampling, list(PARAMETERS), f"pairwise {label}")
            trace = fit.trace
            summaries.append(summarise(trace, exact, ident, studies, flagged=bool(fit.failures)))
            messages += [f"{f} (flagged: the exact posterior is reported)" for f in fit.failures]
            diags.append(fit.table.assign(**ident, **fit.per_fit, **fit.columns, gate=gate_verdict(fit.failures)))
            trace["posterior"] = trace["posterior"].to_dataset().assign_coords(study=studies)
            traces[label] = trace
    diag = (
        pd.concat(diags, ignore_index=True)
        if diags
        else pd.DataFrame(columns=["parameter", "r_hat", "ess_bulk", "ess_tail", "gate"])
    )
    return pd.concat(summaries, ignore_index=True), diag, messages, traces


def summarise(trace, exact, ident: dict, studies: list[str], flagged: bool = False) -> pd.DataFrame:
    """Posterior mean, SD and quantiles of mu, tau, theta_new and each shrunken theta: exact, and MCMC if sampled
    (`flagged`: the MCMC fit failed its gates, so its columns are shown but not trusted)."""
    exact_of = {
        "mu": exact.mu,
        "theta_new": exact.theta_new,
        **{f"theta[{s}]": exact.theta[i] for i, s in enumerate(studies)},
    }
    rows = [
        {
            **ident,
            "parameter": "tau",
            "exact_mean": exact.tau_mean(),
            **{f"exact_q{q:g}": exact.tau_quantile(q) for q in QUANTILES},
        }
    ]
    rows += [
        {**ident, "parameter": name, "exact_mean": mix.mean(), **{f"exact_q{q:g}": mix.quantile(q) for q in QUANTILES}}
        for name, mix in exact_of.items()
    ]
    frame = pd.DataFrame(rows).set_index("parameter")
    if trace is not None:
        post = trace.posterior
        draws = {name: post[name].values.ravel() for name in PARAMETERS}
        theta = post["theta"].values.reshape(-1, len(studies))
        draws.update({f"theta[{s}]": theta[:, i] for i, s in enumerate(studies)})
        mcmc = pd.DataFrame({name: _moments(d) for name, d in draws.items()}).T
        frame = frame.join(mcmc)
        frame["exact_minus_mcmc_median"] = frame["exact_q0.5"] - frame["q0.5"]
    frame["method"] = (
        "exact only (too few studies for MCMC)"
        if trace is None
        else "exact; MCMC cross-check failed its gates (flagged, see diagnostics)"
        if flagged
        else "exact + MCMC"
    )
    return frame.reset_index()


def _moments(draws: np.ndarray) -> dict:
    interval = central_interval(draws)
    return {
        "mean": float(draws.mean()),
        "sd": float(draws.std(ddof=1)),
        "q0.025": interval.low,
        "q0.5": interval.median,
        "q0.975": interval.high,
    }
