"""Cumulative meta-analysis by publication year: which evidence each refit keeps (scale anchors included)."""

from __future__ import annotations

import numpy as np
from evidence_tables import arm, config_for, tables

from irsynth.evidence_set import evidence_data
from irsynth.refits import cumulative_runs, evidence_years


def test_each_year_keeps_the_evidence_published_up_to_then(config):
    pooled = [
        {"source_id": "MetaA", "comparison": "inositol_vs_control", "outcome": "homa_ir", "measure": "ROM",
         "estimate": -0.2, "year": 2017},
        {"source_id": "MetaB", "comparison": "metformin_vs_control", "outcome": "fasting_insulin", "measure": "ROM",
         "estimate": -0.2, "year": np.nan},
    ]  # fmt: skip
    arms = [arm("Trial1", "e", "exercise", "homa_ir", -0.2, 0.01, baseline=3.0, sd=1.5),
            arm("Trial1", "c", "control", "homa_ir", 0.0, 0.01, baseline=3.2, sd=1.6)]  # fmt: skip
    frames = tables(arms, [("Trial1", "exercise_vs_control", "e", "c", "homa_ir")], pooled,
                    studies={"Trial1": {"year": 2020}})  # fmt: skip
    data = evidence_data(*frames[:3], frames[3], config_for(config, pooled))
    years = evidence_years(data, frames[0], frames[3])
    assert (
        years["pooled"]["MetaA"] == 2017 and np.isnan(years["pooled"]["MetaB"]) and years["studies"]["Trial1"] == 2020
    )
    runs = cumulative_runs(data, years)
    assert [(year, added) for year, added, _ in runs] == [(2017, ["MetaA"]), (2020, ["Trial1"])]
    first, last = runs[0][2], runs[1][2]
    # 2017: MetaA and the source of unknown year are in; the 2020 trial is out, with its CV and baseline anchors
    assert first["pooled_left_out"].tolist() == [0.0, 0.0]
    assert first["arm_left_out"][data.arm_kind > 0].tolist() == [1.0, 1.0]
    assert first["cv_left_out"].min() == 1.0 and first["base_left_out"].min() == 1.0
    assert last["arm_left_out"][data.arm_kind > 0].tolist() == [0.0, 0.0]
    assert last["cv_left_out"].max() == 0.0
