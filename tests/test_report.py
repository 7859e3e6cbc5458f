"""Report pieces that the bundled data do not reach: the small-study test and funnel plot of a large comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irsynth.report import diagnostic_rows, funnels
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


def _diagnostics(fits: list[tuple[str, int, str]]) -> pd.DataFrame:
    """Two parameters per (comparison, attempt, gate) fit, as the pairwise stage writes them."""
    return pd.DataFrame(
        [
            {"parameter": p, "r_hat": 1.0, "ess_bulk": 900.0, "ess_tail": 800.0, "comparison": c,
             "divergences": 0, "bfmi_min": 0.9, "attempt": attempt, "target_accept": 0.95, "gate": gate}
            for c, attempt, gate in fits
            for p in ("mu", "tau")
        ]
    )  # fmt: skip


def test_diagnostics_rows_count_retried_fits_and_name_each_failure_once():
    failed = "failed: pairwise b: 4 divergent transitions (gate <= 0) (after 3 attempts)"
    table = _diagnostics([("a", 1, "passed"), ("b", 3, failed), ("c", 2, "passed"), ("d", 2, "passed")])
    (row,) = diagnostic_rows({"pairwise": table}, {})
    assert (row["fits"], row["retried"], row["parameters"], row["passed"]) == (4, 2, 8, False)
    assert row["failures"] == ["pairwise b: 4 divergent transitions (gate <= 0) (after 3 attempts)"]
    (old,) = diagnostic_rows({"network": _diagnostics([("a", 1, "passed")]).drop(columns="attempt")}, {})
    assert (old["fits"], old["retried"], old["passed"]) == (1, 0, True)
