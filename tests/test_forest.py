"""Forest-plot table: closed-form intervals at a posterior of known values, and published estimates carried to
ratios by inverting the measurement maps."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from evidence_tables import arm, config_for, tables
from scipy import stats

from irsynth.evidence_set import evidence_data
from irsynth.forest import forest_table
from models import measurement
from models.evidence import build_evidence_model

Z = stats.norm.ppf(0.975)
VALUES = {"d_insulin": [-0.2, 0, 0, 0, 0], "d_glucose": [0.0] * 5, "d_gap": [0.0] * 5, "d_int": [0.0, 0.0],
          "drift": [-0.05, -0.1], "beta_advice": [0.0, 0.0], "beta": [0.0, 0.0], "cv": [0.6, 0.5],
          "base": [4.0, 15.0], "rho": [0.6, 0.5], "tau": [0.15, 0.2], "sigma_drift": 0.1}  # fmt: skip


def _setup(config, smd=-0.5):
    pooled = [{"source_id": "MetaA", "comparison": "inositol_vs_control", "outcome": "homa_ir", "measure": "SMD",
               "estimate": smd, "se": 0.2, "analysis": "change"}]  # fmt: skip
    arms = [arm("Trial1", "mi", "MI", "homa_ir", -0.35, 0.006), arm("Trial1", "c", "control", "homa_ir", -0.05, 0.004)]
    frames = tables(arms, [("Trial1", "inositol_vs_control", "mi", "c", "homa_ir")], pooled,
                    studies={"Trial1": {"year": 2030}})  # fmt: skip
    config = config_for(config, pooled)
    data = evidence_data(*frames[:3], frames[3], config)
    model = build_evidence_model(data, config["evidence_model"]["priors"], 0.0)
    n = 40_000
    post = {name: (("chain", "draw", *[f"{name}_{i}" for i in range(np.ndim(v))]), np.broadcast_to(
        np.asarray(v, float), (1, n, *np.shape(v))).copy()) for name, v in VALUES.items()}  # fmt: skip
    d = np.zeros((1, n, 5, 2))
    d[..., 0, :] = -0.2
    post["d"] = (("chain", "draw", "component", "outcome"), d)
    for name in ("drift", "cv", "base", "rho", "tau", "d_int"):
        post[name] = (("chain", "draw", "outcome"), post[name][1])
    trace = xr.DataTree.from_dict({"posterior": xr.Dataset(post)})
    return forest_table(trace, data, model, seed=1).set_index(["comparison", "kind"]), data


def test_rows_match_closed_forms(config):
    table, data = _setup(config)
    trial = table.loc[("inositol_vs_control", "trial")]
    y, se = -0.30, np.sqrt(0.01)
    assert (trial["observed_ratio"], trial["observed_q0.025"]) == pytest.approx((np.exp(y), np.exp(y - Z * se)))
    # shrunken study effect: its conditional given m = -0.2, tau = 0.15 and the observation (-0.3, se 0.1)
    tau, m = 0.15, -0.2
    b = tau**2 / (tau**2 + se**2)
    mean, sd = m + b * (y - m), np.sqrt(b) * se
    assert trial["model_ratio"] == pytest.approx(np.exp(mean), rel=5e-3)
    assert (trial["model_q0.025"], trial["model_q0.975"]) == pytest.approx(
        (np.exp(mean - Z * sd), np.exp(mean + Z * sd)), rel=1e-2
    )
    synthesis = table.loc[("inositol_vs_control", "synthesis")]
    assert synthesis["model_ratio"] == pytest.approx(np.exp(m))
    prediction = table.loc[("inositol_vs_control", "prediction")]
    assert prediction["model_q0.975"] == pytest.approx(np.exp(m + Z * tau), rel=5e-3)


def test_a_published_smd_is_carried_to_the_ratio_whose_expected_smd_it_is(config):
    table, _ = _setup(config)
    meta = table.loc[("inositol_vs_control", "meta-analysis")]
    for column, value in (("observed_ratio", -0.5), ("observed_q0.025", -0.5 - Z * 0.2)):
        delta = np.log(meta[column])
        assert measurement.smd_change(delta, -0.05, 0.6, 0.6) == pytest.approx(value, abs=1e-8)
    assert meta["published"].startswith("SMD (change) -0.5")


def test_a_value_no_ratio_reaches_is_left_blank(config):
    table, _ = _setup(config, smd=-40.0)
    assert np.isnan(table.loc[("inositol_vs_control", "meta-analysis")]["observed_ratio"])
