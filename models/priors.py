"""Prior distributions for the heterogeneity SD tau, shared by the exact and the MCMC fits.

Families (config `models.pairwise.tau_prior`):
- half_normal(scale), half_cauchy(scale): on tau;
- log_normal(location, scale): log(tau^2) ~ Normal(location, scale), i.e. log(tau) ~ Normal(location/2, scale/2);
- log_t(location, scale, df): log(tau^2) ~ Student-t(df, location, scale) (Rhodes et al. 2015 report their
  predictive distributions for continuous outcomes in this form).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
from scipy import stats


def tau_logpdf(spec: dict):
    """Log density of tau under `spec`, as a function of a numpy array of tau >= 0."""
    family = spec["family"]
    if family == "half_normal":
        return lambda tau: stats.halfnorm.logpdf(tau, scale=spec["scale"])
    if family == "half_cauchy":
        return lambda tau: stats.halfcauchy.logpdf(tau, scale=spec["scale"])
    if family == "log_normal":
        return lambda tau: _on_log_tau(tau, stats.norm(spec["location"] / 2, spec["scale"] / 2).logpdf)
    if family == "log_t":
        return lambda tau: _on_log_tau(tau, stats.t(spec["df"], spec["location"] / 2, spec["scale"] / 2).logpdf)
    raise ValueError(f"unknown tau prior family {family!r}")


def _on_log_tau(tau, logpdf_of_log_tau):
    tau = np.asarray(tau, float)
    with np.errstate(divide="ignore"):
        return np.where(
            tau > 0,
            logpdf_of_log_tau(np.log(np.where(tau > 0, tau, 1.0))) - np.log(np.where(tau > 0, tau, 1.0)),
            -np.inf,
        )


def pymc_tau(name: str, spec: dict):
    """The same prior as a PyMC random variable (inside a model context)."""
    family = spec["family"]
    if family == "half_normal":
        return pm.HalfNormal(name, sigma=spec["scale"])
    if family == "half_cauchy":
        return pm.HalfCauchy(name, beta=spec["scale"])
    if family == "log_normal":
        return pm.LogNormal(name, mu=spec["location"] / 2, sigma=spec["scale"] / 2)
    if family == "log_t":
        log_tau = pm.StudentT(f"log_{name}", nu=spec["df"], mu=spec["location"] / 2, sigma=spec["scale"] / 2)
        return pm.Deterministic(name, pm.math.exp(log_tau))
    raise ValueError(f"unknown tau prior family {family!r}")
