"""The compiled-function cache (irsynth.compile_cache): a function compiled once is loaded again without rewriting,
computes what a fresh compilation computes, reads its caller's shared variables, and is never served for another
graph; graphs it cannot serve safely compile as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.maker import FunctionMaker

from irsynth import compile_cache

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(compile_cache, "folder", lambda: tmp_path)
    return tmp_path


@pytest.fixture
def no_rewriting(monkeypatch):
    """Compiling (rewriting a graph) fails inside this fixture's test from the moment it is called."""

    def forbid():
        def rewrite(*args, **kwargs):
            raise AssertionError("the graph was rewritten")

        monkeypatch.setattr(FunctionMaker, "prepare_fgraph", staticmethod(rewrite))

    return forbid


def _graph(scale=2.0, data=(1.0, 2.0, 3.0)):
    """x -> (sum of scale * exp(x) * data, its gradient), data a named shared variable."""
    x = pt.dvector("x")
    shared = pytensor.shared(np.asarray(data), name="data")
    total = pt.sum(pt.constant(scale) * pt.exp(x) * shared)
    return [x], [total, pytensor.grad(total, x)], shared


@pytest.mark.parametrize("mode", [None, "FAST_RUN"])
def test_a_stored_function_is_loaded_without_rewriting_and_computes_the_same(store, no_rewriting, mode):
    inputs, outputs, _ = _graph()
    fresh = pytensor.function(inputs, outputs, mode=mode)
    compile_cache.function(inputs, outputs, mode=mode)
    assert len(list(store.glob("*.pkl"))) == 1
    no_rewriting()
    inputs, outputs, _ = _graph()  # the same graph built again, as a new process builds it
    loaded = compile_cache.function(inputs, outputs, mode=mode)
    x = np.array([0.1, -0.4, 0.7])
    for got, expected in zip(loaded(x), fresh(x)):
        np.testing.assert_array_equal(got, expected)


def test_a_loaded_function_reads_and_its_caller_sets_the_shared_values(store):
    inputs, outputs, _ = _graph(data=(1.0, 1.0, 1.0))
    compile_cache.function(inputs, outputs)
    inputs, outputs, shared = _graph(data=(5.0, 6.0, 7.0))  # stored with other values
    loaded = compile_cache.function(inputs, outputs)
    x = np.zeros(3)
    assert loaded(x)[0] == pytest.approx(2.0 * 18.0)
    shared.set_value(np.array([1.0, 0.0, 0.0]))
    assert loaded(x)[0] == pytest.approx(2.0)
    assert loaded.get_shared() == [shared]


def test_graphs_that_differ_in_a_constant_an_op_or_a_name_have_their_own_functions(store):
    x = np.array([0.3, 0.2, 0.1])
    values = []
    # the last graph differs from the first only in its shared variable's value: not part of the key
    for scale, name, data in ((2.0, "data", (1.0, 2.0, 3.0)), (3.0, "data", (1.0, 2.0, 3.0)),
                              (2.0, "other", (1.0, 2.0, 3.0)), (2.0, "data", (9.0,))):  # fmt: skip
        inputs, outputs, shared = _graph(scale, data)
        shared.name = name
        shared.set_value(np.array([1.0, 2.0, 3.0]))
        values.append(compile_cache.function(inputs, outputs)(x)[0])
    assert len(list(store.glob("*.pkl"))) == 3
    inputs = [pt.dvector("x")]
    shared = pytensor.shared(np.array([1.0, 2.0, 3.0]), name="data")
    values.append(compile_cache.function(inputs, [pt.sum(2.0 * pt.exp(inputs[0]) + shared)])(x)[0])
    assert len(list(store.glob("*.pkl"))) == 4
    total = np.sum(np.exp(x) * [1.0, 2.0, 3.0])
    assert values[:4] == pytest.approx([2 * total, 3 * total, 2 * total, 2 * total])
    assert values[4] == pytest.approx(np.sum(2.0 * np.exp(x) + [1.0, 2.0, 3.0]))


def test_the_key_is_the_same_in_processes_with_other_histories():
    script = (
        "import sys, pytensor, pytensor.tensor as pt, numpy as np\n"
        "[pt.dvector() + 1 for _ in range(int(sys.argv[1]))]\n"  # auto-named variables made before
        "from irsynth import compile_cache\n"
        "x = pt.dvector('x'); y = pt.exp(x) * pytensor.shared(np.ones(3), name='d') + pt.constant(np.arange(3.0))\n"
        "print(compile_cache._key('k', [x], [y, pytensor.grad(pt.sum(y), x)], None, {}))\n"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", script, str(n)], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        for n in (0, 50)
    }
    assert len(keys) == 1 and len(keys.pop()) == 64


def test_random_generators_and_updates_compile_uncached(store):
    rng = pytensor.shared(np.random.default_rng(1), name="rng")
    _, draw = pt.random.normal(0, 1, size=3, rng=rng, return_next_rng=True)
    compile_cache.function([], draw)
    counter = pytensor.shared(0.0, name="counter")
    compile_cache.function([], counter, updates={counter: counter + 1})
    assert not list(store.glob("*.pkl"))


def test_a_damaged_entry_is_compiled_again(store):
    inputs, outputs, _ = _graph()
    compile_cache.function(inputs, outputs)
    (entry,) = store.glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    inputs, outputs, _ = _graph()
    assert compile_cache.function(inputs, outputs)(np.zeros(3))[0] == pytest.approx(12.0)
    assert entry.read_bytes() != b"not a pickle"


def test_pymc_compiles_through_the_cache_inside_its_context(store, no_rewriting):
    def logp_function():
        with pm.Model() as model:
            mu = pm.Normal("mu", 0, 1)
            pm.HalfNormal("sigma", 1)
            pm.Normal("y", mu, 1, observed=pm.Data("y_data", np.array([0.5, 1.5])))
        return model.compile_logp(), model

    with compile_cache.pymc_compiles_cached():
        fresh, model = logp_function()
    assert len(list(store.glob("*.pkl"))) == 0  # model.compile_logp imported PyMC's compile at import time
    from pymc import pytensorf

    with compile_cache.pymc_compiles_cached():
        assert pytensorf.compile is compile_cache.pymc_compile
        first = pytensorf.compile([model.value_vars[0]], model.logp(sum=True, vars=[model["y"]]))
    assert pytensorf.compile is not compile_cache.pymc_compile
    no_rewriting()
    with compile_cache.pymc_compiles_cached():
        again = pytensorf.compile([model.value_vars[0]], model.logp(sum=True, vars=[model["y"]]))
    assert again(0.3) == pytest.approx(first(0.3))


def test_entries_unused_for_pytensors_age_threshold_are_removed(store):
    import os
    import time

    inputs, outputs, _ = _graph()
    compile_cache.function(inputs, outputs)
    (used,) = store.glob("*.pkl")
    stale = store / ("0" * 64 + ".pkl")
    stale.write_bytes(b"an old graph")
    long_ago = time.time() - pytensor.config.cmodule__age_thresh_use - 60
    for entry in (used, stale):
        os.utime(entry, (long_ago, long_ago))
    inputs, outputs, _ = _graph()
    compile_cache.function(inputs, outputs)  # loaded: its time is now
    y = pt.dvector("y")
    compile_cache.function([y], [pt.exp(y).sum()])  # a new entry: the store is pruned
    assert used.exists() and not stale.exists() and len(list(store.glob("*.pkl"))) == 2
