"""Effect sizes against metafor's documented values (escalc tests, dat.normand1999, Morris 2008)."""

from __future__ import annotations

import math

import pytest

from irsynth.effects import escalc, hedges_j

# dat.normand1999 rows 1-4: n1i m1i sd1i n2i m2i sd2i (metafor-project.org tips:assembling_data_smd)
NORMAND = [
    (155, 55, 47, 156, 75, 64),
    (31, 27, 7, 32, 29, 4),
    (75, 64, 17, 71, 119, 29),
    (18, 66, 20, 18, 137, 48),
]


def _normand(measure):
    return [escalc(measure, m1, s1, n1, m2, s2, n2) for n1, m1, s1, n2, m2, s2 in NORMAND]


def test_smd_matches_metafor():
    got = _normand("SMD")
    assert [y for y, _ in got] == pytest.approx([-0.3552, -0.3479, -2.3176, -1.8880], abs=5e-5)
    assert [v for _, v in got] == pytest.approx([0.0131, 0.0645, 0.0458, 0.1606], abs=5e-5)


def test_rom_matches_metafor():
    got = _normand("ROM")
    assert [y for y, _ in got] == pytest.approx([-0.3102, -0.0715, -0.6202, -0.7303], abs=5e-5)
    assert [v for _, v in got] == pytest.approx([0.0094, 0.0028, 0.0018, 0.0119], abs=5e-5)


def test_md_matches_normand_table_viii():
    # metafor test_analysis_example_normand1999.r: MD with the pooled SD in both arms, all nine studies
    rows = NORMAND + [
        (8, 14, 8, 13, 18, 11),
        (57, 19, 7, 52, 18, 4),
        (34, 52, 45, 33, 41, 34),
        (110, 21, 16, 183, 31, 27),
        (60, 30, 27, 52, 23, 20),
    ]
    got = []
    for n1, m1, s1, n2, m2, s2 in rows:
        sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
        got.append(escalc("MD", m1, sp, n1, m2, sp, n2))
    assert [y for y, _ in got] == [-20, -2, -55, -71, -4, 1, 11, -10, 7]
    assert [round(v, 2) for _, v in got] == [40.59, 2.05, 15.28, 150.22, 20.19, 1.22, 95.38, 8.03, 20.69]


def test_mean_change_measures_match_metafor():
    # escalc(measure=..., m1i=26, m2i=22, sd1i=sqrt(30), sd2i=sqrt(20), ni=60, ri=0.7)
    args = dict(m1=26, sd1=math.sqrt(30), n1=60, m2=22, sd2=math.sqrt(20), r=0.7)
    assert escalc("MC", **args) == pytest.approx((4.0, 0.2618), abs=5e-5)
    assert escalc("ROMC", **args) == pytest.approx((0.1671, 0.0004), abs=5e-5)


def test_smcr_matches_morris_2008():
    # metafor test_analysis_example_morris2008.r, treatment groups: m_post, m_pre, sd_pre, n, r
    groups = [
        (38.5, 30.6, 15.0, 20, 0.47),
        (26.8, 23.5, 3.1, 50, 0.64),
        (0.7, 0.5, 0.1, 9, 0.77),
        (75.9, 53.4, 14.5, 10, 0.89),
        (36.0, 35.6, 4.7, 14, 0.44),
    ]
    got = [escalc("SMCR", post, sd_pre, n, pre, None, None, r) for post, pre, sd_pre, n, r in groups]
    assert [round(y, 4) for y, _ in got] == [0.5056, 1.0481, 1.8054, 1.4181, 0.0801]
    assert [round(v, 4) for _, v in got] == [0.0594, 0.0254, 0.2322, 0.1225, 0.0802]


def test_hedges_j_approximation():
    # J(m) ~ 1 - 3/(4m - 1) (Hedges 1981); exact and approximate agree closely for moderate m
    for m in (10, 30, 100):
        assert hedges_j(m) == pytest.approx(1 - 3 / (4 * m - 1), rel=1e-3)


def test_unknown_measure_is_refused():
    with pytest.raises(ValueError):
        escalc("RR", 1, 1, 1, 1, 1, 1)
