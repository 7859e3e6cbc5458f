"""The measurement maps against their definitions, computed on simulated patients (log-normal baseline and end values
with a baseline-end correlation, a control drift and a treatment effect), and the patients' SD of the log change."""

from __future__ import annotations

import numpy as np
import pytest

from models import measurement

N = 400_000


def _patients(seed=1, drift=-0.1, delta=-0.3, log_sd=0.5, log_corr=0.7, base=15.0):
    """Control and treatment arms of one large trial; raw-scale summaries as a paper would print them."""
    rng = np.random.default_rng(seed)
    arms = {}
    for name, shift in (("control", drift), ("treatment", drift + delta)):
        z1, z2 = rng.standard_normal((2, N))
        log_b = np.log(base) - log_sd**2 / 2 + log_sd * z1
        log_e = log_b + shift + log_sd * np.sqrt(1 - log_corr**2) * z2 - log_sd * (1 - log_corr) * z1
        arms[name] = np.exp(log_b), np.exp(log_e)
    b, e = arms["control"]
    anchors = {"cv": b.std() / b.mean(), "rho": np.corrcoef(b, e)[0, 1], "base": b.mean()}
    return arms, anchors


def _sd(*arrays):
    return np.sqrt(np.mean([a.var(ddof=1) for a in arrays]))


@pytest.mark.parametrize("drift, delta", [(0.0, -0.3), (-0.1, -0.3), (0.15, -0.5), (-0.05, 0.2)])
def test_each_published_scale_from_its_definition(drift, delta):
    arms, a = _patients(drift=drift, delta=delta)
    (bc, ec), (bt, et) = arms["control"], arms["treatment"]
    # the latent effect: log ratio of end means, drift: control log end/baseline
    true_delta, true_drift = np.log(et.mean() / ec.mean()), np.log(ec.mean() / bc.mean())
    md = et.mean() - ec.mean()
    assert measurement.mean_difference(true_delta, true_drift, a["base"]) == pytest.approx(md, rel=0.02)
    change_md = (et - bt).mean() - (ec - bc).mean()
    assert measurement.mean_difference(true_delta, true_drift, a["base"]) == pytest.approx(change_md, rel=0.03)
    smd_end = md / _sd(et, ec)
    assert measurement.smd_end(true_delta, a["cv"]) == pytest.approx(smd_end, rel=0.02, abs=0.005)
    smd_change = change_md / _sd(et - bt, ec - bc)
    got = measurement.smd_change(true_delta, true_drift, a["cv"], a["rho"])
    assert got == pytest.approx(smd_change, rel=0.03, abs=0.005)


def test_the_old_single_map_is_wrong_for_change_scores():
    """The map used before (ratio change over the baseline CV) misses the change SD by a wide margin."""
    arms, a = _patients(drift=0.0, delta=-0.3)
    (bc, ec), (bt, et) = arms["control"], arms["treatment"]
    smd_change = ((et - bt).mean() - (ec - bc).mean()) / _sd(et - bt, ec - bc)
    old = (np.exp(np.log(et.mean() / ec.mean())) - 1) / a["cv"]
    assert abs(old - smd_change) > 0.1


def test_patient_sd_of_the_log_change():
    arms, a = _patients(drift=0.0, delta=0.0, log_sd=0.5, log_corr=0.7)
    b, e = arms["control"]
    observed = np.std(np.log(e) - np.log(b))
    assert measurement.patient_sd_log(a["cv"], a["rho"]) == pytest.approx(observed, rel=0.05)


@pytest.mark.parametrize("n, cv", [(15, 0.5), (30, 0.5), (45, 0.5), (30, 0.1)])
def test_the_small_sample_bias_of_an_arms_log_cv(n, cv):
    """The model's expected log(SD/mean) of an arm of n log-normal values against Monte Carlo: its error is a
    fraction of the bias it corrects (over 60% of it removed from n = 15)."""
    from models.evidence import expected_log_cv

    x = np.exp(np.random.default_rng(2).normal(0, np.sqrt(np.log1p(cv**2)), (40_000, n)))
    observed = np.mean(np.log(x.std(1, ddof=1) / x.mean(1)))
    bias = observed - np.log(cv)
    assert abs(expected_log_cv(cv, n) - observed) < 0.4 * abs(bias)


@pytest.mark.parametrize("n", [4, 10, 15, 30, 1e6])
def test_an_arms_expected_log_cv_rises_with_the_cv(n):
    """One observed CV must point to one CV: a non-monotone expectation made the posterior bimodal."""
    from models.evidence import expected_log_cv

    cv = np.linspace(0.05, 3.0, 3000)
    assert np.all(np.diff(expected_log_cv(cv, n)) > 0)
