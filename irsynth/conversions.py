"""Named conversions of reported summaries to a mean and SD (in the spirit of metafor's `conv.*`).

Each function returns the converted value; `harmonise` records which one was used and with what inputs.
References:
- Cochrane Handbook for Systematic Reviews of Interventions, v6.4, sections 6.5.2.2-6.5.2.3 (SD from SE and CI)
  and 6.5.2.8 (imputing change-from-baseline SDs with a correlation coefficient).
- Wan X, Wang W, Liu J, Tong T (2014). BMC Med Res Methodol 14:135 (SD from range or IQR).
- Luo D, Wan X, Liu J, Tong T (2018). Stat Methods Med Res 27(6):1785-1805 (mean from median with range/IQR).
"""

from __future__ import annotations

import math

from scipy.special import ndtri, stdtrit


def sd_from_se(se: float, n: float) -> float:
    """SD = SE * sqrt(n) (Cochrane Handbook 6.5.2.2)."""
    return se * math.sqrt(n)


def sd_from_ci(low: float, high: float, n: float, level: float = 0.95) -> float:
    """SD of one group from the CI of its mean: sqrt(n) * (high - low) / (2 t_{(1+level)/2, n-1}).

    The t quantile is used at every n (Cochrane Handbook 6.5.2.2 recommends it for small samples; for large n it
    converges to the 3.92 = 2 * 1.96 of the normal case).
    """
    t = stdtrit(n - 1, (1 + level) / 2)
    return math.sqrt(n) * (high - low) / (2 * t)


def mean_from_median(n: float, median: float, q1=None, q3=None, minimum=None, maximum=None) -> float:
    """Mean from the median with range (C1), IQR (C3) or both (C2): Luo et al. (2018) optimal weights."""
    has_iqr = q1 is not None and q3 is not None
    has_range = minimum is not None and maximum is not None
    if has_range and has_iqr:
        w1 = 2.2 / (2.2 + n**0.75)
        w2 = 0.7 - 0.72 / n**0.55
        return w1 * (minimum + maximum) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * median
    if has_range:
        w = 4 / (4 + n**0.75)
        return w * (minimum + maximum) / 2 + (1 - w) * median
    if has_iqr:
        w = 0.7 + 0.39 / n
        return w * (q1 + q3) / 2 + (1 - w) * median
    raise ValueError("mean_from_median needs a range (min, max) or an IQR (q1, q3)")


# Wan et al. (2014) Table 1: xi(n), the expected range of n standard normal draws, n = 1..50
# (https://bmcmedresmethodol.biomedcentral.com/articles/10.1186/1471-2288-14-135/tables/1).
WAN2014_TABLE1 = (
    0.000,
    1.128,
    1.693,
    2.059,
    2.326,
    2.534,
    2.704,
    2.847,
    2.970,
    3.078,
    3.173,
    3.259,
    3.336,
    3.407,
    3.472,
    3.532,
    3.588,
    3.640,
    3.689,
    3.735,
    3.778,
    3.819,
    3.858,
    3.895,
    3.931,
    3.964,
    3.997,
    4.027,
    4.057,
    4.086,
    4.113,
    4.139,
    4.165,
    4.189,
    4.213,
    4.236,
    4.259,
    4.280,
    4.301,
    4.322,
    4.341,
    4.361,
    4.379,
    4.398,
    4.415,
    4.433,
    4.450,
    4.466,
    4.482,
    4.498,
)


def xi(n: float, table: bool = True) -> float:
    """Expected range of n standard normals: Wan's Table 1 for integer n <= 50, else 2 Phi^-1((n-0.375)/(n+0.25))."""
    if table and n <= 50 and float(n).is_integer():
        return WAN2014_TABLE1[int(n) - 1]
    return 2 * ndtri((n - 0.375) / (n + 0.25))


def eta(n: float) -> float:
    """Expected IQR of n standard normals, Wan et al. (2014): 2 Phi^-1((0.75 n - 0.125)/(n + 0.25))."""
    return 2 * ndtri((0.75 * n - 0.125) / (n + 0.25))


def sd_from_median(n: float, q1=None, q3=None, minimum=None, maximum=None) -> float:
    """SD from range (C1), IQR (C3) or both (C2): Wan et al. (2014)."""
    has_iqr = q1 is not None and q3 is not None
    has_range = minimum is not None and maximum is not None
    if has_range and has_iqr:
        return 0.5 * ((maximum - minimum) / xi(n) + (q3 - q1) / eta(n))
    if has_range:
        return (maximum - minimum) / xi(n)
    if has_iqr:
        return (q3 - q1) / eta(n)
    raise ValueError("sd_from_median needs a range (min, max) or an IQR (q1, q3)")


def change_sd(sd_baseline: float, sd_end: float, rho: float) -> float:
    """SD of the change from baseline: sqrt(sd_b^2 + sd_e^2 - 2 rho sd_b sd_e) (Cochrane Handbook 6.5.2.8)."""
    return math.sqrt(sd_baseline**2 + sd_end**2 - 2 * rho * sd_baseline * sd_end)


def implied_correlation(sd_baseline: float, sd_end: float, sd_change: float) -> float:
    """Within-arm correlation implied by baseline, end and change SDs (Cochrane Handbook 6.5.2.8)."""
    return (sd_baseline**2 + sd_end**2 - sd_change**2) / (2 * sd_baseline * sd_end)
