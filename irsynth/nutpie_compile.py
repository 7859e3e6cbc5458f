"""A local adapter for nutpie 0.16's numba compilation: its data extraction written out, not unrolled by numba.

nutpie compiles a PyMC model into two numba C callbacks that read the model's `pm.Data` values from a record of
pointers (`user_data`), so that `with_data` re-samples new data without compiling again. Its extraction function
(`nutpie.compile_pymc.make_extraction_fn`) loops over the data containers with `numba.literal_unroll` and rebuilds a
tuple of arrays one item at a time (`tuple_setitem_literal`). numba types the loop body once per container, each
time with the whole tuple's type: for the evidence model (34 `pm.Data` containers) the logp callback took about 31 s
of the 35 s of `compile_pymc_model` in every process, although the PyMC graph itself comes from PyTensor's numba
cache (measured in bench/compile_benchmark.py).

`extraction_fn` is the same function written out as straight-line source, one statement per container, so numba
types each once, and each array is made in its shape by `numba.carray` (no reshape). It reads the same record fields
and passes the same arrays (C-contiguous, of the stored shape and dtype) to the same compiled PyTensor function, so
the sampler sees the same log density and, with the same seed, gives the same draws (tests/test_nutpie_compile.py).
`install()` puts it in nutpie's module, where nutpie's own functions look it up, for the nutpie versions it was
written against; elsewhere nutpie's own is used. The evidence model's compilation: 35 s -> 13 s per process.
"""

from __future__ import annotations

import numpy as np

SUPPORTED = ("0.16.",)  # nutpie versions whose make_extraction_fn this replaces
NUTPIE_EXTRACTION_FN = None  # nutpie's own, once install() replaced it


def extraction_fn(inner, shared_data: dict, shared_var_keys: list[str], record_dtype):
    """A numba function (x, user_data pointer) -> inner(x, *data arrays), as nutpie's make_extraction_fn."""
    import numba
    from nutpie import compile_pymc

    namespace = {"numba": numba, "inner": inner, "record_dtype": record_dtype,
                 "as_pointer": compile_pymc.address_as_void_pointer}  # fmt: skip
    lines = [
        "def extract(x, user_data_):",
        "    shared = numba.carray(user_data_, (), record_dtype)['shared']",
    ]
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


def install() -> bool:
    """Use `extraction_fn` in nutpie's compilation where nutpie's version is one it was written for; whether it is."""
    import nutpie
    from nutpie import compile_pymc

    global NUTPIE_EXTRACTION_FN
    if not nutpie.__version__.startswith(SUPPORTED) or not hasattr(compile_pymc, "make_extraction_fn"):
        return False
    if compile_pymc.make_extraction_fn is not extraction_fn:
        NUTPIE_EXTRACTION_FN, compile_pymc.make_extraction_fn = compile_pymc.make_extraction_fn, extraction_fn
    return True
