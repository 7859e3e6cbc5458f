"""Prior and posterior predictive checks and PSIS-LOO of a PyMC model, with the replicates drawn for all draws at once.

PyMC's sample_prior_predictive and sample_posterior_predictive run the model's forward graph once per draw; with the
evidence model's block-normal likelihoods, whose random generator is Python, that took 13 s for 9,000 draws. Here one
compiled function gives every observed variable's distribution parameters for all draws at once, and the variable's
own random generator (its RandomVariable's `rng_fn`, which broadcasts over leading dimensions) draws one replicate
per draw from them: 0.02 s for 8,000 draws. The prior draws of the free variables come from PyMC
(sample_prior_predictive of the free variables alone, which holds no Python random generator). The pointwise log
likelihood for LOO comes from one call over all draws too (pm.compute_log_likelihood calls its function once per
draw: 1.5 s for 8,000).
"""

from __future__ import annotations

import logging

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from irsynth.draws_function import draws_function, flat_draws


class Replicates:
    """Replicated data of a model's observed variables, one per draw of its free variables (constrained scale)."""

    def __init__(self, model: pm.Model):
        self.free = [rv.name for rv in model.free_RVs]
        self.observed = [rv.name for rv in model.observed_RVs]
        nodes = [model[name].owner for name in self.observed]
        self.ops = [node.op for node in nodes]
        self.counts = [len(node.op.dist_params(node)) for node in nodes]

        def parameters(plain: pm.Model) -> list:
            return [p for name in self.observed for p in plain[name].owner.op.dist_params(plain[name].owner)]

        self._fn, _ = draws_function(model, parameters)

    def __call__(self, draws: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Per observed variable, draws x its shape: one replicate from each draw of `draws` (name -> draws x ...)."""
        parameters = iter(self._fn(*(draws[name] for name in self.free)))
        return {
            name: op.rng_fn(rng, *(next(parameters) for _ in range(count)), None)
            for name, op, count in zip(self.observed, self.ops, self.counts)
        }


def log_likelihood(trace, model: pm.Model) -> xr.DataTree:
    """`trace` with a log_likelihood group: each observed variable's pointwise log density at every posterior draw
    (pm.compute_log_likelihood's values, from one call over all draws where PyMC calls its function once per draw)."""
    observed = [rv.name for rv in model.observed_RVs]
    fn, _ = draws_function(model, lambda plain: plain.logp(vars=[plain[name] for name in observed], sum=False))
    posterior = trace["posterior"]
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    values = fn(*flat_draws(posterior, [rv.name for rv in model.free_RVs]).values())
    group = xr.Dataset({
        name: (("chain", "draw", *(f"{name}_dim_{i}" for i in range(value.ndim - 1))),
               value.reshape(chains, draws, *value.shape[1:]))
        for name, value in zip(observed, values)
    }, coords={dim: posterior.coords[dim] for dim in ("chain", "draw") if dim in posterior.coords})  # fmt: skip
    extended = trace.copy()
    extended["log_likelihood"] = xr.DataTree(group)
    return extended


def predictive_checks(
    trace, model: pm.Model, seed: int, labels: dict | None = None, prior_draws: int = 1000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prior and posterior predictive checks and PSIS-LOO for every observed variable of `model`.

    Returns (per observed element: observed value, 95% prior and posterior predictive intervals, posterior
    predictive p-value P(y_rep <= y), Pareto k of its LOO unit), and (per observed variable: elpd_loo, its SE, p_loo,
    count of k > 0.7). A multivariate variable's LOO unit is a block (its first dimension); `labels[name]` names its
    elements ('' for padding, left out of the table)."""
    labels = labels or {}
    replicates = Replicates(model)
    rng = np.random.default_rng(seed)
    forward = logging.getLogger("pymc.sampling.forward")  # its INFO line lists the variables drawn: not for the log
    level = forward.level
    forward.setLevel(logging.WARNING)
    try:
        prior = pm.sample_prior_predictive(prior_draws, model=model, random_seed=seed, var_names=replicates.free)
    finally:
        forward.setLevel(level)
    y_prior = replicates(flat_draws(prior["prior"], replicates.free), rng)
    y_post = replicates(flat_draws(trace["posterior"], replicates.free), rng)
    loglik = log_likelihood(trace, model)
    rows, loo_rows = [], []
    for name in replicates.observed:
        y = np.asarray(model.rvs_to_values[model[name]].eval())
        prior_q = np.quantile(y_prior[name], [0.025, 0.975], axis=0)
        post_q = np.quantile(y_post[name], [0.025, 0.975], axis=0)
        ppc_p = np.mean(y_post[name] <= y, axis=0)
        loo = az.loo(loglik, var_name=name, pointwise=True)
        k = np.asarray(loo.pareto_k).ravel()
        names = labels.get(name)
        if names is None:
            dims = model.named_vars_to_dims.get(name)
            units = model.coords[dims[0]] if dims else range(y.shape[0])
            names = np.array([f"{name}[{unit}]" for unit in units], dtype=object)
        for index in np.ndindex(y.shape):
            if not names[index]:
                continue
            rows.append({
                "observation": str(names[index]), "observed": float(y[index]),
                "prior_q0.025": float(prior_q[0][index]), "prior_q0.975": float(prior_q[1][index]),
                "posterior_q0.025": float(post_q[0][index]), "posterior_q0.975": float(post_q[1][index]),
                "ppc_p": float(ppc_p[index]), "pareto_k": float(k[index[0]]),
            })  # fmt: skip
        loo_rows.append({"observed": name, "n": len(k), "elpd_loo": float(loo.elpd), "se": float(loo.se),
                         "p_loo": float(loo.p), "pareto_k_over_0.7": int(np.sum(k > 0.7))})  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(loo_rows)
