"""Convergence gates name the model, the parameter and the figure; 'warn' returns instead of raising."""

from __future__ import annotations

import pandas as pd
import pytest

from irsynth.fitting import ConvergenceError, check_gates

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
