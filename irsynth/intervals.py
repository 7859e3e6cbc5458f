"""Posterior summaries of draws: the median and a central credible interval.

One helper for every table and figure that reports "median (95% CrI)" of MCMC draws, on the draws' own scale or,
for log ratios, exponentiated (quantiles commute with exp, so the quantiles of the log draws are exponentiated).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Interval(NamedTuple):
    """Median and central interval; floats for a summary over all draws, arrays when taken along an axis."""

    median: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray


def central_interval(draws, level: float = 0.95, *, exp: bool = False, axis: int | None = None) -> Interval:
    """Median and central `level` interval of `draws` (quantiles (1 - level)/2, 0.5 and (1 + level)/2, linear
    interpolation as numpy's default), over all draws or along `axis`; with `exp`, of exp(draws)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (got {level})")
    tail = round((1 - level) / 2, 12)  # 0.025 exactly for level 0.95, not 0.025000000000000022
    low, median, high = np.quantile(np.asarray(draws, float), [tail, 0.5, 1 - tail], axis=axis)
    if exp:
        low, median, high = np.exp(low), np.exp(median), np.exp(high)
    if np.ndim(median) == 0:
        return Interval(float(median), float(low), float(high))
    return Interval(median, low, high)
