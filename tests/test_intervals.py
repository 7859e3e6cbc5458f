"""The one interval summary of draws, and the gate verdict written beside the diagnostics."""

from __future__ import annotations

import numpy as np
import pytest

from irsynth.gates import gate_verdict
from irsynth.intervals import central_interval


def test_median_and_central_interval_are_numpy_quantiles():
    draws = np.random.default_rng(3).normal(size=4001)
    interval = central_interval(draws)
    assert isinstance(interval.median, float)
    assert interval == (np.quantile(draws, 0.5), np.quantile(draws, 0.025), np.quantile(draws, 0.975))
    assert central_interval(draws, 0.9).low == np.quantile(draws, 0.05)


def test_exponentiated_interval_is_the_interval_of_the_ratio():
    log_ratio = np.random.default_rng(4).normal(-0.2, 0.1, 1001)  # odd: the median is a draw
    ratio = central_interval(log_ratio, exp=True)
    assert ratio.median == pytest.approx(np.quantile(np.exp(log_ratio), 0.5), rel=1e-12)
    assert ratio.low == np.exp(np.quantile(log_ratio, 0.025)) and ratio.high == np.exp(np.quantile(log_ratio, 0.975))


def test_interval_along_an_axis():
    draws = np.random.default_rng(5).normal(size=(500, 3))
    interval = central_interval(draws, axis=0)
    assert (
        interval.low.shape == (3,)
        and (interval.low < interval.median).all()
        and (interval.median < interval.high).all()
    )
    with pytest.raises(ValueError, match="level"):
        central_interval(draws, level=95)


def test_gate_verdict():
    assert gate_verdict([]) == "passed"
    assert gate_verdict(["a: R-hat 1.1", "a: 3 divergent"]) == "failed: a: R-hat 1.1; a: 3 divergent"
