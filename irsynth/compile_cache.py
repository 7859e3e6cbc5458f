"""Compiled PyTensor functions kept on disk: a graph is rewritten once per machine, not once per process.

PyTensor rewrites every graph it compiles (2-3 s for the evidence model's log density and gradient), and keeps only
the generated code (numba's and its C caches), so every process rewrote the same graphs again. A compiled function's
maker (its rewritten graph and linker) pickles, and unpickled it is linked without rewriting (its code then comes from
the caches). `function` is `pytensor.function` and `pymc_compile` is `pymc.pytensorf.compile`, each looking the
function up under a key of the graph as given (`graph_description`: every node's op and properties, inner graphs,
types, names, and a hash of every constant's data) and of the compile settings and package versions.

A loaded function reads and writes the caller's shared variables (pm.Data containers), matched by name. Graphs with
random generators or updates, unnamed or ambiguous shared variables, or a mode given as an object compile uncached.
`pymc_compiles_cached()` routes PyMC's compile through `pymc_compile` while it is open (nutpie's model compilation
calls it)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import time
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import numpy as np

from irsynth.provenance import atomic_path

PACKAGES = ("pytensor", "pymc", "numba", "numpy", "nutpie")  # versions the key depends on
FOLDER = "irsynth_functions"  # under PyTensor's compiledir


def _digest(data) -> str:
    array = np.asarray(data)
    if array.dtype == object:
        return "repr:" + repr(data)
    raw = np.ascontiguousarray(array)
    return f"{array.dtype.str}{array.shape}:" + hashlib.sha256(raw.tobytes()).hexdigest()


def graph_description(inputs, outputs) -> str:
    """A text that differs between two graphs wherever their compiled functions could: every node in topological
    order with its op, the op's properties and inner graph, and its inputs; every root as a function input (by
    position), a shared variable (by name) or a constant (by a hash of its data); types and names throughout."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.op import HasInnerGraph
    from pytensor.graph.traversal import io_toposort

    position = {var: i for i, var in enumerate(inputs)}
    ids: dict = {}
    lines: list[str] = []

    def ref(var) -> int:
        if var not in ids:
            if var in position:
                kind = f"input {position[var]}"
            elif isinstance(var, Constant):
                kind = f"constant {_digest(var.data)}"
            elif hasattr(var, "get_value"):
                kind = "shared"
            else:
                kind = "root"
            ids[var] = len(ids)
            lines.append(f"{ids[var]} = {kind} {var.type} {var.name!r}")
        return ids[var]

    for node in io_toposort(inputs, outputs):
        arguments = [ref(var) for var in node.inputs]
        op = node.op
        props = repr(op._props_dict()) if hasattr(op, "_props_dict") else ""
        inner = ""
        if isinstance(op, HasInnerGraph):
            inner = graph_description(op.inner_inputs, op.inner_outputs).replace("\n", "; ")
        for var in node.outputs:
            ids[var] = len(ids)
        results = [(ids[var], str(var.type), var.name) for var in node.outputs]
        lines.append(f"{results} = {type(op).__module__}.{type(op).__qualname__} {op} {props} [{inner}] {arguments}")
    lines.append(f"outputs {[ref(var) for var in outputs]}")
    return "\n".join(lines)


def _shared_by_name(outputs) -> dict | None:
    """The graph's shared variables by name; None where one is a random generator, unnamed or not unique."""
    from pytensor.graph.traversal import graph_inputs
    from pytensor.tensor.random.type import RandomType

    found = {}
    for var in graph_inputs(outputs):
        if not hasattr(var, "get_value"):
            continue
        if isinstance(var.type, RandomType) or not var.name or found.get(var.name, var) is not var:
            return None
        found[var.name] = var
    return found


def _key(kind: str, inputs, outputs, mode, kwargs: dict) -> str:
    import pytensor

    names = ("floatX", "mode", "linker", "optimizer", "optimizer_including", "optimizer_excluding",
             "optimizer_requiring")  # fmt: skip
    settings = {name: str(getattr(pytensor.config, name)) for name in names}
    described = [kind, {p: version(p) for p in PACKAGES}, settings, str(mode), repr(sorted(kwargs.items())),
                 graph_description(inputs, outputs)]  # fmt: skip
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()


def folder() -> Path:
    """Where the compiled functions are kept: beside PyTensor's own compiled code."""
    import pytensor

    return Path(pytensor.config.compiledir) / FOLDER


def _path(key: str) -> Path:
    return folder() / f"{key}.pkl"


def _load(path: Path, shared: dict):
    """The function stored at `path`, reading and writing the containers of `shared`; None if it cannot be. The
    entry's time is set to now: it was used (_prune)."""
    try:
        os.utime(path)
        maker = pickle.loads(path.read_bytes())
        for spec in maker.inputs:
            if spec.implicit:
                original = shared[spec.variable.name]
                if original.type != spec.variable.type:
                    return None
                spec.variable, spec.value = original, original.container
        return maker.create()
    except Exception:  # a stale or damaged entry: compiled again and replaced
        return None


def _store(path: Path, fn) -> None:
    if fn.maker.fgraph.update_mapping:
        return
    try:
        blob = pickle.dumps(fn.maker, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an op that does not pickle: the function stays uncached
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)
    _prune(path.parent)


def _prune(store: Path) -> None:
    """Remove the entries unused for longer than PyTensor keeps its own compiled modules (cmodule__age_thresh_use,
    24 days), so that the store holds the graphs in use, not every graph ever compiled (each data change of the
    evidence model adds one)."""
    import pytensor

    oldest = time.time() - pytensor.config.cmodule__age_thresh_use
    for entry in store.glob("*.pkl"):
        with contextlib.suppress(FileNotFoundError):  # removed by a concurrent prune
            if entry.stat().st_mtime < oldest:
                entry.unlink()


def _cached(kind: str, compile_fn, inputs, outputs, mode, kwargs: dict):
    listed = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
    shared = _shared_by_name(listed)
    inputs_listed = isinstance(inputs, list | tuple)
    plain = inputs_listed and all(not hasattr(var, "variable") for var in [*inputs, *listed])  # no In/Out
    if shared is None or not plain or "updates" in kwargs or not (mode is None or isinstance(mode, str)):
        return compile_fn(inputs, outputs, mode=mode, **kwargs)
    path = _path(_key(kind, list(inputs), listed, mode, kwargs))
    if path.exists() and (fn := _load(path, shared)) is not None:
        return fn
    fn = compile_fn(inputs, outputs, mode=mode, **kwargs)
    _store(path, fn)
    return fn


def function(inputs, outputs, mode=None, **kwargs):
    """`pytensor.function(inputs, outputs, mode=mode, **kwargs)`, from the cache where it was compiled before."""
    import pytensor

    return _cached("pytensor.function", pytensor.function, inputs, outputs, mode, kwargs)


def pymc_compile(inputs, outputs, random_seed=None, mode=None, **kwargs):
    """`pymc.pytensorf.compile`, from the cache where it was compiled before (its rewrites depend on the model's
    check_bounds, part of the key; graphs with random generators, which it reseeds, are never cached)."""
    from pymc import pytensorf
    from pymc.model import modelcontext

    try:
        check_bounds = modelcontext(None).check_bounds
    except TypeError:
        check_bounds = True
    original = PYMC_COMPILE.get("compile", pytensorf.compile)

    def compile_fn(inputs, outputs, mode, **kwargs):
        return original(inputs, outputs, random_seed=random_seed, mode=mode, **kwargs)

    if kwargs.get("return_updates"):
        return compile_fn(inputs, outputs, mode, **kwargs)
    return _cached(f"pymc.compile check_bounds={check_bounds}", compile_fn, inputs, outputs, mode, kwargs)


PYMC_COMPILE: dict = {}  # PyMC's own compile while pymc_compiles_cached() replaces it


@contextmanager
def pymc_compiles_cached():
    """Inside this context, `pymc.pytensorf.compile` (as looked up at call time) is `pymc_compile`."""
    from pymc import pytensorf

    if PYMC_COMPILE:  # nested: already replaced
        yield
        return
    PYMC_COMPILE["compile"] = pytensorf.compile
    pytensorf.compile = pymc_compile
    try:
        yield
    finally:
        pytensorf.compile = PYMC_COMPILE.pop("compile")
