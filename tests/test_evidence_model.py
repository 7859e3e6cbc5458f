"""The evidence model against independent references: its block likelihood against scipy's multivariate normal,
correlated outcomes against the bivariate normal closed form (Riley 2009), a three-arm trial against generalised
least squares with the shared-arm covariance, and the patients' log-normal mean."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
from evidence_tables import arm, config_for, tables
from scipy import stats

from irsynth.evidence_set import evidence_data
from models.evidence import build_evidence_model
from models.evidence_data import COMPONENTS, OUTCOMES


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_block_likelihood_is_the_multivariate_normal_and_padding_adds_nothing(k):
    from models.evidence import PAD_VAR, block_normal_logp

    rng = np.random.default_rng(k)
    a = rng.normal(size=(3, k, k))
    cov = a @ a.transpose(0, 2, 1) + k * np.eye(k)
    mean, y = rng.normal(size=(3, k)), rng.normal(size=(3, k))
    got = block_normal_logp(pt.as_tensor(y), pt.as_tensor(mean), pt.as_tensor(cov), k).eval()
    expected = [stats.multivariate_normal(mean[b], cov[b]).logpdf(y[b]) for b in range(3)]
    assert got == pytest.approx(expected, rel=1e-10)
    padded = np.zeros((3, k + 1, k + 1))
    padded[:, :k, :k], padded[:, k, k] = cov, PAD_VAR
    ypad, mpad = np.pad(y, ((0, 0), (0, 1))), np.pad(mean, ((0, 0), (0, 1)))
    got = block_normal_logp(pt.as_tensor(ypad), pt.as_tensor(mpad), pt.as_tensor(padded), k + 1).eval()
    assert got == pytest.approx(expected, rel=1e-10)


def _gaussian_posterior(model, point, names):
    """Exact mean and covariance of the (Gaussian) conditional posterior of the named Normal parameters at the
    other parameters' values in `point`: one Newton step from `point` (the log density is quadratic in them)."""
    values = [model.rvs_to_values[model[name]] for name in names]
    grad = np.asarray(model.compile_dlogp(vars=[model[n] for n in names])(point))
    hess = model.compile_d2logp(vars=[model[n] for n in names], negate_output=False)(point)
    sizes = [np.size(point[v.name]) for v in values]
    x0 = np.concatenate([np.ravel(point[v.name]) for v in values])
    cov = np.linalg.inv(-hess)
    mean = x0 + cov @ grad
    offsets = np.cumsum([0, *sizes])
    return mean, cov, dict(zip(names, zip(offsets[:-1], offsets[1:])))


@pytest.mark.parametrize("r", [0.0, 0.8])
def test_one_sources_two_outcomes_enter_jointly_with_their_correlation(config, r):
    """A source's ROM estimates of HOMA-IR and insulin (inositol vs control) with correlation r: the posterior of
    (d_insulin, d_glucose, d_gap) of inositol is the bivariate-normal conjugate update."""
    se, est = np.array([0.12, 0.15]), np.array([-0.30, -0.25])
    pooled = [{"source_id": "Meta", "comparison": "inositol_vs_control", "outcome": o, "measure": "ROM",
               "estimate": e, "se": s} for o, e, s in zip(OUTCOMES, est, se)]  # fmt: skip
    frames = tables([arm("T", "c", "control", "homa_ir", 0.0, 0.01)], [], pooled)
    config = config_for(config, pooled)
    data = evidence_data(*frames[:3], frames[3], config)
    priors = config["evidence_model"]["priors"]
    model = build_evidence_model(data, priors, r)
    names = ["d_insulin", "d_glucose", "d_gap"]
    mean, cov, where = _gaussian_posterior(model, model.initial_point(), names)
    i = COMPONENTS.index("inositol")
    idx = [where[n][0] + i for n in names]
    # closed form: theta = (insulin, glucose, gap), est ~ N(X theta, S)
    x = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    s = np.diag(se**2)
    s[0, 1] = s[1, 0] = r * se[0] * se[1]
    prior = np.diag(1 / np.array([priors["component_sd"], priors["glucose_sd"], priors["gap_sd"]]) ** 2)
    post_cov = np.linalg.inv(prior + x.T @ np.linalg.solve(s, x))
    post_mean = post_cov @ x.T @ np.linalg.solve(s, est)
    assert mean[idx] == pytest.approx(post_mean, abs=1e-8)
    assert cov[np.ix_(idx, idx)] == pytest.approx(post_cov, abs=1e-10)


def test_the_correlation_changes_the_answer(config):
    """The test above can fail: the HOMA-IR effect's posterior variance differs between r = 0 and r = 0.8."""
    se = np.array([0.12, 0.15])
    x = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    priors = config["evidence_model"]["priors"]
    prior = np.diag(1 / np.array([priors["component_sd"], priors["glucose_sd"], priors["gap_sd"]]) ** 2)
    variances = []
    for r in (0.0, 0.8):
        s = np.diag(se**2)
        s[0, 1] = s[1, 0] = r * se[0] * se[1]
        post = np.linalg.inv(prior + x.T @ np.linalg.solve(s, x))
        variances.append(x[0] @ post @ x[0])
    assert variances[1] > 1.2 * variances[0]


def test_a_three_arm_trial_matches_generalised_least_squares(config):
    """Trial A: control, MI and MET arms (two contrasts sharing the control arm, and the control arm's drift);
    trial B: MI vs MET. With no heterogeneity and flat priors, the posterior mean and covariance of the inositol and
    metformin effects are the GLS estimate from the contrasts with the shared-arm covariance."""
    v = {"c": 0.02, "mi": 0.03, "met": 0.025, "b_mi": 0.04, "b_met": 0.05}
    arms = [
        arm("A", "c", "control", "fasting_insulin", 0.05, v["c"]),
        arm("A", "mi", "MI", "fasting_insulin", -0.20, v["mi"]),
        arm("A", "met", "MET", "fasting_insulin", -0.15, v["met"]),
        arm("B", "mi", "MI", "fasting_insulin", -0.30, v["b_mi"]),
        arm("B", "met", "MET", "fasting_insulin", -0.10, v["b_met"]),
    ]
    comparisons = [
        ("A", "inositol_vs_control", "mi", "c", "fasting_insulin"),
        ("A", "metformin_vs_control", "met", "c", "fasting_insulin"),
        ("B", "inositol_vs_metformin", "mi", "met", "fasting_insulin"),
    ]
    frames = tables(arms, comparisons)
    config = config_for(config)
    config["evidence_model"]["overlap"]["primary"] = "both"
    priors = config["evidence_model"]["priors"] | {"component_sd": 1e4, "drift_sd": 1e4, "tau_scale": 1.0}
    data = evidence_data(*frames[:3], frames[3], config)
    model = build_evidence_model(data, priors, 0.0)
    point = model.initial_point()
    point["tau_log__"] = np.log([1e-9, 1e-9])
    point["sigma_drift_log__"] = np.log(1e-9)
    mean, cov, where = _gaussian_posterior(model, point, ["d_insulin", "drift"])
    idx = [where["d_insulin"][0] + COMPONENTS.index(c) for c in ("inositol", "metformin")]
    y = np.array([-0.25, -0.20, -0.20])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    s = np.array([[v["mi"] + v["c"], v["c"], 0], [v["c"], v["met"] + v["c"], 0], [0, 0, v["b_mi"] + v["b_met"]]])
    gls_cov = np.linalg.inv(x.T @ np.linalg.solve(s, x))
    gls = gls_cov @ x.T @ np.linalg.solve(s, y)
    assert mean[idx] == pytest.approx(gls, abs=1e-6)
    assert cov[np.ix_(idx, idx)] == pytest.approx(gls_cov, rel=1e-5)
    # and the shared arm matters: treating the contrasts as independent gives another answer
    independent = np.linalg.solve(x.T @ np.diag(1 / np.diag(s)) @ x, x.T @ np.diag(1 / np.diag(s)) @ y)
    assert np.abs(independent - gls).max() > 0.01


def test_a_patients_log_normal_deviation_keeps_the_mean(config):
    """The decision layer's patient deviation e ~ Normal(-s^2/2, s) has E[exp(e)] = 1: the patients' mean HOMA-IR is
    the predicted mean (the old centring at 0 put it exp(s^2/2) too high)."""
    import xarray as xr

    from irsynth.decision import patient_deviation

    s = 0.6
    posterior = xr.Dataset({"patient_sd_log": (("chain", "draw", "outcome"), np.full((1, 400_000, 2), s))},
                           coords={"outcome": list(OUTCOMES)})  # fmt: skip
    trace = xr.DataTree.from_dict({"posterior": posterior})
    e = patient_deviation(trace, "no change", seed=1)
    assert np.mean(np.exp(e)) == pytest.approx(1.0, abs=0.005)
    assert np.std(e) == pytest.approx(s, rel=0.01)
