"""Egger's test against metafor's published regtest(model="lm") output, plain-numpy OLS and a closed-form case."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from irsynth.smallstudy import egger_test, small_study_assessment

# dat.egger2001 (magnesium in acute MI), counts ai n1i ci n2i as printed in wviechtb/metafor
# docs/reference/dat.egger2001.html; trial 16 (ISIS-4) removed, as in the regtest example.
EGGER2001 = [
    (1, 40, 2, 36),
    (9, 135, 23, 135),
    (2, 200, 7, 200),
    (1, 48, 1, 46),
    (10, 150, 8, 148),
    (1, 59, 9, 56),
    (1, 25, 3, 23),
    (0, 22, 1, 21),
    (6, 76, 11, 75),
    (1, 27, 7, 27),
    (2, 89, 12, 80),
    (5, 23, 13, 33),
    (4, 130, 8, 122),
    (90, 1159, 118, 1157),
    (4, 107, 17, 108),
]
# Printed in wviechtb/metafor docs/reference/regtest.html (commit 0014f62b7481cf6c29a19898babb1f5993a9dbc7),
# examples: dat <- escalc(measure="OR", ..., data=dat.egger2001, subset=-16); dat$yi; regtest(res, model="lm"):
#   "Test for Funnel Plot Asymmetry: t = -3.1783, df = 13, p = 0.0073"
#   "Limit Estimate (as sei -> 0):   b = -0.1512 (CI: -0.5130, 0.2106)"
EGGER2001_YI = [
    -0.83034830,
    -1.05605267,
    -1.27833981,
    -0.04348511,
    0.22314355,
    -2.40751999,
    -1.28093385,
    -1.19170271,
    -0.69574796,
    -2.20827441,
    -2.03815988,
    -0.85015093,
    -0.79323064,
    -0.29933987,
    -1.57078846,
]


def egger2001():
    """Log odds ratios as escalc(measure="OR") computes them: 1/2 added to every cell of a table with a zero."""
    yi, vi = [], []
    for a, n1, c, n2 in EGGER2001:
        cells = (a, n1 - a, c, n2 - c)
        if 0 in cells:
            cells = tuple(x + 0.5 for x in cells)
        a, b, c, d = cells
        yi.append(math.log(a * d / (b * c)))
        vi.append(1 / a + 1 / b + 1 / c + 1 / d)
    return np.array(yi), np.array(vi)


def deviate_on_precision(yi, vi):
    """Egger's original OLS of yi/sei on 1/sei with numpy lstsq: (t, p) of the intercept."""
    sei = np.sqrt(vi)
    X = np.column_stack([np.ones_like(sei), 1 / sei])
    z = yi / sei
    coef, rss, *_ = np.linalg.lstsq(X, z, rcond=None)
    df = len(z) - 2
    se = np.sqrt(rss[0] / df * np.linalg.inv(X.T @ X)[0, 0])
    t = coef[0] / se
    return t, 2 * stats.t.sf(abs(t), df)


def test_egger2001_log_odds_ratios_match_metafor():
    yi, _ = egger2001()
    assert yi == pytest.approx(EGGER2001_YI, abs=5e-9)


def test_egger2001_matches_metafor_regtest_lm():
    res = egger_test(*egger2001())
    assert res["k"] == 15
    assert res["df"] == 13
    assert res["t"] == pytest.approx(-3.1783, abs=5e-5)
    assert res["p"] == pytest.approx(0.0073, abs=5e-5)
    assert res["limit"] == pytest.approx(-0.1512, abs=5e-5)
    assert (res["limit_ci_low"], res["limit_ci_high"]) == pytest.approx((-0.5130, 0.2106), abs=5e-5)


def test_statement_reports_metafor_values():
    out = small_study_assessment(*egger2001())
    assert out["tested"]
    assert "t = -3.18, df = 13, p = 0.0073" in out["statement"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_ols_of_standard_normal_deviate_on_precision(seed):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, size=12)
    yi = 0.3 + 0.8 * np.sqrt(vi) + rng.normal(0, np.sqrt(vi))
    res = egger_test(yi, vi)
    t, p = deviate_on_precision(yi, vi)
    assert res["t"] == pytest.approx(t, abs=1e-10)
    assert res["p"] == pytest.approx(p, abs=1e-10)


def test_egger2001_matches_ols_of_standard_normal_deviate_on_precision():
    yi, vi = egger2001()
    t, p = deviate_on_precision(yi, vi)
    res = egger_test(yi, vi)
    assert res["t"] == pytest.approx(t, abs=1e-10)
    assert res["p"] == pytest.approx(p, abs=1e-10)


def test_recovers_exact_line():
    # pairs of studies share a standard error and get residuals +d and -d, which are orthogonal (with weights
    # 1/v) to both the constant and sei, so weighted least squares returns the line's a and b exactly
    a, b, d = -0.4, 1.5, 0.01
    sei = np.repeat([0.1, 0.2, 0.3, 0.5, 0.8], 2)
    yi = a + b * sei + np.tile([d, -d], 5)
    res = egger_test(yi, sei**2)
    assert res["asymmetry"] == pytest.approx(b, abs=1e-12)
    assert res["limit"] == pytest.approx(a, abs=1e-12)
    assert res["k"] == 10 and res["df"] == 8
    assert res["t"] > 0 and res["limit_ci_low"] < a < res["limit_ci_high"]


def test_too_few_studies_gives_statement_and_no_test():
    yi, vi = egger2001()
    out = small_study_assessment(yi[:4], vi[:4])
    assert out["k"] == 4 and not out["tested"]
    assert "p" not in out and "t" not in out
    assert out["statement"].startswith("Too few studies (k = 4)")
    assert "at least 10" in out["statement"]
    assert "k = 15" in small_study_assessment(yi, vi, min_studies=20)["statement"]


@pytest.mark.parametrize(
    "yi, vi, match",
    [
        ([0.1, 0.2, 0.3], [0.1, 0.2], "equal length"),
        ([0.1, 0.2, 0.3], [0.1, 0.0, 0.2], "vi must be finite and > 0"),
        ([0.1, 0.2, 0.3], [0.1, -0.1, 0.2], "vi must be finite and > 0"),
        ([0.1, 0.2, 0.3], [0.1, np.inf, 0.2], "vi must be finite and > 0"),
        ([0.1, 0.2, 0.3], [0.1, np.nan, 0.2], "vi must be finite and > 0"),
        ([0.1, np.nan, 0.3], [0.1, 0.1, 0.2], "yi must be finite"),
    ],
)
def test_bad_input_raises(yi, vi, match):
    with pytest.raises(ValueError, match=match):
        egger_test(yi, vi)
    with pytest.raises(ValueError, match=match):
        small_study_assessment(yi, vi)


def test_egger_needs_three_studies_with_differing_standard_errors():
    with pytest.raises(ValueError, match="at least 3"):
        egger_test([0.1, 0.2], [0.1, 0.2])
    with pytest.raises(ValueError, match="differing standard errors"):
        egger_test([0.1, 0.2, 0.3], [0.1, 0.1, 0.1])
