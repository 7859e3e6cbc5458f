"""Conversions to mean and SD, checked against published examples and closed-form cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from irsynth import conversions as conv


def test_sd_from_se_is_se_times_root_n():
    assert conv.sd_from_se(0.4, 30) == pytest.approx(0.4 * math.sqrt(30))


@pytest.mark.parametrize("n", [5, 12, 30, 200])
def test_sd_from_ci_inverts_a_t_interval(n):
    sd, mean = 3.7, 10.0
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    assert conv.sd_from_ci(mean - half, mean + half, n) == pytest.approx(sd)


def test_sd_from_ci_tends_to_the_3_92_rule_for_large_n():
    n, low, high = 100_000, 1.0, 2.0
    assert conv.sd_from_ci(low, high, n) == pytest.approx(math.sqrt(n) * (high - low) / 3.92, rel=1e-3)


def test_wan_range_sd_metaBLUE_example():
    # metaBLUE Wan.std(c(1, 4, 10), n = 30, "S1") -> sigmahat 2.205578 (closed form, no table)
    assert 9 / conv.xi(30, table=False) == pytest.approx(2.205578, abs=1e-6)


def test_wan_range_sd_uses_the_published_table_for_small_n():
    # Wan et al. (2014) Table 1: xi(30) = 4.086
    assert conv.sd_from_median(30, minimum=1, maximum=10) == pytest.approx(9 / 4.086)
    assert conv.xi(10) == 3.078 and conv.xi(50) == 4.498
    assert conv.xi(51) == pytest.approx(conv.xi(51, table=False))


def test_wan_iqr_sd_cross_validated_example():
    # (q3 - q1) / (2 qnorm((0.75 n - 0.125)/(n + 0.25))) with q1 0.02, q3 0.04, n 100 -> 0.0150441
    assert conv.sd_from_median(100, q1=0.02, q3=0.04) == pytest.approx(0.0150441, abs=1e-7)


def test_wan_sd_is_consistent_for_normal_samples():
    """Simulation check: range and IQR estimators recover sigma for normal data on average."""
    rng = np.random.default_rng(1)
    n, sigma = 200, 2.0
    draws = rng.normal(5, sigma, size=(4000, n))
    q1, q3 = np.percentile(draws, [25, 75], axis=1)
    lo, hi = draws.min(axis=1), draws.max(axis=1)
    assert np.mean([conv.sd_from_median(n, q1=a, q3=b) for a, b in zip(q1, q3)]) == pytest.approx(sigma, rel=0.02)
    assert np.mean([conv.sd_from_median(n, minimum=a, maximum=b) for a, b in zip(lo, hi)]) == pytest.approx(
        sigma, rel=0.02
    )


def test_luo_mean_metaBLUE_example():
    # metaBLUE Luo.mean(c(1, 4, 10), n = 30, "S1") -> muhat 4.356748
    assert conv.mean_from_median(30, 4, minimum=1, maximum=10) == pytest.approx(4.356748, abs=1e-6)


def test_luo_mean_weights_match_the_published_expressions():
    n, m, q1, q3, a, b = 40, 5.0, 3.0, 8.0, 1.0, 15.0
    s2 = (0.7 + 0.39 / n) * (q1 + q3) / 2 + (0.3 - 0.39 / n) * m
    s3 = (
        (2.2 / (2.2 + n**0.75)) * (a + b) / 2
        + (0.7 - 0.72 / n**0.55) * (q1 + q3) / 2
        + (0.3 + 0.72 / n**0.55 - 2.2 / (2.2 + n**0.75)) * m
    )
    assert conv.mean_from_median(n, m, q1=q1, q3=q3) == pytest.approx(s2)
    assert conv.mean_from_median(n, m, q1=q1, q3=q3, minimum=a, maximum=b) == pytest.approx(s3)


def test_median_without_spread_is_refused():
    with pytest.raises(ValueError):
        conv.mean_from_median(20, 3.0)


def test_implied_correlation_worked_example():
    # S_pre 9, S_post 11, S_change 8 -> r = 0.697 (formula of Cochrane Handbook 6.5.2.8)
    assert conv.implied_correlation(9, 11, 8) == pytest.approx(0.697, abs=5e-4)


@pytest.mark.parametrize("rho", [-0.3, 0.0, 0.5, 0.9])
def test_change_sd_and_implied_correlation_are_inverse(rho):
    sd_change = conv.change_sd(4.0, 5.0, rho)
    assert conv.implied_correlation(4.0, 5.0, sd_change) == pytest.approx(rho)


def test_change_sd_matches_simulated_differences():
    rng = np.random.default_rng(2)
    cov = [[4.0**2, 0.6 * 4 * 5], [0.6 * 4 * 5, 5.0**2]]
    x = rng.multivariate_normal([0, 0], cov, size=200_000)
    assert conv.change_sd(4.0, 5.0, 0.6) == pytest.approx(np.std(x[:, 1] - x[:, 0]), rel=0.01)
