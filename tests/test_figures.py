"""The report's figures draw any number of decision profiles and any text (issue 12, cause 7), and are drawn once
per input (irsynth.figure_cache)."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest
from markupsafe import Markup
from scipy import stats

from irsynth import figure_cache, figures

# text matplotlib would read as math text (an unbalanced `$` raises), a label it would hide (leading `_`), TeX
# specials outside math, markup
HOSTILE = ["$\\frac{1 $", "_hidden", "a^b_c", "100$ and 5$", "<b>&amp;</b>"]


def _decision(profiles: list[str], cutoff: float = 2.5) -> pd.DataFrame:
    scenarios = ["no change", "inositol alone", "metformin"]
    return pd.DataFrame(
        [
            {"profile": p, "scenario": s, f"p_patient_below_{cutoff:g}": (i + j) / (len(profiles) + 3)}
            for i, p in enumerate(profiles)
            for j, s in enumerate(scenarios)
        ]
    )


def _texts(svg: str) -> list[str]:
    """The text of every text element of an SVG as drawn (matplotlib writes it in a comment before its glyphs)."""
    return [html.unescape(t) for t in re.findall(r"<!-- (.*?) -->", svg, flags=re.S)]


@pytest.mark.parametrize("count", [1, 8, 9, 20, 60])
def test_decision_figure_draws_any_number_of_profiles_each_in_the_legend(count):
    profiles = [f"profile {i}" for i in range(count)]
    drawn = _texts(figures.decision_figure(_decision(profiles), 2.5))
    assert all(p in drawn for p in profiles)


def test_series_beyond_the_palette_differ_by_hatch():
    styles = [tuple(figures.series_style(i).values()) for i in range(len(figures.OKABE_ITO) * len(figures.HATCHES))]
    assert len(set(styles)) == len(styles)


def test_decision_figure_draws_hostile_text_as_written():
    drawn = _texts(figures.decision_figure(_decision(HOSTILE), 2.5))
    assert all(name in drawn for name in HOSTILE)


def test_forest_figure_draws_hostile_labels_as_written():
    rows = [
        {"comparison": "inositol_vs_control", "kind": "trial", "label": name, "published": ""}
        | {f"{s}_{q}": v for s in ("observed", "model") for q, v in (("ratio", 0.8), ("q0.025", 0.6), ("q0.975", 1.1))}
        for name in HOSTILE
    ]
    rows.append(
        {"comparison": "inositol_vs_control", "kind": "meta-analysis", "label": "$Meta_2017", "published": "SMD -0.5$"}
        | {f"observed_{q}": v for q, v in (("ratio", 0.9), ("q0.025", 0.7), ("q0.975", 1.0))}
    )
    forest = pd.DataFrame(rows).assign(outcome="homa_ir")
    drawn = _texts(figures.forest_figure(forest, "homa_ir"))
    assert all(name in drawn for name in HOSTILE) and "$Meta_2017  SMD -0.5$" in drawn


@pytest.mark.parametrize(
    ("distribution", "inside"),
    [
        (stats.norm(0.3, 0.2), (0.0, 0.6)),
        (stats.halfnorm(scale=0.15), (0.0, 0.3)),
        (stats.expon(scale=0.1), (0.0, 0.2)),
    ],
)
def test_posterior_density_integrates_to_one_and_follows_the_true_density_up_to_a_bound(distribution, inside):
    draws = distribution.rvs(8000, random_state=np.random.default_rng(4))
    grid, pdf = figures.density(draws)
    step = grid[1] - grid[0]
    assert grid.min() - step / 2 == pytest.approx(draws.min()) and grid.max() + step / 2 == pytest.approx(draws.max())
    assert np.sum(pdf) * step == pytest.approx(1, abs=0.005)  # no mass lost at the ends
    # no mass lost below a bound at 0: the density at 0 of a half-normal is its maximum, not half of it
    middle = (grid > inside[0]) & (grid < inside[1])
    truth = distribution.pdf(grid[middle])
    assert np.max(np.abs(pdf[middle] - truth)) < 0.15 * truth.max()


def test_a_cached_figure_is_drawn_once_and_read_back_as_drawn(tmp_path):
    drawn = []
    draw = figures.decision_figure.__wrapped__  # the drawing function itself
    decision, at_3 = _decision(["typical", "marked"]), _decision(["typical", "marked"], 3.0)

    def counting(*args):
        drawn.append(args)
        return draw(*args)

    cached = figure_cache.cached(counting)
    with figure_cache.cached_in(tmp_path):
        first = cached(decision, 2.5)
    with figure_cache.cached_in(tmp_path):
        again = cached(decision.copy(), 2.5)
        other = cached(at_3, 3.0)
    assert len(drawn) == 2 and drawn[1][1] == 3.0  # the same inputs were read back, new ones drawn
    assert again == first == figures.decision_figure(decision, 2.5)  # as drawn, and as drawn without the cache
    assert other != first and isinstance(again, Markup)
    assert len(list(tmp_path.glob("*.svg"))) == 2
    with figure_cache.cached_in(tmp_path):
        cached(at_3, 3.0)
    assert len(list(tmp_path.glob("*.svg"))) == 1  # a figure the last build did not use is removed
    assert cached(decision, 2.5) == first and len(drawn) == 3  # outside cached_in every figure is drawn


def test_a_change_of_the_code_draws_the_figure_again(tmp_path, monkeypatch):
    from irsynth import stage_store

    calls = []
    cached = figure_cache.cached(lambda x: calls.append(x) or Markup(f"<svg>{x}</svg>"))
    with figure_cache.cached_in(tmp_path):
        cached(1)
    monkeypatch.setattr(stage_store, "code_hash", lambda: "changed")
    with figure_cache.cached_in(tmp_path):
        cached(1)
    assert calls == [1, 1]


def test_a_figure_of_a_file_opened_lazily_is_keyed_by_its_content(tmp_path):
    import xarray as xr

    path = tmp_path / "posterior.nc"

    def write(values):
        xr.DataTree.from_dict({"posterior": xr.Dataset({"d": (("chain", "draw"), values)})}).to_netcdf(path)

    def key() -> str:
        with xr.open_datatree(path) as tree:
            return figure_cache.figure_key("density_figure", (tree, {"sd": 0.5}), {})

    write(np.arange(6.0).reshape(2, 3))
    first = key()
    assert key() == first
    write(np.arange(6.0).reshape(2, 3) + 1)
    assert key() != first
