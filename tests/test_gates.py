"""Convergence gates name the model, the parameter and the figure; 'warn' returns instead of raising. A failing fit
is retried with the safer settings of the retry ladder, and the attempt that gave it is recorded."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from irsynth.fitting import ConvergenceError, check_gates, fit_gated, retry_ladder
from irsynth.updating import Fit, IncrementalSampler

GATES = {"r_hat_max": 1.01, "ess_min": 400, "divergences_max": 0, "bfmi_min": 0.3}
GOOD = pd.DataFrame([{"parameter": "mu", "r_hat": 1.001, "ess_bulk": 2000.0, "ess_tail": 1800.0}])


def test_passing_fit_has_no_failures():
    assert check_gates(GOOD, {"divergences": 0, "bfmi_min": 0.9}, GATES, "pairwise x") == []


@pytest.mark.parametrize(
    "table, per_fit, text",
    [
        (GOOD.assign(r_hat=1.05), {"divergences": 0, "bfmi_min": 0.9}, "R-hat of mu is 1.050"),
        (GOOD.assign(ess_bulk=120.0), {"divergences": 0, "bfmi_min": 0.9}, "ess bulk ESS of mu is 120"),
        (GOOD.assign(ess_tail=80.0), {"divergences": 0, "bfmi_min": 0.9}, "ess tail ESS of mu is 80"),
        (GOOD, {"divergences": 7, "bfmi_min": 0.9}, "7 divergent transitions"),
        (GOOD, {"divergences": 0, "bfmi_min": 0.1}, "E-BFMI 0.10"),
        (GOOD.assign(r_hat=float("nan")), {"divergences": 0, "bfmi_min": 0.9}, "R-hat of mu is nan"),
    ],
)
def test_failed_gate_stops_with_model_parameter_and_figure(table, per_fit, text):
    with pytest.raises(ConvergenceError) as err:
        check_gates(table, per_fit, GATES, "pairwise inositol_vs_control__homa_ir")
    assert "pairwise inositol_vs_control__homa_ir" in str(err.value) and text in str(err.value)
    warnings = check_gates(table, per_fit, GATES, "m", on_failure="warn")
    assert len(warnings) == 1 and text in warnings[0]


LADDER = [{"target_accept": 0.995, "tune": 2000}, {"target_accept": 0.999, "tune": 4000, "draws": 4000}]
SAMPLING = {"target_accept": 0.95, "tune": 1000, "draws": 2000, "gates": GATES, "retries": LADDER}


def test_retry_ladder_steps_over_the_attempt_before_and_never_lowers_a_setting():
    assert [(s["target_accept"], s["tune"], s["draws"]) for s in retry_ladder(SAMPLING)] == [
        (0.95, 1000, 2000),
        (0.995, 2000, 2000),
        (0.999, 4000, 4000),
    ]
    higher = retry_ladder({**SAMPLING, "target_accept": 0.998, "draws": 8000})
    assert [(s["target_accept"], s["draws"]) for s in higher] == [(0.998, 8000), (0.998, 8000), (0.999, 8000)]
    assert retry_ladder({**SAMPLING, "retries": []}) == [{**SAMPLING, "retries": []}]


def _fake_fit(divergent_below: float, calls: list):
    """A sampling function whose fits have 3 divergences while target_accept < `divergent_below`."""

    def sample(settings):
        calls.append(settings)
        rng = np.random.default_rng(1)
        chains, draws = 4, 500
        diverging = np.zeros((chains, draws), bool)
        diverging[0, :3] = settings["target_accept"] < divergent_below
        posterior = xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=(chains, draws)))})
        stats = xr.Dataset(
            {
                "diverging": (("chain", "draw"), diverging),
                "energy": (("chain", "draw"), rng.normal(size=(chains, draws))),
            }
        )
        return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})

    return sample


def test_a_fit_failing_a_gate_is_retried_with_safer_settings_which_are_recorded():
    calls = []
    fit = fit_gated(_fake_fit(0.99, calls), SAMPLING, ["mu"], "pairwise x", on_failure="stop")
    assert fit.failures == [] and fit.attempt == 2 and len(calls) == 2
    assert fit.columns == {"attempt": 2, "target_accept": 0.995, "tune": 2000, "draws": 2000}
    first = fit_gated(_fake_fit(0.9, []), SAMPLING, ["mu"], "pairwise x", on_failure="stop")
    assert first.attempt == 1 and first.columns["target_accept"] == 0.95


def test_a_fit_failing_every_attempt_is_returned_flagged_or_stops():
    calls = []
    fit = fit_gated(_fake_fit(1.0, calls), SAMPLING, ["mu"], "pairwise x")
    assert fit.attempt == 3 and len(calls) == 3
    assert fit.failures == [
        "pairwise x: 3 divergent transitions (gate <= 0) (after 3 attempts, the last with target_accept 0.999, "
        "tune 4000, draws 4000)"
    ]
    with pytest.raises(ConvergenceError, match="after 3 attempts"):
        fit_gated(_fake_fit(1.0, []), SAMPLING, ["mu"], "evidence model", on_failure="stop")


def test_an_evidence_model_fit_says_which_attempt_gave_it():
    per_fit = {"divergences": 0, "bfmi_min": 0.9, "base": "b", "attempt": 2, "target_accept": 0.995, "tune": 2000}
    fit = Fit(None, "MCMC", GOOD, per_fit | {"draws": 2000})
    assert fit.description == "MCMC (attempt 2, with safer settings: target_accept 0.995, tune 2000, draws 2000)"
    table = fit.diagnostics_table()
    assert table[["attempt", "target_accept", "tune", "draws"]].to_dict("records") == [
        {"attempt": 2, "target_accept": 0.995, "tune": 2000, "draws": 2000}
    ]
    assert Fit(None, "MCMC", GOOD, {**per_fit, "attempt": 1}).description == "MCMC"


def test_many_parameters_failing_one_gate_give_one_message_naming_the_worst():
    table = pd.DataFrame(
        [{"parameter": f"d[{i}]", "r_hat": 1.0, "ess_bulk": 100.0 + i, "ess_tail": 2000.0} for i in range(5)]
    )
    table.loc[3, "ess_bulk"] = 50.0
    failures = check_gates(table, {"divergences": 0, "bfmi_min": 0.9}, GATES, "evidence model", on_failure="warn")
    assert failures == ["evidence model: ess bulk ESS of 5 parameters fails its gate (>= 400); the worst, d[3], is 50"]


def test_a_stored_fit_failing_a_gate_is_sampled_again_unless_it_had_every_attempt():
    fits = SimpleNamespace(sampling=SAMPLING, _label=lambda run: f"evidence model ({run})")
    failing = {"divergences": 2, "bfmi_min": 0.9}
    assert IncrementalSampler._stored_gates(fits, GOOD, {**failing, "attempt": 1}, "rho", "stop") is None
    assert IncrementalSampler._stored_gates(fits, GOOD, failing, "rho", "stop") is None  # stored before retries
    last = IncrementalSampler._stored_gates(fits, GOOD, {**failing, "attempt": 3}, "rho", "warn")
    assert last == ["evidence model (rho): 2 divergent transitions (gate <= 0)"]
    with pytest.raises(ConvergenceError):
        IncrementalSampler._stored_gates(fits, GOOD, {**failing, "attempt": 3}, "primary", "stop")
    assert IncrementalSampler._stored_gates(fits, GOOD, {"divergences": 0, "bfmi_min": 0.9}, "rho", "stop") == []
