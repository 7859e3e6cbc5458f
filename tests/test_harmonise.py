"""Harmonisation: units, dispersion, n fallback, exclusions and change scores, with their derivation notes."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from irsynth.effects import contrasts
from irsynth.harmonise import arm_changes, arm_class, harmonise_arms
from irsynth.validate import load_evidence


def _arm(**cells):
    row = {
        "study_id": "S1",
        "arm": "A",
        "mi_mg_day": 0.0,
        "dci_mg_day": 0.0,
        "metformin_mg_day": 0.0,
        "lifestyle": "none",
        "control_kind": "placebo",
        "duration_weeks": 12.0,
        "outcome": "fasting_insulin",
        "timepoint": "baseline",
        "n": 20.0,
        "n_allocated": float("nan"),
        "mean": 60.0,
        "sd": 12.0,
        "se": float("nan"),
        "ci_low": float("nan"),
        "ci_high": float("nan"),
        "median": float("nan"),
        "q1": float("nan"),
        "q3": float("nan"),
        "min": float("nan"),
        "max": float("nan"),
        "unit": "pmol/L",
        "flags": "",
        "_line": 2,
    }
    row.update(cells)
    return row


STUDIES = pd.DataFrame({"study_id": ["S1"], "randomised": ["yes"]})


def _harmonise(rows, config):
    return harmonise_arms(pd.DataFrame(rows), STUDIES, config)


def test_insulin_pmol_is_converted_with_the_configured_factor(config):
    out = _harmonise([_arm()], config).iloc[0]
    assert (out["mean"], out["sd"], out["unit"]) == (pytest.approx(10.0), pytest.approx(2.0), "uIU/mL")
    assert "pmol/L x 0.166667 -> uIU/mL" in out["derivation"]
    config["units"]["insulin_pmol_per_uiu"] = 6.945
    assert _harmonise([_arm()], config).iloc[0]["mean"] == pytest.approx(60 / 6.945)


def test_glucose_mg_dl_is_converted_to_mmol_l(config):
    row = _arm(outcome="fasting_glucose", unit="mg/dL", mean=90.08, sd=18.016)
    out = _harmonise([row], config).iloc[0]
    assert (out["mean"], out["sd"]) == (pytest.approx(5.0), pytest.approx(1.0))


def test_se_and_ci_become_sd_with_a_note(config):
    out = _harmonise([_arm(sd=float("nan"), se=1.5, unit="uIU/mL")], config).iloc[0]
    assert out["sd"] == pytest.approx(1.5 * math.sqrt(20)) and "SE 1.5 x sqrt(20)" in out["derivation"]
    out = _harmonise([_arm(sd=float("nan"), ci_low=55.0, ci_high=65.0, unit="uIU/mL")], config).iloc[0]
    assert "95% CI" in out["derivation"] and out["sd"] > 0


def test_median_and_iqr_become_mean_and_sd_flagged_derived(config):
    row = _arm(mean=float("nan"), sd=float("nan"), median=10.0, q1=8.0, q3=14.0, unit="uIU/mL")
    out = _harmonise([row], config).iloc[0]
    assert out["usable"] and "Luo 2018" in out["derivation"] and "Wan 2014" in out["derivation"]


def test_allocated_n_is_used_only_when_allowed_and_recorded(config):
    row = _arm(n=float("nan"), n_allocated=30.0)
    out = _harmonise([row], config).iloc[0]
    assert out["n"] == 30 and out["n_source"] == "allocated" and "allocated" in out["derivation"]
    config["evidence"]["n_fallback_allocated"] = False
    out = _harmonise([row], config).iloc[0]
    assert not out["usable"] and "n not reported" in out["reason"]


def test_flagged_and_non_randomised_rows_are_kept_out_with_a_reason(config):
    out = _harmonise([_arm(flags="implausible_value")], config).iloc[0]
    assert not out["usable"] and "implausible_value" in out["reason"]
    studies = pd.DataFrame({"study_id": ["S1"], "randomised": ["no"]})
    out = harmonise_arms(pd.DataFrame([_arm()]), studies, config).iloc[0]
    assert not out["usable"] and "randomised = no" in out["reason"]


@pytest.mark.parametrize(
    "cells, expected",
    [
        ({"mi_mg_day": 4000.0, "control_kind": ""}, "MI"),
        ({"mi_mg_day": 1100.0, "dci_mg_day": 27.6, "control_kind": ""}, "MI+DCI"),
        ({"metformin_mg_day": float("nan"), "control_kind": "active"}, "MET"),
        ({"lifestyle": "exercise", "control_kind": ""}, "exercise"),
        ({"mi_mg_day": 2000.0, "lifestyle": "diet", "control_kind": ""}, "MI+diet"),
        ({"lifestyle": "advice", "control_kind": "placebo"}, "control"),
        ({}, "control"),
    ],
)
def test_arm_class(cells, expected):
    assert arm_class(_arm(**cells)) == expected


def test_change_scores_from_baseline_and_end(config):
    rows = [_arm(unit="uIU/mL", mean=12.0, sd=4.0), _arm(unit="uIU/mL", timepoint="end", mean=9.0, sd=3.0, _line=3)]
    change = arm_changes(_harmonise(rows, config), config).iloc[0]
    rho = config["harmonise"]["rho"]
    assert change["change_mean"] == pytest.approx(-3.0)
    assert change["change_sd"] == pytest.approx(math.sqrt(16 + 9 - 2 * rho * 12))
    assert change["log_ratio"] == pytest.approx(math.log(9 / 12))
    expected_var = 9 / (20 * 81) + 16 / (20 * 144) - 2 * rho * 12 / (20 * 108)
    assert change["log_ratio_var"] == pytest.approx(expected_var)


def test_correlation_implied_by_three_reported_sds(config):
    rows = [
        _arm(unit="uIU/mL", mean=12.0, sd=9.0),
        _arm(unit="uIU/mL", timepoint="end", mean=9.0, sd=11.0, _line=3),
        _arm(unit="uIU/mL", timepoint="change", mean=-3.0, sd=8.0, _line=4),
    ]
    change = arm_changes(_harmonise(rows, config), config).iloc[0]
    assert change["rho_implied"] == pytest.approx(138 / 198)
    assert change["change_sd_source"] == "reported"


def test_bundled_data_give_the_expected_contrasts(data_dir, config):
    evidence = load_evidence(data_dir, config)
    changes = arm_changes(harmonise_arms(evidence.arms, evidence.studies, config), config)
    table = contrasts(changes, config)
    nehra = table[(table.study_id == "Nehra2017") & (table.basis == "end") & (table.measure == "MD")].iloc[0]
    # Nehra 2017: end HOMA-IR 2.88 (MI) vs 2.99 (MET); SD = SE x sqrt(30)
    assert nehra["comparison"] == "inositol_vs_metformin" and nehra["yi"] == pytest.approx(2.88 - 2.99)
    assert nehra["vi"] == pytest.approx(0.27**2 + 0.29**2)
    nabi_md = table[(table.study_id == "Nabi2018") & (table.measure == "MD")]
    assert not nabi_md["usable"].any() and nabi_md["reason"].str.contains("unit not printed").all()
    awan = table[table.study_id == "Awan2025"]
    assert not awan["usable"].any()
