"""A model's free variables as one flat vector per draw on PyMC's unconstrained scale, both ways, with the log
Jacobian of the map back (irsynth.moment_matching moves draws there)."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.op import RandomVariable

# the maps are element-wise (log, log-odds): NumPy runs them over all draws at once, with nothing to compile
NUMPY = Mode(linker="py", optimizer="fast_compile")


class Unconstrained:
    """Flat unconstrained draws (draws x d) of `model`'s free variables, in model.free_RVs order, and back."""

    def __init__(self, model: pm.Model):
        point = model.initial_point()
        self.names = [rv.name for rv in model.free_RVs]
        self.shapes = [point[model.rvs_to_values[rv].name].shape for rv in model.free_RVs]
        self.sizes = [int(np.prod(shape)) for shape in self.shapes]
        constrained, unconstrained, forward, backward, log_jacobian = [], [], [], [], []
        for rv, shape in zip(model.free_RVs, self.shapes):
            x = pt.tensor(f"{rv.name}_x", dtype=rv.dtype, shape=(None, *shape))
            u = pt.tensor(f"{rv.name}_u", dtype=rv.dtype, shape=(None, *shape))
            transform = model.rvs_to_transforms.get(rv)
            inputs = rv.owner.inputs
            if transform is None:
                forward.append(x)
                backward.append(u)
                log_jacobian.append(pt.zeros(u.shape[0]))
            else:
                forward.append(transform.forward(x, *inputs))
                backward.append(transform.backward(u, *inputs))
                jacobian = transform.log_jac_det(u, *inputs)
                log_jacobian.append(jacobian.reshape((u.shape[0], -1)).sum(axis=1))
            if any(v.owner is not None and isinstance(v.owner.op, RandomVariable) for v in ancestors([forward[-1]])):
                raise ValueError(f"the transform of {rv.name} depends on another random variable")
            constrained.append(x)
            unconstrained.append(u)
        self._forward = pytensor.function(constrained, forward, mode=NUMPY, on_unused_input="ignore")
        self._backward = pytensor.function(
            unconstrained, [*backward, pt.add(*log_jacobian)], mode=NUMPY, on_unused_input="ignore"
        )

    def flat(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Unconstrained draws x d of constrained `values` (name -> draws x shape)."""
        mapped = self._forward(*(np.asarray(values[name]) for name in self.names))
        return np.concatenate([m.reshape(len(m), -1) for m in mapped], axis=1)

    def values(self, flat: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Constrained values (name -> draws x shape) of unconstrained draws, and the log Jacobian of the map at each
        (log |d constrained / d unconstrained|)."""
        parts = np.split(flat, np.cumsum(self.sizes)[:-1], axis=1)
        *mapped, log_jacobian = self._backward(
            *(part.reshape(len(flat), *shape) for part, shape in zip(parts, self.shapes))
        )
        # C order: the numba-compiled functions these values go to would compile again for strided arrays
        return {name: np.ascontiguousarray(m) for name, m in zip(self.names, mapped)}, np.asarray(log_jacobian)
