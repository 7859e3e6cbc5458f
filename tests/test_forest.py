"""Forest-plot table: closed-form intervals from a posterior of known normal draws."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from irsynth.forest import forest_table
from models.evidence import COMPONENTS, EvidenceData

Z = stats.norm.ppf(0.975)
INOSITOL = np.eye(len(COMPONENTS))[0]


def _design() -> EvidenceData:
    """Inositol vs control on HOMA-IR: one pooled SMD and one trial; a pooled MD row of another comparison."""
    metformin = np.eye(len(COMPONENTS))[1]
    return EvidenceData(
        outcomes=["homa_ir", "fasting_insulin"],
        pooled_labels=["MetaA:homa_ir", "MetaB:fasting_insulin"],
        pooled_x=np.array([INOSITOL, metformin]),
        pooled_outcome=np.array([0, 1]),
        pooled_measure=np.array([1, 2]),
        pooled_est=np.array([-0.5, -3.0]),
        pooled_se=np.array([0.2, 1.0]),
        pooled_flags=["", ""],
        pooled_comparisons=["inositol_vs_control", "metformin_vs_control"],
        arm_comparisons=["inositol_vs_control"],
        arm_labels=["Trial1:homa_ir"],
        arm_x=np.array([INOSITOL]),
        arm_outcome=np.array([0]),
        arm_y=np.array([-0.3]),
        arm_se=np.array([0.1]),
        arm_covariates=np.zeros((1, 2)),
        drift_labels=[],
        drift_outcome=np.array([], int),
        drift_y=np.array([]),
        drift_se=np.array([]),
        drift_advice=np.array([]),
        cv_hat=np.array([0.5, 0.5]),
        base_hat=np.array([4.0, 15.0]),
    )


def _posterior(m: float, s: float, tau: float, arm_mean: float, n: int = 200_000) -> xr.DataTree:
    rng = np.random.default_rng(3)
    d = np.zeros((1, n, len(COMPONENTS), 2))
    d[0, :, 0, 0] = rng.normal(m, s, n)
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                {
                    "d": (("chain", "draw", "component", "outcome"), d),
                    "arm_mean": (("chain", "draw", "contrast"), np.full((1, n, 1), arm_mean)),
                    "tau": (("chain", "draw", "outcome"), np.full((1, n, 2), tau)),
                    "cv": (("chain", "draw", "outcome"), np.full((1, n, 2), 0.6)),
                    "base": (("chain", "draw", "outcome"), np.full((1, n, 2), 12.0)),
                }
            )
        }
    )


def test_rows_match_closed_forms():
    m, s, tau = -0.2, 0.1, 0.15
    table = forest_table(_posterior(m, s, tau, arm_mean=-0.2), _design(), seed=1).set_index(["comparison", "kind"])
    trial = table.loc[("inositol_vs_control", "trial")]
    assert (trial["observed_ratio"], trial["observed_q0.025"]) == pytest.approx((np.exp(-0.3), np.exp(-0.3 - Z * 0.1)))
    # shrunken study effect: precision-weighted mean of its expected value (-0.2, sd tau) and its observation
    # (-0.3, se 0.1)
    precision = 1 / tau**2 + 1 / 0.1**2
    mean, sd = (-0.2 / tau**2 - 0.3 / 0.1**2) / precision, precision**-0.5
    assert trial["model_ratio"] == pytest.approx(np.exp(mean), rel=1e-3)
    assert (trial["model_q0.025"], trial["model_q0.975"]) == pytest.approx(
        (np.exp(mean - Z * sd), np.exp(mean + Z * sd)), rel=2e-3
    )
    meta = table.loc[("inositol_vs_control", "meta-analysis")]
    assert meta["observed_ratio"] == pytest.approx(1 - 0.5 * 0.6)  # SMD x CV
    assert meta["observed_q0.975"] == pytest.approx(1 + (-0.5 + Z * 0.2) * 0.6)
    assert table.loc[("metformin_vs_control", "meta-analysis")]["observed_ratio"] == pytest.approx(1 - 3.0 / 12.0)
    synthesis = table.loc[("inositol_vs_control", "synthesis")]
    assert synthesis["model_q0.025"] == pytest.approx(np.exp(m - Z * s), rel=2e-3)
    prediction = table.loc[("inositol_vs_control", "prediction")]
    assert prediction["model_q0.975"] == pytest.approx(np.exp(m + Z * np.hypot(s, tau)), rel=3e-3)
    assert table.loc[("metformin_vs_control", "synthesis")]["model_ratio"] == pytest.approx(1.0)


def test_a_conversion_below_zero_is_left_blank():
    design = _design()
    design.pooled_est[0], design.pooled_se[0] = -1.2, 0.3  # 1 + (-1.2 - 0.59) x 0.6 < 0 < 1 - 1.2 x 0.6
    meta = forest_table(_posterior(0, 0.1, 0.1, 0), design, seed=1).query("kind == 'meta-analysis'").iloc[0]
    assert np.isnan(meta["observed_q0.025"]) and meta["observed_ratio"] == pytest.approx(1 - 1.2 * 0.6)
