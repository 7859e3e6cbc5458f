"""A local adapter for nutpie 0.16's numba compilation: its C callbacks cached on disk, its data extraction written
out.

nutpie compiles a PyMC model into two numba C callbacks (log density with gradient, and the expansion to stored
variables) that read the model's `pm.Data` values from a record of pointers (`user_data`), so that `with_data`
re-samples new data without compiling again. Two costs made this 35 s per process for the evidence model, although
PyTensor's own numba functions come from its on-disk cache (measured in bench/compile_benchmark.py):

- Its extraction function (`make_extraction_fn`) loops over the data containers with `numba.literal_unroll` and
  rebuilds a tuple one item at a time; numba types the loop body once per container (34 in the evidence model).
  `extraction_fn` is the same function written out as straight-line source, one `numba.carray` per container.
- The callbacks are closures over per-process objects, so `numba.cfunc(cache=True)` never finds them again, and
  LLVM re-generates the whole linked module (PyTensor's function included) in every process. `c_logp_func` and
  `c_expand_func` make nutpie's two callbacks from source instead, with the same bodies, and register them with
  PyTensor's numba cache locator under a key of everything compiled into them: PyTensor's cache key of the inner
  function, the dimensions, and the positional layout of the data record (its field names are random per process;
  the compiled code reads fields by offset and shapes at run time, so data of new sizes re-use the callback).

`compile_pymc_model` is `nutpie.compile_pymc_model` with both, for the nutpie versions they were written against
(elsewhere nutpie's own functions are used), falling back to an uncached compilation where PyTensor gives the model's
function no cache key. The sampler sees the same log density and, with the same seed, gives the same draws
(tests/test_nutpie_compile.py). PyMC's compile of the two inner functions goes through irsynth.compile_cache, so
their rewritten graphs are loaded too. The evidence model: 35 s per process, then 13.5 s with the extraction written
out, 4.4 s once its callbacks were in the cache, and 2.9 s with the rewritten graphs loaded (the rest: building the
log density and its gradient, linking, loading the compiled code).
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar

import numpy as np

SUPPORTED = ("0.16.",)  # nutpie versions whose callbacks this replaces
REPLACED = ("_make_c_logp_func", "_make_c_expand_func")  # nutpie's functions that install() replaces
NUTPIE_FUNCTIONS: dict = {}  # nutpie's own, once install() replaced them

# nutpie 0.16's two C callbacks (compile_pymc._make_c_logp_func and _make_c_expand_func), their bodies unchanged
LOGP_SOURCE = """
def logp_numba(dim, x_, out_, logp_, user_data_):
    if dim != n_dim:
        return -1
    try:
        x = numba.carray(x_, (n_dim,))
        out = numba.carray(out_, (n_dim,))
        logp = numba.carray(logp_, ())
        logp_val, grad = extract(x, user_data_)
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""
EXPAND_SOURCE = """
def expand_numba(dim, expanded, x_, out_, user_data_):
    if dim != n_dim:
        return -1
    if expanded != n_expanded:
        return -1
    try:
        x = numba.carray(x_, (n_dim,))
        out = numba.carray(out_, (n_expanded,))
        (values,) = extract(x, user_data_)
        out[...] = values
    except Exception:
        return -2
    return 0
"""

_CACHING = ContextVar("irsynth_nutpie_caching", default=False)  # whether the callbacks being made are cached


class _Uncacheable(Exception):
    """PyTensor gave the model's inner function no cache key, so its callbacks cannot be cached."""


def extraction_fn(inner, shared_data: dict, shared_var_keys: list[str], record_dtype):
    """A numba function (x, user_data pointer) -> inner(x, *data arrays), as nutpie's make_extraction_fn."""
    import numba
    from nutpie import compile_pymc

    namespace = {"numba": numba, "inner": inner, "record_dtype": record_dtype,
                 "as_pointer": compile_pymc.address_as_void_pointer}  # fmt: skip
    lines = ["def extract(x, user_data_):"]
    if shared_var_keys:
        lines.append("    shared = numba.carray(user_data_, (), record_dtype)['shared']")
    arrays = []
    for i, key in enumerate(shared_var_keys):
        array = shared_data[key]
        namespace[f"dtype_{i}"] = np.dtype(array.dtype)
        shape = "".join(f"int(shared['shape'][{key!r}][{d}]), " for d in range(array.ndim))
        lines.append(f"    array_{i} = numba.carray(as_pointer(shared['data'][{key!r}][()]), ({shape}), dtype_{i})")
        arrays.append(f"array_{i}")
    lines.append(f"    return inner(x, {', '.join(arrays)})")
    exec(compile("\n".join(lines), "<irsynth.nutpie_compile extraction>", "exec"), namespace)
    return numba.njit(inline="always")(namespace["extract"])


def record_layout(record_dtype, shared_data: dict, shared_var_keys: list[str]) -> list:
    """What the compiled extraction depends on in the data record, by position (its field names are random): the
    rank of each field, and for each argument of the inner function its field's position, dtype and rank."""
    fields = list(record_dtype["shared"]["data"].names)
    ranks = [len(record_dtype["shared"]["shape"][field].shape) for field in fields]
    arguments = [(fields.index(key), shared_data[key].dtype.str, shared_data[key].ndim) for key in shared_var_keys]
    return [ranks, arguments]


def pytensor_cache_key(function) -> str | None:
    """PyTensor's numba cache key of a function it compiled, if it gave it one."""
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    return CACHED_SRC_FUNCTIONS.get(function.py_func)


def _callback(name: str, source: str, inner, sizes: dict, user_data, shared_var_keys, shared_data):
    """nutpie's C callback `name` as a function made from `source`; while caching, registered with PyTensor's numba
    cache locator under a key of everything compiled into it."""
    import numba
    import nutpie
    from pytensor.link.numba.cache import compile_numba_function_src

    extract = extraction_fn(inner, shared_data, shared_var_keys, user_data.dtype)
    # the module numba re-imports for the function's globals when it loads the callback from its cache
    env = {"__name__": __name__, "numba": numba, "np": np, "extract": extract, **sizes}
    key = None
    if _CACHING.get():
        inner_key = pytensor_cache_key(inner)
        if inner_key is None:
            raise _Uncacheable(name)
        layout = record_layout(user_data.dtype, shared_data, shared_var_keys)
        described = [__name__, nutpie.__version__, source, inner_key, {k: int(v) for k, v in sizes.items()}, layout]
        key = hashlib.sha256(json.dumps(described).encode()).hexdigest()
    return compile_numba_function_src(source, name, global_env=env, cache_key=key)


def c_logp_func(n_dim, logp_fn, user_data, shared_keys, shared_data):
    """nutpie's _make_c_logp_func: the log-density callback and its C signature."""
    import numba

    c_sig = numba.types.int64(
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )
    return _callback("logp_numba", LOGP_SOURCE, logp_fn, {"n_dim": n_dim}, user_data, shared_keys, shared_data), c_sig


def c_expand_func(n_dim, n_expanded, expand_fn, user_data, shared_var_keys, shared_data):
    """nutpie's _make_c_expand_func: the expansion callback and its C signature."""
    import numba

    c_sig = numba.types.int64(
        numba.types.uint64,
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )
    sizes = {"n_dim": n_dim, "n_expanded": n_expanded}
    return _callback("expand_numba", EXPAND_SOURCE, expand_fn, sizes, user_data, shared_var_keys, shared_data), c_sig


def install() -> bool:
    """Use this module's callbacks in nutpie's compilation where nutpie's version is one they were written for;
    whether it is."""
    import nutpie
    from nutpie import compile_pymc

    if not nutpie.__version__.startswith(SUPPORTED) or not all(hasattr(compile_pymc, name) for name in REPLACED):
        return False
    for name, ours in zip(REPLACED, (c_logp_func, c_expand_func)):
        if getattr(compile_pymc, name) is not ours:
            NUTPIE_FUNCTIONS[name] = getattr(compile_pymc, name)
            setattr(compile_pymc, name, ours)
    return True


def compile_pymc_model(model, **kwargs):
    """`nutpie.compile_pymc_model(model, **kwargs)`, with its callbacks cached on disk where this adapter applies."""
    import nutpie
    from pytensor import config

    from irsynth.compile_cache import pymc_compiles_cached

    with pymc_compiles_cached():
        if install() and config.numba__cache:
            caching = _CACHING.set(True)
            try:
                return nutpie.compile_pymc_model(model, cache=True, **kwargs)
            except _Uncacheable:
                pass
            finally:
                _CACHING.reset(caching)
        return nutpie.compile_pymc_model(model, **kwargs)
