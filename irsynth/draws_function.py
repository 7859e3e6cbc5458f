"""One compiled function of a model over all posterior (or prior) draws at once."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.model.transform.conditioning import remove_value_transforms
from pytensor.graph.replace import vectorize_graph

from irsynth import compile_cache


def flat_draws(dataset, names: list[str]) -> dict[str, np.ndarray]:
    """The draws of `names` in `dataset` (chain x draw x ...), flattened over chains: name -> draws x ..."""
    n = dataset.sizes["chain"] * dataset.sizes["draw"]
    return {name: dataset[name].values.reshape(n, *dataset[name].shape[2:]) for name in names}


def draws_function(model: pm.Model, outputs: Callable[[pm.Model], list]):
    """(compiled function, plain model): the function maps the free variables' draws (in model.free_RVs order, draws
    first, on the constrained scale) to `outputs(plain)` at every draw, where `plain` is `model` without value
    transforms (so a log density has no Jacobian term); its pm.Data are read at each call. Compiled through
    irsynth.compile_cache."""
    plain = remove_value_transforms(model)
    values = [plain.rvs_to_values[plain[rv.name]] for rv in model.free_RVs]
    batched = [pt.tensor(v.name, dtype=v.dtype, shape=(None, *v.type.shape)) for v in values]
    graphs = vectorize_graph(plain.replace_rvs_by_values(outputs(plain)), replace=dict(zip(values, batched)))
    return compile_cache.function(batched, graphs, on_unused_input="ignore"), plain
