"""Predictive checks and PSIS-LOO (irsynth.predictive) against the closed forms of a conjugate normal model with a
normal and a block-normal likelihood (the evidence model's own), from exact posterior draws."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from scipy import stats

from irsynth.predictive import log_likelihood, predictive_checks
from models.evidence import _block_normal

PRIOR_SD = 2.0
Y = np.array([0.3, 1.1, 0.4, -0.2, 0.9, 2.4])
SIGMA = np.array([0.5, 0.8, 0.4, 0.6, 0.7, 0.5])
BLOCKS = np.array([[0.6, 0.2], [1.0, 0.7]])
COV = np.array([[[0.3, 0.1], [0.1, 0.4]], [[0.5, -0.1], [-0.1, 0.2]]])
ONES = np.ones(2)


def _model() -> pm.Model:
    with pm.Model(coords={"trial": [f"t{i}" for i in range(len(Y))]}) as model:
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        pm.Normal("y", mu, SIGMA, observed=Y, dims="trial")
        _block_normal("z", mu * pm.math.ones((2, 2)), pm.math.constant(COV), pm.Data("z_data", BLOCKS), None)
    return model


def _posterior(y=Y, sigma=SIGMA) -> tuple[float, float]:
    """Mean and variance of mu given the normal observations `y` and the blocks."""
    inverse = np.linalg.inv(COV)
    precision = 1 / PRIOR_SD**2 + np.sum(1 / sigma**2) + sum(ONES @ i @ ONES for i in inverse)
    total = np.sum(y / sigma**2) + sum(ONES @ i @ b for i, b in zip(inverse, BLOCKS))
    return total / precision, 1 / precision


@pytest.fixture(scope="module")
def checks():
    mean, variance = _posterior()
    draws = np.random.default_rng(1).normal(mean, np.sqrt(variance), (4, 4000))
    trace = xr.DataTree.from_dict({"posterior": xr.Dataset({"mu": (("chain", "draw"), draws)})})
    labels = {"z": np.array([["block 1, a", "block 1, b"], ["block 2, a", ""]], dtype=object)}
    return predictive_checks(trace, _model(), seed=5, labels=labels, prior_draws=4000)


def _expected(location: float, variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    half = stats.norm.ppf(0.975) * np.sqrt(variance)
    return location - half, location + half


def test_predictive_intervals_and_p_values_are_the_closed_forms(checks):
    table, _ = checks
    mean, variance = _posterior()
    observed = np.concatenate([Y, BLOCKS.ravel()[:3]])
    noise = np.concatenate([SIGMA**2, COV[0].diagonal(), COV[1].diagonal()[:1]])
    assert table["observation"].tolist() == [f"y[t{i}]" for i in range(6)] + ["block 1, a", "block 1, b", "block 2, a"]
    assert np.allclose(table["observed"], observed)
    post_low, post_high = _expected(mean, variance + noise)
    prior_low, prior_high = _expected(0.0, PRIOR_SD**2 + noise)
    for column, expected, width in (
        ("posterior_q0.025", post_low, post_high - post_low),
        ("posterior_q0.975", post_high, post_high - post_low),
        ("prior_q0.025", prior_low, prior_high - prior_low),
        ("prior_q0.975", prior_high, prior_high - prior_low),
    ):
        assert np.all(np.abs(table[column] - expected) < 0.05 * width), column
    p_values = stats.norm.cdf((observed - mean) / np.sqrt(variance + noise))
    assert np.all(np.abs(table["ppc_p"] - p_values) < 0.02)


def test_loo_is_the_exact_leave_one_out(checks):
    _, loo = checks
    exact = []
    for i in range(len(Y)):
        keep = np.arange(len(Y)) != i
        mean, variance = _posterior(Y[keep], SIGMA[keep])
        exact.append(stats.norm.logpdf(Y[i], mean, np.sqrt(variance + SIGMA[i] ** 2)))
    row = loo.set_index("observed").loc["y"]
    assert row["n"] == len(Y) and row["pareto_k_over_0.7"] == 0
    assert row["elpd_loo"] == pytest.approx(sum(exact), abs=0.02)
    assert loo["observed"].tolist() == ["y", "z"] and loo.set_index("observed").loc["z", "n"] == 2


def test_the_log_likelihood_is_pymcs_at_every_draw():
    """irsynth.predictive.log_likelihood against pm.compute_log_likelihood, with a transformed free variable (its draws
    are on the constrained scale) and a block-normal likelihood."""
    with pm.Model(coords={"trial": [f"t{i}" for i in range(len(Y))]}) as model:
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        scale = pm.HalfNormal("scale", 1.0)
        pm.Normal("y", mu, SIGMA * scale, observed=Y, dims="trial")
        _block_normal("z", mu * pm.math.ones((2, 2)), pm.math.constant(COV), pm.Data("z_data", BLOCKS), None)
    rng = np.random.default_rng(4)
    trace = xr.DataTree.from_dict({"posterior": xr.Dataset({
        "mu": (("chain", "draw"), rng.normal(0.6, 0.2, (2, 50))),
        "scale": (("chain", "draw"), rng.gamma(5.0, 0.2, (2, 50))),
    })})  # fmt: skip
    ours = log_likelihood(trace, model)["log_likelihood"]
    pymcs = pm.compute_log_likelihood(trace.copy(), model=model, progressbar=False)["log_likelihood"]
    for name in ("y", "z"):
        assert ours[name].shape == pymcs[name].shape == (2, 50, 6 if name == "y" else 2)
        np.testing.assert_allclose(ours[name].values, pymcs[name].values, rtol=1e-12)
