"""Random-effects reference against metafor's published results (dat.bcg, dat.normand1999) and statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from irsynth.effects import escalc
from irsynth.reference import random_effects

# dat.bcg log risk ratios, escalc(measure="RR") (metafor-project.org tips:testing_factors_lincoms)
BCG_YI = [
    -0.8893,
    -1.5854,
    -1.3481,
    -1.4416,
    -0.2175,
    -0.7861,
    -1.6209,
    0.0120,
    -0.4694,
    -1.3713,
    -0.3394,
    0.4459,
    -0.0173,
]
BCG_VI = [0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040, 0.0564, 0.0730, 0.0124, 0.5325, 0.0714]
# raw 2x2 counts tpos tneg cpos cneg of the same 13 trials, for full-precision yi/vi
BCG_COUNTS = [
    (4, 119, 11, 128),
    (6, 300, 29, 274),
    (3, 228, 11, 209),
    (62, 13536, 248, 12619),
    (33, 5036, 47, 5761),
    (180, 1361, 372, 1079),
    (8, 2537, 10, 619),
    (505, 87886, 499, 87892),
    (29, 7470, 45, 7232),
    (17, 1699, 65, 1600),
    (186, 50448, 141, 27197),
    (5, 2493, 3, 2338),
    (27, 16886, 29, 17825),
]


def bcg():
    yi = [math.log((a / (a + b)) / (c / (c + d))) for a, b, c, d in BCG_COUNTS]
    vi = [1 / a - 1 / (a + b) + 1 / c - 1 / (c + d) for a, b, c, d in BCG_COUNTS]
    return np.array(yi), np.array(vi)


def test_bcg_log_risk_ratios_match_metafor():
    yi, vi = bcg()
    assert yi == pytest.approx(BCG_YI, abs=5e-5)
    assert vi == pytest.approx(BCG_VI, abs=5e-5)


def test_reml_matches_metafor_on_bcg():
    fit = random_effects(*bcg(), method="REML")
    assert fit.estimate == pytest.approx(-0.714532348365101, abs=1e-5)
    assert fit.se == pytest.approx(0.179781531780361, abs=1e-5)
    assert (fit.ci_low, fit.ci_high) == pytest.approx((-1.06689767574005, -0.362167020990149), abs=1e-5)
    assert fit.tau2 == pytest.approx(0.313243325980895, abs=1e-5)
    assert pytest.approx(152.233008082373, abs=1e-6) == fit.Q
    assert pytest.approx(92.2213860749656, abs=1e-3) == fit.I2
    assert pytest.approx(12.8557608031121, abs=1e-3) == fit.H2


def test_dl_matches_metafor_on_bcg():
    fit = random_effects(*bcg(), method="DL")
    assert fit.estimate == pytest.approx(-0.7141, abs=5e-5)
    assert (fit.ci_low, fit.ci_high) == pytest.approx((-1.0644, -0.3638), abs=5e-5)
    assert fit.estimate / fit.se == pytest.approx(-3.9952, abs=5e-4)
    assert fit.tau2 == pytest.approx(0.3088, abs=5e-5)
    assert pytest.approx(92.1173, abs=5e-4) == fit.I2
    assert pytest.approx(12.6861, abs=5e-4) == fit.H2


def _normand_md():
    rows = [
        (155, 55, 47, 156, 75, 64),
        (31, 27, 7, 32, 29, 4),
        (75, 64, 17, 71, 119, 29),
        (18, 66, 20, 18, 137, 48),
        (8, 14, 8, 13, 18, 11),
        (57, 19, 7, 52, 18, 4),
        (34, 52, 45, 33, 41, 34),
        (110, 21, 16, 183, 31, 27),
        (60, 30, 27, 52, 23, 20),
    ]
    out = []
    for n1, m1, s1, n2, m2, s2 in rows:
        sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
        out.append(escalc("MD", m1, sp, n1, m2, sp, n2))
    return np.array(out).T


@pytest.mark.parametrize(
    "method, estimate, ci, tau2",
    [("DL", -14.10, (-24.45, -3.75), 218.72), ("REML", -15.12, (-32.67, 2.43), 685.20)],
)
def test_normand_md_matches_metafor(method, estimate, ci, tau2):
    fit = random_effects(*_normand_md(), method=method)
    assert round(fit.estimate, 2) == estimate
    assert (round(fit.ci_low, 2), round(fit.ci_high, 2)) == ci
    assert round(fit.tau2, 2) == tau2


def test_knapp_hartung_matches_statsmodels_hksj():
    yi, vi = bcg()
    fit = random_effects(yi, vi, method="DL", test="knha")
    res = combine_effects(yi, vi, method_re="dl", use_t=True)
    low, high = res.conf_int(use_t=True)[3]  # row order: fe, re, fe_wls, re_wls (HKSJ)
    assert (fit.ci_low, fit.ci_high) == pytest.approx((low, high), abs=1e-8)


def test_prediction_interval_adds_tau2_to_the_mean_uncertainty():
    yi, vi = bcg()
    fit = random_effects(yi, vi, method="REML")
    half = 1.959963984540054 * math.sqrt(fit.se**2 + fit.tau2)
    assert (fit.pi_low, fit.pi_high) == pytest.approx((fit.estimate - half, fit.estimate + half))


def test_homogeneous_effects_give_tau2_zero_and_the_fixed_effect():
    yi, vi = np.array([0.2, 0.2, 0.2]), np.array([0.01, 0.02, 0.04])
    fit = random_effects(yi, vi, method="REML")
    assert fit.tau2 == pytest.approx(0.0, abs=1e-8)
    assert fit.se == pytest.approx(math.sqrt(1 / np.sum(1 / vi)))


def test_one_study_is_refused():
    with pytest.raises(ValueError):
        random_effects([0.1], [0.01])
