"""Exact posterior of the normal-normal random-effects model by one-dimensional integration over tau.

Model (as in bayesmeta): y_i ~ N(theta_i, v_i), theta_i ~ N(mu, tau^2), mu ~ N(m0, s0^2) (s0 = inf: flat),
tau ~ p(tau). Given tau, with w_i = 1/(v_i + tau^2):

    mu | tau, y        ~ N(M, 1/P),   P = 1/s0^2 + sum w_i,   M = (m0/s0^2 + sum w_i y_i) / P
    log p(y | tau)     = -1/2 sum log(2 pi (v_i + tau^2)) - 1/2 sum w_i y_i^2
                         - 1/2 log(2 pi s0^2) - m0^2/(2 s0^2) + 1/2 log(2 pi / P) + P M^2 / 2
    theta_i | tau, y   ~ N(B_i M + (1 - B_i) y_i,  v_i tau^2/(v_i + tau^2) + B_i^2 / P),  B_i = v_i/(v_i + tau^2)
    theta_new | tau, y ~ N(M, 1/P + tau^2)

p(tau | y) is p(tau) p(y | tau) normalised on a grid (trapezoid rule); every posterior of mu, theta_i and
theta_new is the p(tau | y)-mixture of the normals above, whose quantiles are found by root finding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, stats


@dataclass(frozen=True)
class Mixture:
    """A mixture of normals N(mean_k, sd_k^2) with weights w_k (summing to 1)."""

    weights: np.ndarray
    means: np.ndarray
    sds: np.ndarray

    def mean(self) -> float:
        return float(np.sum(self.weights * self.means))

    def sd(self) -> float:
        second = np.sum(self.weights * (self.sds**2 + self.means**2))
        return float(np.sqrt(second - self.mean() ** 2))

    def cdf(self, x: float) -> float:
        return float(np.sum(self.weights * stats.norm.cdf(x, self.means, self.sds)))

    def quantile(self, q: float) -> float:
        lo = float(np.min(self.means - 12 * self.sds))
        hi = float(np.max(self.means + 12 * self.sds))
        return optimize.brentq(lambda x: self.cdf(x) - q, lo, hi, xtol=1e-12)


@dataclass(frozen=True)
class ExactPosterior:
    tau: np.ndarray  # grid
    density: np.ndarray  # p(tau | y) on the grid
    mu: Mixture
    theta_new: Mixture
    theta: list[Mixture]  # shrunken study effects

    def tau_mean(self) -> float:
        return float(integrate.trapezoid(self.tau * self.density, self.tau))

    def tau_quantile(self, q: float) -> float:
        cdf = integrate.cumulative_trapezoid(self.density, self.tau, initial=0.0)
        return float(np.interp(q, cdf / cdf[-1], self.tau))


def tau_grid(upper: float, points: int = 4001) -> np.ndarray:
    """Grid on [0, upper], denser near 0 where the posterior of tau often piles up."""
    return upper * np.linspace(0.0, 1.0, points) ** 2


def exact_posterior(y, v, tau_logpdf, mu_prior=(0.0, np.inf), tau_upper: float | None = None, points: int = 4001):
    """Posterior of (mu, tau, theta, theta_new) given effects y, variances v and the priors.

    `tau_logpdf(tau_array)` is the log prior density of tau (up to a constant); `mu_prior` = (m0, s0).
    `tau_upper` defaults to a bound beyond which both prior and likelihood are negligible.
    """
    y, v = np.asarray(y, float), np.asarray(v, float)
    m0, s0 = mu_prior
    if tau_upper is None:
        tau_upper = 10 * max(np.std(y) if len(y) > 1 else 0.0, np.sqrt(np.max(v)), 1.0)
    tau = tau_grid(tau_upper, points)
    t2 = tau[:, None] ** 2
    w = 1.0 / (v[None, :] + t2)
    prior_precision = 0.0 if np.isinf(s0) else 1.0 / s0**2
    P = prior_precision + w.sum(axis=1)
    M = ((0.0 if np.isinf(s0) else m0 / s0**2) + (w * y).sum(axis=1)) / P
    loglik = -0.5 * np.log(2 * np.pi / w).sum(axis=1) - 0.5 * (w * y**2).sum(axis=1)
    loglik += 0.5 * np.log(2 * np.pi / P) + 0.5 * P * M**2
    if not np.isinf(s0):
        loglik += -0.5 * np.log(2 * np.pi * s0**2) - 0.5 * m0**2 / s0**2
    logpost = np.asarray(tau_logpdf(tau), float) + loglik
    logpost[~np.isfinite(logpost)] = -np.inf
    density = np.exp(logpost - np.max(logpost))
    density /= integrate.trapezoid(density, tau)
    weights = _trapezoid_weights(tau) * density
    weights /= weights.sum()
    mu = Mixture(weights, M, 1.0 / np.sqrt(P))
    theta_new = Mixture(weights, M, np.sqrt(1.0 / P + tau**2))
    B = v[None, :] / (v[None, :] + t2)
    theta_means = B * M[:, None] + (1 - B) * y[None, :]
    theta_vars = v[None, :] * t2 / (v[None, :] + t2) + B**2 / P[:, None]
    theta = [Mixture(weights, theta_means[:, i], np.sqrt(np.maximum(theta_vars[:, i], 1e-300))) for i in range(len(y))]
    return ExactPosterior(tau=tau, density=density, mu=mu, theta_new=theta_new, theta=theta)


def _trapezoid_weights(x: np.ndarray) -> np.ndarray:
    dx = np.diff(x)
    weights = np.zeros_like(x)
    weights[:-1] += dx / 2
    weights[1:] += dx / 2
    return weights
