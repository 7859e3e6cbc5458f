"""Report pieces that the bundled data do not reach: the small-study test and funnel plot of a large comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irsynth.report import funnels
from irsynth.smallstudy import egger_test, small_study_table


def _contrasts(k: int) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    vi = rng.uniform(0.01, 0.2, k)
    return pd.DataFrame(
        {
            "comparison": "inositol_vs_control",
            "outcome": "homa_ir",
            "basis": "change",
            "measure": "ROM",
            "usable": True,
            "yi": rng.normal(-0.2, np.sqrt(vi)),
            "vi": vi,
            "study_id": [f"S{i}" for i in range(k)],
        }
    )


def test_enough_trials_get_the_egger_test_and_a_funnel_plot():
    contrasts = pd.concat([_contrasts(12), _contrasts(2).assign(outcome="fasting_insulin")])
    table = small_study_table(contrasts, min_studies=10).set_index("outcome")
    large = contrasts[contrasts["outcome"] == "homa_ir"]
    assert table.loc["homa_ir", "p"] == egger_test(large["yi"], large["vi"])["p"]
    assert table.loc["homa_ir", "statement"].startswith("Egger's test for funnel-plot asymmetry (k = 12)")
    assert (
        np.isnan(table.loc["fasting_insulin", "p"])
        and "Too few studies (k = 2)" in table.loc["fasting_insulin", "statement"]
    )
    plots = funnels(contrasts, table.reset_index(), min_studies=3)
    assert len(plots) == 1 and plots[0].startswith("<svg") and "standard error" in plots[0]


def test_unusable_rows_and_other_scales_are_not_counted():
    contrasts = pd.concat([_contrasts(4), _contrasts(3).assign(usable=False), _contrasts(3).assign(measure="SMD")])
    assert small_study_table(contrasts, min_studies=10)["k"].tolist() == [4]
