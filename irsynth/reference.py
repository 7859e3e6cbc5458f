"""Frequentist random-effects reference: REML or DerSimonian-Laird tau^2 (PyMARE), Wald or Knapp-Hartung CI.

For effects y_i with variances v_i and weights w_i = 1/(v_i + tau^2), as in metafor's `rma`:
- mu = sum w_i y_i / sum w_i, se = sqrt(1/sum w_i); CI mu +- z se, or with test="knha"
  se_KH = sqrt(q / sum w_i), q = sum w_i (y_i - mu)^2/(k-1), and t_{k-1} quantiles (Knapp & Hartung 2003);
- prediction interval mu +- crit sqrt(se^2 + tau^2), crit = z, or t_{k-1} under knha (metafor's convention);
- Q = sum (y_i - mu_FE)^2 / v_i; I^2 = 100 tau^2/(tau^2 + s^2) and H^2 = (tau^2 + s^2)/s^2 with the typical
  within-study variance s^2 = (k-1) sum(1/v_i) / ((sum 1/v_i)^2 - sum 1/v_i^2) (Higgins & Thompson 2002).
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.special import chdtrc, ndtri, stdtrit


@contextlib.contextmanager
def _arviz_hidden():
    """Imports in this block see no ArviZ unless it is loaded already: pymare.results imports it (1.5 s) only for
    summaries of Bayesian fits, which this module does not use, and works without it."""
    hide = "arviz" not in sys.modules
    if hide:
        sys.modules["arviz"] = None  # an import of it raises ImportError
    try:
        yield
    finally:
        if hide:
            del sys.modules["arviz"]


with _arviz_hidden():
    import pymare
    from pymare.estimators import DerSimonianLaird, VarianceBasedLikelihoodEstimator

METHODS = ("REML", "DL")


@dataclass(frozen=True)
class RandomEffects:
    method: str
    test: str
    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    Q: float
    Q_p: float
    I2: float
    H2: float


def tau2_estimate(y: np.ndarray, v: np.ndarray, method: str) -> float:
    """Between-study variance by REML or DerSimonian-Laird (PyMARE's estimators)."""
    estimator = VarianceBasedLikelihoodEstimator(method="REML") if method == "REML" else DerSimonianLaird()
    estimator.fit_dataset(pymare.Dataset(y=y, v=v))
    return max(float(np.asarray(estimator.params_["tau2"]).ravel()[0]), 0.0)


def random_effects(y, v, method: str = "REML", test: str = "z", level: float = 0.95) -> RandomEffects:
    """Random-effects summary of effects `y` with sampling variances `v`; test is "z" or "knha"."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if test not in ("z", "knha"):
        raise ValueError("test must be 'z' or 'knha'")
    k = len(y)
    if k < 2:
        raise ValueError("a random-effects model needs at least 2 studies")
    tau2 = tau2_estimate(y, v, method)
    w = 1 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    se = float(np.sqrt(1 / np.sum(w)))
    alpha = 1 - level
    if test == "knha":
        q = float(np.sum(w * (y - mu) ** 2) / (k - 1))
        se = float(np.sqrt(q / np.sum(w)))
        crit = stdtrit(k - 1, 1 - alpha / 2)
    else:
        crit = ndtri(1 - alpha / 2)
    w_fe = 1 / v
    mu_fe = np.sum(w_fe * y) / np.sum(w_fe)
    Q = float(np.sum(w_fe * (y - mu_fe) ** 2))
    s2 = (k - 1) * np.sum(w_fe) / (np.sum(w_fe) ** 2 - np.sum(w_fe**2))
    pi_half = crit * np.sqrt(se**2 + tau2)
    return RandomEffects(
        method=method,
        test=test,
        k=k,
        estimate=mu,
        se=se,
        ci_low=mu - crit * se,
        ci_high=mu + crit * se,
        pi_low=mu - pi_half,
        pi_high=mu + pi_half,
        tau2=tau2,
        Q=Q,
        Q_p=float(chdtrc(k - 1, Q)),
        I2=float(100 * tau2 / (tau2 + s2)),
        H2=float((tau2 + s2) / s2),
    )


def reference_table(effects: pd.DataFrame, methods=METHODS, tests=("z", "knha")) -> pd.DataFrame:
    """Random-effects summaries for every comparison x outcome x basis x measure with >= 2 usable studies.

    Groups with fewer studies are listed with k and the reason no pooled estimate is given.
    """
    usable = effects[effects["usable"]]
    records = []
    for key, group in usable.groupby(["comparison", "outcome", "basis", "measure"], sort=True):
        ident = dict(zip(("comparison", "outcome", "basis", "measure"), key))
        studies = ";".join(group["study_id"])
        if len(group) < 2:
            yi, se = float(group["yi"].iloc[0]), float(np.sqrt(group["vi"].iloc[0]))
            z = ndtri(0.975)
            records.append(
                {
                    **ident,
                    "method": "single study",
                    "test": "z",
                    "k": 1,
                    "estimate": yi,
                    "se": se,
                    "ci_low": yi - z * se,
                    "ci_high": yi + z * se,
                    "studies": studies,
                    "note": "one study: its own estimate, not pooled",
                }
            )
            continue
        for method in methods:
            for test in tests:
                fit = random_effects(group["yi"].to_numpy(), group["vi"].to_numpy(), method, test)
                records.append({**ident, **asdict(fit), "studies": studies, "note": ""})
    return pd.DataFrame.from_records(records)
