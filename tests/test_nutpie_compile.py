"""The nutpie compilation adapter (irsynth.nutpie_compile): the same draws as nutpie's own extraction, with data
of every rank and dtype and after `with_data`, and the conjugate posterior."""

from __future__ import annotations

import numpy as np
import nutpie
import pymc as pm
import pytest
from nutpie import compile_pymc

from irsynth import nutpie_compile

PRIOR_SD = 10.0


def _model(x, w, y, sigma) -> pm.Model:
    """y_i ~ Normal(mu a_i, sigma), a_i = x_i w[i, idx_i], mu ~ Normal(0, PRIOR_SD): data of rank 0, 1 and 2, and an
    integer container."""
    with pm.Model() as model:
        x_data, w_data = pm.Data("x", x), pm.Data("w", w)
        index = pm.Data("index", np.zeros(len(x), dtype="int64"))
        sigma_data = pm.Data("sigma", sigma)
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        a = x_data * w_data[np.arange(len(x)), index]
        pm.Normal("y", mu * a, sigma_data, observed=pm.Data("y_obs", y))
    return model


def _conjugate(a, y, sigma) -> tuple[float, float]:
    precision = 1 / PRIOR_SD**2 + np.sum(a**2) / sigma**2
    return float(np.sum(a * y) / sigma**2 / precision), float(precision**-0.5)


def _draws(compiled, **data) -> np.ndarray:
    compiled = compiled.with_data(**data) if data else compiled
    trace = nutpie.sample(compiled, draws=1000, tune=500, chains=2, cores=1, seed=7, progress_bar=False)
    return trace.posterior["mu"].values


@pytest.fixture(scope="module")
def compiled_both():
    rng = np.random.default_rng(3)
    x, w = rng.normal(1.0, 0.3, 20), rng.uniform(0.5, 1.5, (20, 2))
    y = 0.7 * x * w[:, 0] + rng.normal(0, 0.5, 20)
    model = _model(x, w, y, 0.5)
    assert nutpie_compile.install()
    adapted = nutpie.compile_pymc_model(model)
    original = nutpie_compile.NUTPIE_EXTRACTION_FN
    try:
        compile_pymc.make_extraction_fn = original
        own = nutpie.compile_pymc_model(model)
    finally:
        compile_pymc.make_extraction_fn = nutpie_compile.extraction_fn
    return adapted, own, (x, w, y)


def test_adapter_gives_nutpies_draws(compiled_both):
    adapted, own, (x, w, y) = compiled_both
    assert np.array_equal(_draws(adapted), _draws(own))
    new = {"y_obs": y * 2, "sigma": 0.25, "index": np.ones(len(x), dtype="int64"), "x": x[::-1].copy()}
    changed = _draws(adapted, **new)
    assert np.array_equal(changed, _draws(own, **new))
    assert not np.allclose(changed.mean(), _draws(adapted).mean(), atol=0.05)


def test_adapter_samples_the_conjugate_posterior_after_new_data(compiled_both):
    adapted, _, (x, w, y) = compiled_both
    for data, a, y_used, sigma in (
        ({}, x * w[:, 0], y, 0.5),
        ({"y_obs": y * 2, "sigma": 0.25, "index": np.ones(len(x), dtype="int64")}, x * w[:, 1], y * 2, 0.25),
    ):
        draws = _draws(adapted, **data).ravel()
        mean, sd = _conjugate(a, y_used, sigma)
        # 2000 draws: the MC SE of the mean is at most sd / sqrt(2000 / 4) for an ESS of a quarter of the draws
        assert abs(draws.mean() - mean) < 4 * sd / np.sqrt(500)
        assert draws.std() == pytest.approx(sd, rel=0.1)


def test_install_refuses_other_nutpie_versions(monkeypatch):
    monkeypatch.setattr(nutpie, "__version__", "0.17.0")
    monkeypatch.setattr(compile_pymc, "make_extraction_fn", nutpie_compile.NUTPIE_EXTRACTION_FN or object())
    before = compile_pymc.make_extraction_fn
    assert not nutpie_compile.install()
    assert compile_pymc.make_extraction_fn is before
