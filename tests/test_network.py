"""Network meta-analysis: generalised least squares limit, multi-arm covariance, calibration, loop detection."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from irsynth.fitting import Sampler
from irsynth.graph import closed_loops, connected_parts, loop_edges
from models.network import build_network, multi_arm_contrasts

TREATMENTS = ["control", "MI", "MET", "exercise"]
SAMPLING = {"sampler": "nutpie", "draws": 1000, "tune": 1000, "chains": 4, "cores": 2, "target_accept": 0.95}


def simulated_network(seed=3, tau=0.0):
    """2-arm and 3-arm trials over four treatments, arm-level log changes with known variances."""
    rng = np.random.default_rng(seed)
    truth = np.array([0.0, -0.3, -0.35, -0.15])
    designs = [(0, 1)] * 4 + [(0, 2)] * 3 + [(1, 2)] * 3 + [(0, 3)] * 3 + [(0, 1, 2)] * 2 + [(0, 1, 3)]
    studies = []
    for i, arms in enumerate(designs):
        arm_vars = rng.uniform(0.005, 0.03, len(arms))
        shift = rng.normal(0, tau, len(arms))
        shift[0] = 0.0
        means = rng.normal(-0.1 + truth[list(arms)] + shift, np.sqrt(arm_vars))
        y, cov = multi_arm_contrasts(means, arm_vars)
        studies.append({"name": f"s{i}", "arms": list(arms), "y": y, "cov": cov})
    return truth, studies


def gls(studies, n_treatments):
    """Fixed-effect network estimate by generalised least squares (reference treatment fixed at 0)."""
    rows, ys, blocks = [], [], []
    for s in studies:
        for arm in s["arms"][1:]:
            x = np.zeros(n_treatments)
            x[arm] += 1
            x[s["arms"][0]] -= 1
            rows.append(x[1:])
        ys.extend(s["y"])
        blocks.append(np.linalg.inv(s["cov"]))
    X, y = np.array(rows), np.array(ys)
    W = np.zeros((len(y), len(y)))
    i = 0
    for block in blocks:
        W[i : i + len(block), i : i + len(block)] = block
        i += len(block)
    precision = X.T @ W @ X
    return np.linalg.solve(precision, X.T @ W @ y), np.linalg.inv(precision)


def test_multi_arm_contrasts_share_the_baseline_variance():
    y, cov = multi_arm_contrasts(np.array([1.0, 0.5, 0.2]), np.array([0.1, 0.2, 0.3]))
    assert y.tolist() == pytest.approx([-0.5, -0.8])
    np.testing.assert_allclose(cov, [[0.3, 0.1], [0.1, 0.4]])


def test_without_heterogeneity_the_posterior_is_the_gls_estimate():
    _, studies = simulated_network()
    model = build_network(TREATMENTS, studies, effect_sd=10.0, tau_scale=1e-4)
    trace = Sampler(model, SAMPLING).sample(seed=1)
    estimate, covariance = gls(studies, len(TREATMENTS))
    draws = trace.posterior["d_free"].values.reshape(-1, len(TREATMENTS) - 1)
    assert draws.mean(axis=0) == pytest.approx(estimate, abs=0.01)
    assert draws.std(axis=0) == pytest.approx(np.sqrt(np.diag(covariance)), rel=0.1)


def test_closed_loops():
    assert not closed_loops([(0, 1), (0, 2), (0, 3)], 4)
    assert closed_loops([(0, 1), (1, 2), (0, 2)], 3)
    assert not closed_loops([(0, 1), (1, 0)], 2)


@pytest.mark.slow
def test_network_intervals_are_calibrated():
    replications = 50
    _, studies = simulated_network()
    model = build_network(TREATMENTS, studies, effect_sd=0.5, tau_scale=0.2)
    prior = pm.sample_prior_predictive(draws=replications, model=model, random_seed=7)
    truth = prior.prior["d_free"].values[0]
    names = [v.name for v in model.observed_RVs]
    sampler = Sampler(model, {**SAMPLING, "draws": 500, "tune": 500})
    hits = []
    for r in range(replications):
        data = {name.replace("obs_", "y_"): prior.prior_predictive[name].values[0, r] for name in names}
        data = {k: (v[:, None] if v.ndim == 1 else v) for k, v in data.items()}  # two-arm trials: one contrast
        trace = sampler.sample(seed=r, **data)
        d = trace.posterior["d_free"].values.reshape(-1, len(TREATMENTS) - 1)
        low, high = np.quantile(d, [0.05, 0.95], axis=0)
        hits.append((low <= truth[r]) & (truth[r] <= high))
    assert 0.83 <= np.mean(hits) <= 0.97, np.mean(hits)


def test_loop_edges():
    assert loop_edges([(0, 1), (1, 2), (0, 2), (0, 3)], 4) == [(0, 1), (0, 2), (1, 2)]
    assert loop_edges([(0, 1), (0, 2)], 3) == []
    assert loop_edges([(0, 1), (1, 0), (1, 2)], 3) == []  # a comparison in two trials is one edge, not a loop


def test_connected_parts():
    assert connected_parts([(0, 1), (1, 2)], 3) == 1
    assert connected_parts([(0, 1), (2, 3)], 5) == 3  # two pairs and an unconnected treatment
    assert connected_parts([], 2) == 2


def _split_fit(shift):
    """Two-arm trials over a loop control-MI-MET; the MI-MET trials are shifted by `shift` (inconsistency)."""
    rng = np.random.default_rng(4)
    truth = np.array([0.0, -0.3, -0.35])
    studies = []
    for i, arms in enumerate([(0, 1)] * 6 + [(0, 2)] * 6 + [(1, 2)] * 6):
        v = np.full(2, 0.01)
        means = truth[list(arms)] + rng.normal(0, 0.1, 2) * np.array([0, 1])
        if arms == (1, 2):
            means[1] += shift
        y, cov = multi_arm_contrasts(rng.normal(means, np.sqrt(v)), v)
        studies.append({"name": f"s{i}", "arms": list(arms), "y": y, "cov": cov})
    model = build_network(["control", "MI", "MET"], studies, effect_sd=1.0, tau_scale=0.1, split=(1, 2))
    return Sampler(model, SAMPLING).sample(seed=2).posterior["inconsistency"].values.ravel()


@pytest.mark.slow
def test_node_split_detects_injected_inconsistency_and_not_otherwise():
    consistent, inconsistent = _split_fit(0.0), _split_fit(0.6)
    assert np.quantile(consistent, 0.025) < 0 < np.quantile(consistent, 0.975)
    assert np.quantile(inconsistent, 0.025) > 0


@pytest.mark.slow
def test_node_split_stage_covers_every_loop_comparison():
    from irsynth.network import node_splits

    _, studies = simulated_network()
    settings = {"effect_sd": 0.5, "tau_scale": 0.2}
    sampling = {
        **SAMPLING,
        "seed": 1,
        "gates": {"r_hat_max": 1.05, "ess_min": 100, "divergences_max": 50, "bfmi_min": 0.2},
        "on_gate_failure": "warn",
    }
    rows, _ = node_splits(TREATMENTS, studies, settings, sampling, "homa_ir")
    assert {r["comparison"] for r in rows} == {"MI vs control", "MET vs control", "MET vs MI"}
    direct = {r["comparison"]: r["direct_studies"].split(";") for r in rows}
    assert direct["MET vs MI"] == ["s7", "s8", "s9"]  # the two-arm MI-MET trials; three-arm ones stay consistent
    assert all(r["inconsistency_q0.025"] < r["inconsistency_mean"] < r["inconsistency_q0.975"] for r in rows)
