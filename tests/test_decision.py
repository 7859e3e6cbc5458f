"""Decision layer: closed-form normal cases, scenario composition, extrapolation marking."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from irsynth.evidence import decision_table, scenario_effects
from models.evidence import COMPONENTS

PROFILE = [{"name": "p", "homa_ir": 3.5, "duration_weeks": 24}]


def test_probabilities_match_the_normal_closed_form():
    m, s, sigma, h0, cutoff = -0.25, 0.15, 0.3, 3.5, 2.5
    draws = stats.norm(m, s).rvs(size=400_000, random_state=np.random.default_rng(5))
    table = decision_table({"x": draws}, PROFILE, [cutoff], sigma, longest_weeks=24, seed=9).iloc[0]
    z = np.log(cutoff) - np.log(h0) - m
    assert table["p_mean_below_2.5"] == pytest.approx(stats.norm.cdf(z / s), abs=3e-3)
    assert table["p_patient_below_2.5"] == pytest.approx(stats.norm.cdf(z / np.hypot(s, sigma)), abs=3e-3)
    assert table["homa_ir_median"] == pytest.approx(h0 * np.exp(m), rel=2e-3)
    assert table["homa_ir_q0.975"] == pytest.approx(h0 * np.exp(m + 1.959964 * s), rel=3e-3)


def test_scenarios_add_their_components_and_drift():
    n = 4
    d = np.tile(np.arange(1.0, len(COMPONENTS) + 1), (n, 1))  # inositol 1, metformin 2, exercise 3, diet 4, advice 5
    effects = scenario_effects(d, d_int=np.full(n, 0.5), drift=np.full(n, 10.0))
    assert effects["no change"] == pytest.approx(np.full(n, 10.0))
    assert effects["inositol alone (lifestyle unchanged)"] == pytest.approx(np.full(n, 11.0))
    assert effects["lifestyle alone (diet + exercise)"] == pytest.approx(np.full(n, 17.0))
    assert effects["inositol + lifestyle"] == pytest.approx(np.full(n, 18.5))
    assert effects["metformin"] == pytest.approx(np.full(n, 12.0))


def test_profiles_beyond_the_longest_trial_are_marked():
    profiles = PROFILE + [{"name": "long", "homa_ir": 3.5, "duration_weeks": 52}]
    table = decision_table({"x": np.zeros(10)}, profiles, [2.5], 0.3, longest_weeks=24, seed=1)
    assert table.set_index("profile")["extrapolation"].to_dict() == {"p": False, "long": True}
