"""Cumulative meta-analysis by publication year: which evidence each refit keeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_forest import _design

from irsynth.evidence import LEFT_OUT_SE, cumulative_runs, evidence_years


def test_each_year_keeps_the_evidence_published_up_to_then():
    data = _design()  # pooled MetaA:homa_ir, MetaB:fasting_insulin; trial Trial1:homa_ir
    used = pd.DataFrame(
        {"source_id": ["MetaA", "MetaB"], "outcome": ["homa_ir", "fasting_insulin"], "year": [2017, ""]}
    )
    studies = pd.DataFrame({"study_id": ["Trial1"], "year": ["2020"]})
    years = evidence_years(data, used, studies)
    assert (
        years["MetaA:homa_ir"] == 2017 and np.isnan(years["MetaB:fasting_insulin"]) and years["Trial1:homa_ir"] == 2020
    )
    runs = cumulative_runs(data, years)
    assert [(year, added) for year, added, _ in runs] == [(2017, ["MetaA:homa_ir"]), (2020, ["Trial1:homa_ir"])]
    first, last = runs[0][2], runs[1][2]
    # 2017: MetaA and the source of unknown year are in, the 2020 trial is out
    assert first["pooled_se"].tolist() == data.pooled_se.tolist() and first["arm_se"].tolist() == [LEFT_OUT_SE]
    assert last["arm_se"].tolist() == data.arm_se.tolist()
    assert set(first) == {"pooled_se", "arm_se"}  # no control arms in this design: no drift_se override
