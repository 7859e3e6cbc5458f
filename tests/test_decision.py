"""Decision layer: closed-form normal cases (population mean and a patient in a new setting), scenario composition,
extrapolation by duration and by baseline HOMA-IR."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from irsynth.decision import decision_table, profile_effects
from models.evidence_data import COMPONENTS, COVARIATES, OUTCOMES

PROFILE = [{"name": "p", "homa_ir": 3.5, "duration_weeks": 24}]
REGRESSION = {"reference_duration_weeks": 24, "reference_homa_ir": 3.5}
RANGES = {"longest_weeks": 24, "baseline_homa_ir": (2.0, 5.0)}


def _trace(d_homa: np.ndarray, drift=0.0, tau=0.0, sigma_drift=0.0, patient_sd=0.3, d_int=0.0) -> xr.DataTree:
    n = len(d_homa)
    d = np.zeros((1, n, len(COMPONENTS), 2))
    d[0, :, :, 0] = d_homa.reshape(n, -1)

    def const(value, *dims):
        shape = (1, n, *[{"outcome": 2, "covariate": len(COVARIATES)}[x] for x in dims])
        return (("chain", "draw", *dims), np.full(shape, value, float))

    return xr.DataTree.from_dict({"posterior": xr.Dataset(
        {
            "d": (("chain", "draw", "component", "outcome"), d),
            "d_int": const(d_int, "outcome"), "drift": const(drift, "outcome"), "tau": const(tau, "outcome"),
            "sigma_drift": const(sigma_drift), "patient_sd_log": const(patient_sd, "outcome"),
            "beta": const(0.0, "covariate"),
        },
        coords={"component": list(COMPONENTS), "outcome": list(OUTCOMES), "covariate": list(COVARIATES)},
    )})  # fmt: skip


def test_probabilities_match_the_normal_closed_form():
    m, s, h0, cutoff = -0.25, 0.15, 3.5, 2.5
    tau, sigma_drift, patient = 0.1, 0.05, 0.3
    draws = np.zeros((400_000, len(COMPONENTS)))
    draws[:, 0] = stats.norm(m, s).rvs(size=400_000, random_state=np.random.default_rng(5))
    trace = _trace(draws, tau=tau, sigma_drift=sigma_drift, patient_sd=patient)
    table = decision_table(trace, PROFILE, [cutoff], REGRESSION, RANGES, seed=9)
    row = table.set_index("scenario").loc["inositol alone (lifestyle unchanged)"]
    z = np.log(cutoff) - np.log(h0) - m
    assert row["p_mean_below_2.5"] == pytest.approx(stats.norm.cdf(z / s), abs=3e-3)
    # a patient in a new setting: + Normal(0, tau) + Normal(0, sigma_drift) + Normal(-patient^2/2, patient)
    sd = np.sqrt(s**2 + tau**2 + sigma_drift**2 + patient**2)
    assert row["p_patient_below_2.5"] == pytest.approx(stats.norm.cdf((z + patient**2 / 2) / sd), abs=3e-3)
    assert row["homa_ir_median"] == pytest.approx(h0 * np.exp(m), rel=2e-3)
    assert row["homa_ir_q0.975"] == pytest.approx(h0 * np.exp(m + 1.959964 * s), rel=3e-3)
    # no treatment, no treatment heterogeneity
    none = table.set_index("scenario").loc["no change"]
    z0 = np.log(cutoff) - np.log(h0)
    sd0 = np.sqrt(sigma_drift**2 + patient**2)
    assert none["p_patient_below_2.5"] == pytest.approx(stats.norm.cdf((z0 + patient**2 / 2) / sd0), abs=3e-3)


def test_scenarios_add_their_components_and_drift():
    n = 4
    d = np.tile(np.arange(1.0, len(COMPONENTS) + 1), (n, 1))  # inositol 1, metformin 2, exercise 3, diet 4, advice 5
    effects = profile_effects(_trace(d, drift=10.0, d_int=0.5), PROFILE[0], REGRESSION)
    assert effects["no change"] == pytest.approx(np.full(n, 10.0))
    assert effects["inositol alone (lifestyle unchanged)"] == pytest.approx(np.full(n, 11.0))
    assert effects["lifestyle alone (diet + exercise)"] == pytest.approx(np.full(n, 17.0))
    assert effects["inositol + lifestyle"] == pytest.approx(np.full(n, 18.5))
    assert effects["metformin"] == pytest.approx(np.full(n, 12.0))


def test_extrapolation_by_duration_and_by_baseline_homa_ir_is_marked():
    profiles = [*PROFILE, {"name": "long", "homa_ir": 3.5, "duration_weeks": 52},
                {"name": "severe", "homa_ir": 8.0, "duration_weeks": 24}]  # fmt: skip
    table = decision_table(_trace(np.zeros((10, len(COMPONENTS)))), profiles, [2.5], REGRESSION, RANGES, seed=1)
    marked = table.drop_duplicates("profile").set_index("profile")
    assert marked["extrapolation"].to_dict() == {"p": False, "long": True, "severe": True}
    assert "longest trial" in marked.loc["long", "extrapolation_reason"]
    assert "baseline HOMA-IR outside" in marked.loc["severe", "extrapolation_reason"]
