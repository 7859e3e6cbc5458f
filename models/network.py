"""Random-effects network meta-analysis of arm-level contrasts, with multi-arm trials (Lu & Ades 2004 model).

Treatments t = 0..T-1, t = 0 the reference; basic parameters d[0] = 0, d[t] ~ Normal(0, effect_sd).
A study s with baseline arm b and further arms a_1..a_m reports m contrasts y_s (arm a_k minus arm b, log ratio of
change) with sampling covariance S_s (variances of the contrasts on the diagonal; the variance of the shared
baseline arm off the diagonal). Under consistency, with study-specific effects integrated out:

    y_s ~ MvNormal(d[a_k] - d[b] for k = 1..m,  S_s + tau^2 (I + J) / 2),    tau ~ HalfNormal(tau_scale)

(I + J)/2 gives every contrast variance tau^2 and every pair of contrasts of one trial covariance tau^2 / 2.
Studies are grouped by their number of contrasts m, and each group is one batched MvNormal.

Node-splitting (Dias et al. 2010) of a comparison (p, q): the two-arm trials of p vs q get their own direct effect
d_direct ~ Normal(0, effect_sd) instead of d[q] - d[p]; every other trial keeps the consistency model, so d[q] - d[p]
is then informed by indirect evidence only, and `inconsistency` = d_direct - (d[q] - d[p]). Multi-arm trials that
contain p and q stay in the consistency part.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt


def build_network(
    treatments: list[str], studies: list[dict], effect_sd: float, tau_scale: float, split: tuple[int, int] | None = None
) -> pm.Model:
    """`studies`: dicts with `name`, `arms` (treatment indices, baseline first), `y` (m contrasts), `cov` (m x m).
    `split` = (p, q) node-splits that comparison."""
    with pm.Model(coords={"treatment": treatments, "versus_reference": treatments[1:]}) as model:
        d_free = pm.Normal("d_free", 0.0, effect_sd, dims="versus_reference")
        d = pm.Deterministic("d", pt.concatenate([pt.zeros(1), d_free]), dims="treatment")
        tau = pm.HalfNormal("tau", tau_scale)
        if split is not None:
            p, q = split
            d_direct = pm.Normal("d_direct", 0.0, effect_sd)
            pm.Deterministic("inconsistency", d_direct - (d[q] - d[p]))
        by_size: dict[int, list[dict]] = {}
        for study in studies:
            by_size.setdefault(len(study["y"]), []).append(study)
        for m, group in sorted(by_size.items()):
            arms = np.array([s["arms"] for s in group])  # (n, m + 1)
            mean = d[arms[:, 1:]] - d[arms[:, :1]]  # (n, m)
            if split is not None and m == 1:
                direct = np.isin(arms, split).all(axis=1)
                sign = np.where(arms[:, 0] == split[0], 1.0, -1.0)
                mean = pt.where(direct[:, None], (sign * d_direct)[:, None], mean)
            shape = (np.eye(m) + np.ones((m, m))) / 2
            cov = np.array([s["cov"] for s in group]) + tau**2 * shape  # (n, m, m)
            y = pm.Data(f"y_{m + 1}arm", np.array([s["y"] for s in group]))
            if m == 1:
                pm.Normal(f"obs_{m + 1}arm", mean[:, 0], pt.sqrt(cov[:, 0, 0]), observed=y[:, 0])
            else:
                pm.MvNormal(f"obs_{m + 1}arm", mu=mean, cov=cov, observed=y)
    return model


def multi_arm_contrasts(arm_means: np.ndarray, arm_vars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contrasts of arms 1..m against arm 0 and their covariance (shared baseline arm variance off the diagonal)."""
    y = arm_means[1:] - arm_means[0]
    cov = np.full((len(y), len(y)), arm_vars[0]) + np.diag(arm_vars[1:])
    return y, cov
