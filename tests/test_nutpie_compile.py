"""The nutpie compilation adapter (irsynth.nutpie_compile): the same draws as nutpie's own compilation, with data
of every rank and dtype and after `with_data`; the conjugate posterior; its callbacks found again in the on-disk
cache by a fresh process, for data of new sizes, and never for a model of another structure."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import nutpie
import pymc as pm
import pytensor.tensor as pt
import pytest
from nutpie import compile_pymc

from irsynth import nutpie_compile

ROOT = Path(__file__).resolve().parent.parent


def _model(x, w, y, sigma, prior_sd=10.0) -> pm.Model:
    """y_i ~ Normal(mu a_i, sigma), a_i = x_i w[i, idx_i], mu ~ Normal(0, prior_sd): data of rank 0, 1 and 2, and an
    integer container; the data's sizes are not in the graph."""
    with pm.Model() as model:
        x_data, w_data = pm.Data("x", x), pm.Data("w", w)
        index = pm.Data("index", np.zeros(len(x), dtype="int64"))
        sigma_data = pm.Data("sigma", sigma)
        mu = pm.Normal("mu", 0.0, prior_sd)
        a = x_data * w_data[pt.arange(x_data.shape[0]), index]
        pm.Normal("y", mu * a, sigma_data, observed=pm.Data("y_obs", y))
    return model


def _data(n: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(1.0, 0.3, n), rng.uniform(0.5, 1.5, (n, 2))
    return x, w, 0.7 * x * w[:, 0] + rng.normal(0, 0.5, n)


def _conjugate(a, y, sigma, prior_sd=10.0) -> tuple[float, float]:
    precision = 1 / prior_sd**2 + np.sum(a**2) / sigma**2
    return float(np.sum(a * y) / sigma**2 / precision), float(precision**-0.5)


def _draws(compiled, **data) -> np.ndarray:
    compiled = compiled.with_data(**data) if data else compiled
    trace = nutpie.sample(compiled, draws=1000, tune=500, chains=2, cores=1, seed=7, progress_bar=False)
    return trace.posterior["mu"].values


def _assert_conjugate(draws, a, y, sigma, prior_sd=10.0):
    mean, sd = _conjugate(a, y, sigma, prior_sd)
    # 2000 draws: the MC SE of the mean is at most sd / sqrt(2000 / 4) for an ESS of a quarter of the draws
    assert abs(draws.mean() - mean) < 4 * sd / np.sqrt(500)
    assert draws.std() == pytest.approx(sd, rel=0.1)


def _hits(compiled) -> tuple[int, int]:
    return compiled.compiled_logp_func.cache_hits, compiled.compiled_expand_func.cache_hits


def _nutpies_own(model):
    """The model compiled by nutpie's own callbacks."""
    nutpie_compile.install()
    ours = {name: getattr(compile_pymc, name) for name in nutpie_compile.REPLACED}
    try:
        for name in nutpie_compile.REPLACED:
            setattr(compile_pymc, name, nutpie_compile.NUTPIE_FUNCTIONS[name])
        return nutpie.compile_pymc_model(model)
    finally:
        for name, function in ours.items():
            setattr(compile_pymc, name, function)


@pytest.fixture(scope="module")
def compiled_both():
    x, w, y = _data(20)
    model = _model(x, w, y, 0.5)
    return nutpie_compile.compile_pymc_model(model), _nutpies_own(model), (x, w, y)


def test_adapter_gives_nutpies_draws(compiled_both):
    adapted, own, (x, w, y) = compiled_both
    assert np.array_equal(_draws(adapted), _draws(own))
    new = {"y_obs": y * 2, "sigma": 0.25, "index": np.ones(len(x), dtype="int64"), "x": x[::-1].copy()}
    changed = _draws(adapted, **new)
    assert np.array_equal(changed, _draws(own, **new))
    assert not np.allclose(changed.mean(), _draws(adapted).mean(), atol=0.05)


def test_adapter_samples_the_conjugate_posterior_after_new_data(compiled_both):
    adapted, _, (x, w, y) = compiled_both
    _assert_conjugate(_draws(adapted).ravel(), x * w[:, 0], y, 0.5)
    new = {"y_obs": y * 2, "sigma": 0.25, "index": np.ones(len(x), dtype="int64")}
    _assert_conjugate(_draws(adapted, **new).ravel(), x * w[:, 1], y * 2, 0.25)


FRESH_PROCESS = """
import sys
import numpy as np
import nutpie
sys.path.insert(0, sys.argv[1])
from tests.test_nutpie_compile import _data, _draws, _hits, _model
from irsynth import nutpie_compile

compiled = nutpie_compile.compile_pymc_model(_model(*_data(20), 0.5, prior_sd=float(sys.argv[2])))
np.save(sys.argv[3], _draws(compiled))
print(*_hits(compiled))
"""


def test_a_model_never_seen_is_compiled_then_found_in_the_cache_by_a_fresh_process(tmp_path):
    # a prior scale no earlier run used: a log density of its own, so its callback cannot be in the cache yet (the
    # expansion to stored variables, mu itself, is every such model's)
    prior_sd = 10.0 + uuid.uuid4().int % 10**6 / 10**7
    x, w, y = _data(20)
    first = nutpie_compile.compile_pymc_model(_model(x, w, y, 0.5, prior_sd))
    assert _hits(first)[0] == 0
    draws = _draws(first)
    _assert_conjugate(draws.ravel(), x * w[:, 0], y, 0.5, prior_sd)

    out = tmp_path / "draws.npy"
    run = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(ROOT), repr(prior_sd), str(out)],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "1"]
    assert np.array_equal(np.load(out), draws)


def test_a_cached_callback_reads_data_of_new_sizes():
    x, w, y = _data(20)
    nutpie_compile.compile_pymc_model(_model(x, w, y, 0.5))
    x, w, y = _data(35, seed=4)
    again = nutpie_compile.compile_pymc_model(_model(x, w, y, 0.3))
    assert _hits(again) == (1, 1)
    _assert_conjugate(_draws(again).ravel(), x * w[:, 0], y, 0.3)


def test_a_model_of_another_structure_is_not_given_a_cached_callback(compiled_both):
    x, w, y = compiled_both[2]
    # the same data containers and parameter, so the same record layout and dimension, and a Student-t likelihood
    # (of a degrees of freedom no earlier run used)
    with pm.Model() as other:
        mu = pm.Normal("mu", 0.0, 10.0)
        x_data, index = pm.Data("x", x), pm.Data("index", np.zeros(len(x), dtype="int64"))
        a = x_data * pm.Data("w", w)[pt.arange(x_data.shape[0]), index]
        nu = 4 + uuid.uuid4().int % 10**6 / 10**7
        pm.StudentT("y", nu=nu, mu=mu * a, sigma=pm.Data("sigma", 0.5), observed=pm.Data("y_obs", y))
    # its log density is its own; the expansion to stored variables (mu itself) is the same function
    assert _hits(nutpie_compile.compile_pymc_model(other)) == (0, 1)


def test_the_record_layout_is_positional_and_sees_rank_and_dtype():
    def layout(shared):
        keys = {name: uuid.uuid4().hex for name in shared}  # nutpie's random field names
        data = {keys[name]: value for name, value in shared.items()}
        user_data = compile_pymc.make_user_data({_Var(value.ndim): keys[name] for name, value in shared.items()}, data)
        return nutpie_compile.record_layout(user_data.dtype, data, list(data))

    shared = {"a": np.zeros(3), "b": np.zeros((2, 2)), "c": np.zeros((), dtype="int64")}
    assert layout(shared) == layout(shared)
    assert layout(shared) != layout(shared | {"c": np.zeros(())})
    assert layout(shared) != layout(shared | {"a": np.zeros((3, 1))})
    assert layout(shared) != layout({"b": shared["b"], "a": shared["a"], "c": shared["c"]})


class _Var:
    """A stand-in for a shared variable in nutpie's make_user_data, which reads only its rank."""

    def __init__(self, ndim: int):
        self.ndim = ndim


def test_without_a_pytensor_cache_key_the_callbacks_are_compiled_uncached(compiled_both, monkeypatch):
    x, w, y = compiled_both[2]
    monkeypatch.setattr(nutpie_compile, "pytensor_cache_key", lambda function: None)
    model = _model(x, w, y, 0.5)
    for _ in range(2):
        compiled = nutpie_compile.compile_pymc_model(model)
        assert _hits(compiled) == (0, 0)
    assert np.array_equal(_draws(compiled), _draws(compiled_both[1]))


def test_install_refuses_other_nutpie_versions(monkeypatch):
    monkeypatch.setattr(nutpie, "__version__", "0.17.0")
    for name in nutpie_compile.REPLACED:
        monkeypatch.setattr(compile_pymc, name, object())
    before = {name: getattr(compile_pymc, name) for name in nutpie_compile.REPLACED}
    assert not nutpie_compile.install()
    assert {name: getattr(compile_pymc, name) for name in nutpie_compile.REPLACED} == before
