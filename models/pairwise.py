"""Pairwise random-effects meta-analysis, non-centred.

    y_i     ~ Normal(theta_i, se_i)            observed effect of study i with its standard error
    theta_i = mu + tau * z_i,   z_i ~ Normal(0, 1)
    mu      ~ Normal(m0, s0)
    tau     ~ tau prior (models.priors: half-normal, half-Cauchy, log-normal or log-t on tau^2)
    theta_new = mu + tau * z_new, z_new ~ Normal(0, 1)   effect in a new study (non-centred too)

`y` and `se` are `pm.Data`, so one compiled model serves every comparison with the same number of studies.
"""

from __future__ import annotations

import numpy as np
import pymc as pm

from models.priors import pymc_tau


def build_pairwise(y, se, studies, mu_prior: dict, tau_prior: dict) -> pm.Model:
    coords = {"study": list(studies)}
    with pm.Model(coords=coords) as model:
        y_obs = pm.Data("y_obs", np.asarray(y, float), dims="study")
        se_obs = pm.Data("se_obs", np.asarray(se, float), dims="study")
        mu = pm.Normal("mu", mu=mu_prior["mean"], sigma=mu_prior["sd"])
        tau = pymc_tau("tau", tau_prior)
        z = pm.Normal("z", 0.0, 1.0, dims="study")
        theta = pm.Deterministic("theta", mu + tau * z, dims="study")
        pm.Normal("y", mu=theta, sigma=se_obs, observed=y_obs, dims="study")
        z_new = pm.Normal("z_new", 0.0, 1.0)
        pm.Deterministic("theta_new", mu + tau * z_new)
    return model
