"""Importance sampling with moment matching: closed-form targets, exact leave-one-out predictive densities, and
arviz-stats' loo_moment_match (an independent implementation of the same algorithm) on the same problem."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from arviz_stats import loo, loo_moment_match
from scipy import stats
from scipy.special import logsumexp

from irsynth.moment_matching import moment_match, relative_efficiency, smoothed
from irsynth.unconstrained import Unconstrained

S = 8000


def gaussian(mean, cov):
    return stats.multivariate_normal(mean, cov).logpdf


def weighted_moments(result):
    w = np.exp(result.log_weights)
    mean = w @ result.points
    return mean, np.cov(result.points, rowvar=False, aweights=w)


def test_a_shifted_wider_correlated_normal_is_recovered_where_plain_psis_fails():
    draws = np.random.default_rng(0).standard_normal((S, 3))
    proposal = gaussian(np.zeros(3), np.eye(3))
    mean = np.array([2.5, -1.5, 0.5])
    cov = np.array([[2.0, 0.8, 0.0], [0.8, 1.0, -0.3], [0.0, -0.3, 0.6]])
    target = gaussian(mean, cov)
    _, plain_k = smoothed(target(draws) - proposal(draws), 1.0)
    assert plain_k > 0.7
    result = moment_match(draws, 4, target, proposal, 0.5)
    assert result.steps >= 1 and result.pareto_k <= 0.5 and result.efficiency > 0.2
    found_mean, found_cov = weighted_moments(result)
    # Monte Carlo error over seeds: up to about 0.1 in the means and 10% in the variances, no bias
    assert found_mean == pytest.approx(mean, abs=0.1)
    assert found_cov == pytest.approx(cov, abs=0.25)


def test_reliable_plain_weights_are_kept_as_they_are():
    draws = np.random.default_rng(1).standard_normal((S, 2))
    proposal, target = gaussian(np.zeros(2), np.eye(2)), gaussian([0.2, -0.1], np.eye(2) * 0.8)
    result = moment_match(draws, 4, target, proposal, 0.5)
    log_ratio = target(draws) - proposal(draws)
    log_weights, k = smoothed(log_ratio, relative_efficiency(log_ratio.reshape(4, -1)))
    assert result.steps == 0 and result.points is draws
    assert result.pareto_k == k and np.array_equal(result.log_weights, log_weights)


def test_weights_too_few_to_keep_are_matched_until_they_keep_enough():
    """A narrower, shifted target: bounded weights (low k) that keep few draws; the maps raise their efficiency."""
    draws = np.random.default_rng(7).standard_normal((S, 1))
    proposal, target = gaussian([0.0], [[1.0]]), gaussian([1.5], [[0.25]])
    log_weights, k = smoothed(target(draws) - proposal(draws), 1.0)
    plain = moment_match(draws, 4, target, proposal, 0.5)
    assert k <= 0.5 and plain.steps == 0 and plain.efficiency < 0.2
    result = moment_match(draws, 4, target, proposal, 0.5, min_efficiency=0.4)
    assert result.steps >= 1 and result.pareto_k <= 0.5 and result.efficiency > 0.4
    mean, cov = weighted_moments(result)
    assert mean == pytest.approx([1.5], abs=0.03) and np.sqrt(cov) == pytest.approx(0.5, abs=0.03)


def test_a_heavier_tailed_target_than_any_affine_map_of_the_draws_stays_unreliable():
    """A Cauchy target from normal draws: every affine map leaves a normal proposal, the weights' tail heavy."""
    draws = np.random.default_rng(2).standard_normal((S, 1))
    proposal = gaussian([0.0], [[1.0]])

    def target(x):
        return stats.cauchy.logpdf(x[:, 0], 0.0, 1.0)

    result = moment_match(draws, 4, target, proposal, 0.5)
    assert result.pareto_k > 0.5


def test_the_constant_of_the_target_density_does_not_matter():
    draws = np.random.default_rng(3).standard_normal((S, 2))
    proposal, target = gaussian(np.zeros(2), np.eye(2)), gaussian([2.0, 1.0], np.eye(2) * 2.0)
    one = moment_match(draws, 4, target, proposal, 0.5)
    other = moment_match(draws, 4, lambda x: target(x) + 40.0, lambda x: proposal(x) - 7.0, 0.5)
    assert one.steps == other.steps and np.allclose(one.log_weights, other.log_weights)


class Regression:
    """y_i ~ N(a + b x_i, 1), (a, b) ~ N(0, 10^2 I): a Gaussian posterior, and exact leave-one-out posteriors."""

    x = np.array([-1.0, -0.6, -0.2, 0.1, 0.4, 0.8, 4.0])
    y = np.array([-0.9, -0.4, 0.1, 0.0, 0.6, 0.7, -3.0])  # the last: high leverage, against the trend

    def __init__(self, keep=None):
        keep = np.ones(len(self.x), bool) if keep is None else keep
        design = np.column_stack([np.ones(len(self.x)), self.x])[keep]
        precision = design.T @ design + np.eye(2) / 100.0
        self.cov = np.linalg.inv(precision)
        self.mean = self.cov @ design.T @ self.y[keep]

    def log_lik(self, points, i):
        return stats.norm.logpdf(self.y[i], points[:, 0] + points[:, 1] * self.x[i], 1.0)

    def log_posterior(self, points):
        prior = stats.norm.logpdf(points, 0.0, 10.0).sum(axis=1)
        return prior + sum(self.log_lik(points, i) for i in range(len(self.x)))


def exact_elpd(i: int) -> float:
    """log p(y_i | y_-i): the leave-one-out posterior's predictive density at y_i."""
    left = Regression(np.arange(len(Regression.x)) != i)
    row = np.array([1.0, Regression.x[i]])
    return float(stats.norm.logpdf(Regression.y[i], row @ left.mean, np.sqrt(1.0 + row @ left.cov @ row)))


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")
def test_leave_one_out_of_a_high_leverage_point_matches_the_exact_value_and_arviz_stats():
    full, i = Regression(), len(Regression.x) - 1
    draws = np.random.default_rng(4).multivariate_normal(full.mean, full.cov, S)

    def target(points):
        return full.log_posterior(points) - full.log_lik(points, i)

    _, plain_k = smoothed(-full.log_lik(draws, i), 1.0)
    result = moment_match(draws, 4, target, full.log_posterior, 0.5)
    assert plain_k > 0.7 and result.steps >= 1 and result.pareto_k <= 0.5
    # Monte Carlo SE of this estimate: about 0.015 (over seeds)
    elpd = float(logsumexp(result.log_weights + full.log_lik(result.points, i)))
    assert elpd == pytest.approx(exact_elpd(i), abs=0.05)

    # arviz-stats' loo_moment_match on the same draws: the same value within Monte Carlo error
    chains = draws.reshape(4, S // 4, 2)
    dims = ("chain", "draw")
    log_lik = np.stack([full.log_lik(draws, j) for j in range(len(full.x))], axis=1).reshape(4, S // 4, -1)
    tree = xr.DataTree.from_dict({
        "posterior": xr.Dataset({"theta": ((*dims, "param"), chains)}),
        "log_likelihood": xr.Dataset({"y": ((*dims, "obs"), log_lik)}),
    })  # fmt: skip

    def as_array(values, like):
        return xr.DataArray(values.reshape(like.sizes["chain"], like.sizes["draw"]), dims=dims)

    def log_prob(upars):
        return as_array(full.log_posterior(upars.values.reshape(-1, 2)), upars)

    def log_lik_i(upars, j):
        return as_array(full.log_lik(upars.values.reshape(-1, 2), j), upars)

    original = loo(tree, pointwise=True, reff=1.0)
    upars = xr.DataArray(chains, dims=(*dims, "param"))
    matched = loo_moment_match(tree, original, log_prob, log_lik_i, upars, reff=1.0, k_threshold=0.5)
    assert float(matched.elpd_i.values[i]) == pytest.approx(elpd, abs=0.05)
    assert float(matched.pareto_k.values[i]) <= 0.5


def test_relative_efficiency_of_independent_draws_is_one_and_of_correlated_less():
    rng = np.random.default_rng(5)
    independent = rng.standard_normal((4, 2000))
    assert relative_efficiency(independent) == pytest.approx(1.0, abs=0.1)
    walk = np.cumsum(rng.standard_normal((4, 2000)), axis=1) * 0.05
    assert relative_efficiency(walk) < 0.2


def test_the_unconstrained_map_goes_both_ways_with_its_log_jacobian():
    with pm.Model() as model:
        pm.Normal("a", 0.0, 1.0, shape=2)
        pm.HalfNormal("s", 1.0)
        pm.Beta("r", 2.0, 3.0, shape=3)
    space = Unconstrained(model)
    rng = np.random.default_rng(6)
    values = {"a": rng.normal(size=(50, 2)), "s": rng.gamma(2.0, size=50), "r": rng.uniform(0.01, 0.99, (50, 3))}
    flat = space.flat(values)
    assert flat.shape == (50, 6)
    u_s, u_r = np.log(values["s"]), np.log(values["r"] / (1 - values["r"]))
    assert np.allclose(flat, np.column_stack([values["a"], u_s, u_r]))
    back, log_jacobian = space.values(flat)
    for name in values:
        assert np.allclose(back[name], values[name]) and back[name].flags.c_contiguous
    # d s / d u = s; d r / d u = r (1 - r)
    expected = u_s + np.sum(np.log(values["r"] * (1 - values["r"])), axis=1)
    assert np.allclose(log_jacobian, expected)
