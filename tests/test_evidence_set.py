"""Evidence set selection, design coding from each contrast's own arms, the overlap rule and the block structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irsynth.effects import contrasts
from irsynth.evidence_set import (
    LISTED,
    NONE,
    POSSIBLE,
    OverlapError,
    check_overlap,
    class_vector,
    comparison_vector,
    evidence_data,
    overlap_status,
    select_pooled,
)
from irsynth.harmonise import arm_changes, harmonise_arms
from irsynth.refits import sensitivity_runs
from irsynth.validate import load_evidence
from models.evidence_data import CONTRAST, CONTROL, TERMS


@pytest.mark.parametrize(
    "arm_class, expected",
    [
        ("MI", ["inositol"]),
        ("MI+DCI", ["inositol"]),
        ("MET", ["metformin"]),
        ("diet_exercise", ["exercise", "diet"]),
        ("MI+diet", ["inositol", "diet", "interaction"]),
        ("MI+diet_exercise", ["inositol", "exercise", "diet", "interaction"]),
        ("MI+advice", ["inositol", "advice"]),
        ("advice", ["advice"]),
        ("control", []),
    ],
)
def test_class_vector(arm_class, expected):
    assert class_vector(arm_class).tolist() == [1.0 if t in expected else 0.0 for t in TERMS]


def _vector(**terms):
    return [float(terms.get(t, 0)) for t in TERMS]


def test_comparison_vector_is_treatment_minus_comparator(config):
    assert comparison_vector("inositol_vs_metformin", config).tolist() == _vector(inositol=1, metformin=-1)
    assert comparison_vector("diet_exercise_vs_diet", config).tolist() == _vector(exercise=1)


def test_inositol_with_lifestyle_against_lifestyle_informs_the_interaction(config):
    entry = {"source_id": "X", "treatment_class": "MI+diet", "comparator_class": "diet"}
    assert comparison_vector("inositol_lifestyle_vs_lifestyle", config, entry).tolist() == _vector(
        inositol=1, interaction=1
    )


def test_a_comparison_whose_classes_code_differently_needs_the_class(config):
    with pytest.raises(ValueError, match="code different components: add `treatment_class:`"):
        comparison_vector("lifestyle_vs_control", config)
    entry = {"source_id": "Moran", "treatment_class": "advice"}
    assert comparison_vector("lifestyle_vs_control", config, entry).tolist() == _vector(advice=1)


def _pooled(**rows):
    base = {"comparison": "inositol_vs_control", "outcome": "homa_ir", "included_study_ids": "", "year": 2017}
    return pd.DataFrame([{**base, "source_id": k, **v} for k, v in rows.items()])


def test_two_pooled_sources_for_one_comparison_are_refused():
    with pytest.raises(OverlapError, match="Unfer2017, Zeng2018 are used together"):
        check_overlap(_pooled(Unfer2017={}, Zeng2018={}))


@pytest.mark.parametrize(
    "row, year, expected",
    [
        ({"included_study_ids": "Nehra2017; Jamilian2017"}, 2017, (LISTED, "Fatima2023")),
        ({}, 2017, (POSSIBLE, "Fatima2023")),  # list unknown: unknown is never none
        ({}, np.nan, (POSSIBLE, "Fatima2023")),  # trial year unknown
        ({"search_date": "2016-11"}, 2017, (NONE, "")),  # published after the search
        ({}, 2024, (NONE, "")),  # published after the review
        ({"included_study_ids": "Jamilian2017", "included_studies_complete": "yes"}, 2017, (NONE, "")),
        ({"included_study_ids": "Jamilian2017", "included_studies_complete": "no"}, 2017, (POSSIBLE, "Fatima2023")),
        ({"comparison": "metformin_vs_control"}, 2017, (NONE, "")),  # another comparison
    ],
)
def test_overlap_status(row, year, expected):
    pooled = _pooled(Fatima2023={"comparison": "inositol_vs_metformin", "year": 2023, **row})
    assert overlap_status("Nehra2017", year, "inositol_vs_metformin", "homa_ir", pooled) == expected


def test_selection_errors_name_the_entry(data_dir, config):
    pooled = load_evidence(data_dir, config).pooled
    config["evidence_model"]["pooled"] = [{"source_id": "Kite2019", "outcome": "homa_ir"}]
    with pytest.raises(ValueError, match="matches 3 rows"):
        select_pooled(pooled, config)
    config["evidence_model"]["pooled"] = [{"source_id": "ECE2017_ep586", "outcome": "homa_ir"}]
    with pytest.raises(ValueError, match="no complete CI"):
        select_pooled(pooled, config)


@pytest.fixture
def bundled(data_dir, config):
    evidence = load_evidence(data_dir, config)
    changes = arm_changes(harmonise_arms(evidence.arms, evidence.studies, config), config)
    return evidence_data(evidence.pooled, contrasts(changes, config), changes, evidence.studies, config)


def test_bundled_evidence_data(bundled, config):
    data = bundled
    assert len(data.pooled_source) == len({(e["source_id"]) for e in config["evidence_model"]["pooled"]})
    unfer = data.pooled_source.index("Unfer2017")
    # both outcomes of one source in one block; SE from the 95% CI [-1.145, -0.025]
    assert data.pooled_present[unfer].tolist() == [1.0, 1.0]
    assert data.pooled_se[unfer, 0] == pytest.approx((-0.025 + 1.145) / (2 * 1.959963984540054))
    assert data.pooled_basis[unfer] == "unknown" and data.pooled_change_weight[unfer] == 0.5
    assert set(data.arm_study) == {"Nehra2017", "Nabi2018", "Vizza2016"}
    # each trial possibly inside the pooled source of its comparison (lists unknown): counted there only
    contrast = data.arm_kind == CONTRAST
    assert data.arm_left_out[contrast].tolist() == [1.0, 1.0, 1.0]
    assert all(str(s).startswith("possible in ") for s in data.arm_overlap[contrast])
    # Vizza 2016: its contrast and its control arm share the control arm: covariance -var(control)
    s = data.arm_study.index("Vizza2016")
    k_contrast, k_control = (int(np.flatnonzero(data.arm_kind[s] == kind)[0]) for kind in (CONTRAST, CONTROL))
    assert data.arm_cov_sampling[s, k_contrast, k_control] == pytest.approx(
        -data.arm_cov_sampling[s, k_control, k_control]
    )
    # the scale anchors are arm-level observations: every arm's SD/mean at both times, known-unit baselines
    assert len(data.cv_y) == 12 and len(data.base_y) == 4


def test_sensitivity_runs_cover_every_choice(bundled, config):
    runs = sensitivity_runs(bundled, config)
    kinds = [kind for kind, _, _ in runs]
    for kind in ("prior", "outcome correlation", "SMD basis", "rho", "overlap", "exclude flagged", "leave one out"):
        assert kind in kinds, kind
    overlap = next(o for kind, _, o in runs if kind == "overlap")
    assert overlap["arm_left_out"][bundled.arm_kind == CONTRAST].tolist() == [0.0, 0.0, 0.0]
    without_vizza = next(o for _, name, o in runs if name == "without Vizza2016")
    s = bundled.arm_study.index("Vizza2016")
    assert without_vizza["arm_left_out"][s].min() == 1.0
    # its scale anchors go too (CV and baseline of its arms)
    assert without_vizza["cv_left_out"].sum() == sum(study == "Vizza2016" for study in bundled.cv_study) > 0


def test_an_arm_with_another_treatment_is_not_a_control():
    from irsynth.harmonise import arm_class

    row = {"mi_mg_day": 0, "dci_mg_day": 0, "metformin_mg_day": 0, "lifestyle": "none", "control_kind": ""}
    assert arm_class({**row, "other_tx": ""}) == "control"
    assert arm_class({**row, "other_tx": "ethinylestradiol/cyproterone"}) == "other"
    assert arm_class({**row, "mi_mg_day": 2000, "other_tx": "supervised"}) == "MI"


def test_the_predictive_check_table_leaves_out_padding_and_contrasts_counted_inside_a_pooled_source(bundled):
    from irsynth.evidence_run import _observation_labels

    arms = _observation_labels(bundled)["arm_obs"]
    shown = arms != ""
    assert not (shown & (bundled.arm_left_out > 0)).any()
    # Vizza 2016's control arm is in the likelihood; its contrast is counted inside a pooled source
    assert shown.sum() == int(((bundled.arm_left_out == 0) & (bundled.arm_slot_label != "")).sum()) == 1
    assert arms[shown].tolist() == ["Vizza2016: control arm control, fasting insulin"]
