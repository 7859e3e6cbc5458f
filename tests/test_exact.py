"""Exact posterior of the normal-normal model against brute-force 2-D integration and closed-form cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from irsynth.exact import exact_posterior
from models.priors import tau_logpdf

DATASETS = {
    "five studies": ([0.1, 0.5, -0.2, 0.8, 0.3], [0.04, 0.09, 0.05, 0.1, 0.02]),
    "two studies": ([-0.4, 0.3], [0.05, 0.08]),
    "tau near zero": ([0.2, 0.21, 0.19, 0.2], [0.1, 0.2, 0.15, 0.12]),
}
PRIORS = {
    "half_normal": {"family": "half_normal", "scale": 0.5},
    "half_cauchy": {"family": "half_cauchy", "scale": 0.25},
    "log_t": {"family": "log_t", "location": -3.41, "scale": 2.83, "df": 5},
}


def brute_force(y, v, tau_spec, mu_prior=(0.0, 2.0)):
    """Joint posterior of (mu, tau) on a rectangular grid, each study effect integrated out analytically."""
    y, v = np.asarray(y), np.asarray(v)
    mu = np.linspace(-4, 4, 1601)
    tau = np.linspace(0, 4, 1601) ** 2 / 4  # denser near 0, up to 4
    M, T = np.meshgrid(mu, tau, indexing="ij")
    logp = stats.norm.logpdf(M, *mu_prior) + tau_logpdf(tau_spec)(T)
    for yi, vi in zip(y, v):
        logp += stats.norm.logpdf(yi, M, np.sqrt(vi + T**2))
    p = np.exp(logp - logp.max())
    p_mu = integrate.trapezoid(p, tau, axis=1)
    p_tau = integrate.trapezoid(p, mu, axis=0)
    p_mu /= integrate.trapezoid(p_mu, mu)
    p_tau /= integrate.trapezoid(p_tau, tau)
    return mu, p_mu, tau, p_tau


def _quantile(x, density, q):
    cdf = integrate.cumulative_trapezoid(density, x, initial=0)
    return np.interp(q, cdf / cdf[-1], x)


@pytest.mark.parametrize("prior", PRIORS, ids=list(PRIORS))
@pytest.mark.parametrize("data", DATASETS, ids=list(DATASETS))
def test_exact_matches_brute_force_integration(data, prior):
    y, v = DATASETS[data]
    spec = PRIORS[prior]
    exact = exact_posterior(y, v, tau_logpdf(spec), mu_prior=(0.0, 2.0), tau_upper=4.0)
    mu, p_mu, tau, p_tau = brute_force(y, v, spec)
    assert exact.mu.mean() == pytest.approx(integrate.trapezoid(mu * p_mu, mu), abs=2e-3)
    assert exact.tau_mean() == pytest.approx(integrate.trapezoid(tau * p_tau, tau), abs=2e-3)
    for q in (0.025, 0.5, 0.975):
        assert exact.mu.quantile(q) == pytest.approx(_quantile(mu, p_mu, q), abs=5e-3)
        assert exact.tau_quantile(q) == pytest.approx(_quantile(tau, p_tau, q), abs=5e-3)


def test_tau_fixed_at_zero_gives_the_conjugate_normal():
    y, v = np.array([0.3, 0.1, 0.5]), np.array([0.04, 0.02, 0.09])
    m0, s0 = 0.0, 1.0
    exact = exact_posterior(
        y, v, tau_logpdf({"family": "half_normal", "scale": 1e-9}), mu_prior=(m0, s0), tau_upper=1e-7
    )
    precision = 1 / s0**2 + np.sum(1 / v)
    mean = (m0 / s0**2 + np.sum(y / v)) / precision
    assert exact.mu.mean() == pytest.approx(mean, abs=1e-9)
    assert exact.mu.quantile(0.975) == pytest.approx(stats.norm.ppf(0.975, mean, precision**-0.5), abs=1e-8)
    assert exact.theta_new.quantile(0.5) == pytest.approx(mean, abs=1e-8)


def test_study_effects_shrink_toward_the_mean():
    y, v = DATASETS["five studies"]
    exact = exact_posterior(y, v, tau_logpdf(PRIORS["half_normal"]), mu_prior=(0.0, 2.0))
    mu = exact.mu.mean()
    for yi, theta in zip(y, exact.theta):
        assert min(yi, mu) - 1e-9 <= theta.mean() <= max(yi, mu) + 1e-9


def test_predictive_is_wider_than_the_mean():
    y, v = DATASETS["five studies"]
    exact = exact_posterior(y, v, tau_logpdf(PRIORS["half_normal"]), mu_prior=(0.0, 2.0))
    assert exact.theta_new.sd() > exact.mu.sd()
    assert exact.theta_new.mean() == pytest.approx(exact.mu.mean())
