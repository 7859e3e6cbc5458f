"""Evidence set selection, component coding and the overlap guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irsynth.effects import contrasts
from irsynth.evidence import OverlapError, check_overlap, class_vector, comparison_vector, evidence_data, select_pooled
from irsynth.harmonise import arm_changes, harmonise_arms
from irsynth.validate import load_evidence


@pytest.mark.parametrize(
    "arm_class, expected",
    [
        ("MI", [1, 0, 0, 0, 0]),
        ("MI+DCI", [1, 0, 0, 0, 0]),
        ("MET", [0, 1, 0, 0, 0]),
        ("diet_exercise", [0, 0, 1, 1, 0]),
        ("MI+diet", [1, 0, 0, 1, 0]),
        ("advice", [0, 0, 0, 0, 1]),
        ("control", [0, 0, 0, 0, 0]),
    ],
)
def test_class_vector(arm_class, expected):
    assert class_vector(arm_class).tolist() == expected


def test_comparison_vector_is_treatment_minus_comparator(config):
    assert comparison_vector("inositol_vs_metformin", config).tolist() == [1, -1, 0, 0, 0]
    assert comparison_vector("diet_exercise_vs_diet", config).tolist() == [0, 0, 1, 0, 0]


def _pooled(**rows):
    base = {"comparison": "inositol_vs_control", "outcome": "homa_ir", "included_study_ids": ""}
    return pd.DataFrame([{**base, "source_id": k, **v} for k, v in rows.items()])


def test_two_pooled_sources_for_one_comparison_are_refused():
    with pytest.raises(OverlapError, match="Unfer2017, Zeng2018 are used together"):
        check_overlap(_pooled(Unfer2017={}, Zeng2018={}), [])


def test_a_trial_used_twice_is_refused():
    with pytest.raises(
        OverlapError, match="Nehra2017 is used at arm level and is included in pooled source Fatima2023"
    ):
        check_overlap(_pooled(Fatima2023={"included_study_ids": "Nehra2017; Jamilian2017"}), ["Nehra2017"])


def test_disjoint_evidence_passes():
    check_overlap(_pooled(Unfer2017={}, Kite2019={"comparison": "exercise_vs_control"}), ["Vizza2016"])


def test_selection_errors_name_the_entry(data_dir, config):
    pooled = load_evidence(data_dir, config).pooled
    config["evidence_model"]["pooled"] = [{"source_id": "Kite2019", "outcome": "homa_ir"}]
    with pytest.raises(ValueError, match="matches 3 rows"):
        select_pooled(pooled, config)
    config["evidence_model"]["pooled"] = [{"source_id": "ECE2017_ep586", "outcome": "homa_ir"}]
    with pytest.raises(ValueError, match="no complete CI"):
        select_pooled(pooled, config)


def test_bundled_evidence_data(data_dir, config):
    evidence = load_evidence(data_dir, config)
    changes = arm_changes(harmonise_arms(evidence.arms, evidence.studies, config), config)
    data = evidence_data(evidence.pooled, contrasts(changes, config), changes, config)
    assert len(data.pooled_labels) == len(config["evidence_model"]["pooled"])
    unfer = data.pooled_labels.index("Unfer2017:homa_ir")
    # SE from the 95% CI [-1.145, -0.025]
    assert data.pooled_se[unfer] == pytest.approx((-0.025 + 1.145) / (2 * 1.959963984540054))
    assert set(data.arm_labels) == {"Nehra2017:homa_ir", "Nabi2018:fasting_insulin", "Vizza2016:fasting_insulin"}
    assert data.base_hat[0] == pytest.approx(np.median([4.18, 4.38]))


def test_sensitivity_runs_cover_priors_flags_and_each_source(data_dir, config):
    from irsynth.evidence import LEFT_OUT_SE, sensitivity_runs

    evidence = load_evidence(data_dir, config)
    changes = arm_changes(harmonise_arms(evidence.arms, evidence.studies, config), config)
    data = evidence_data(evidence.pooled, contrasts(changes, config), changes, config)
    runs = {name: (kind, overrides) for kind, name, overrides in sensitivity_runs(data, config)}
    assert runs["component_sd = 1"] == ("prior", {"component_sd": 1.0})
    kind, overrides = runs["without pooled rows flagged coi_manufacturer"]
    left_out = [label for label, se in zip(data.pooled_labels, overrides["pooled_se"]) if se == LEFT_OUT_SE]
    assert left_out == ["Unfer2017:homa_ir", "Unfer2017:fasting_insulin"]
    kind, overrides = runs["without Nehra2017"]
    assert kind == "leave one out" and overrides["arm_se"][data.arm_labels.index("Nehra2017:homa_ir")] == LEFT_OUT_SE
    assert {f"without {s}" for s in ("Unfer2017", "Fatima2023", "Kite2019", "Vizza2016")} <= set(runs)
