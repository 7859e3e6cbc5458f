"""Small-study effects: Egger's regression test for funnel-plot asymmetry (Egger et al. 1997).

Classical form, as metafor's `regtest(model="lm", predictor="sei")`: weighted least squares of y_i on
sei_i = sqrt(v_i) with weights 1/v_i and a multiplicative dispersion (statsmodels WLS), i.e. the OLS of the
standard normal deviate y_i/sei_i on the precision 1/sei_i. The test is on the coefficient of sei (the
intercept of the deviate-on-precision form), t with k - 2 df; the intercept is the limit estimate as sei -> 0.
Below `min_studies` (default 10) no test is run: it has too little power (Cochrane Handbook, chapter 13).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import WLS

from irsynth.effects import usable_effects


def _check(yi, vi) -> tuple[np.ndarray, np.ndarray]:
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    if yi.ndim != 1 or yi.shape != vi.shape:
        raise ValueError(f"yi and vi must be 1-D and of equal length (got {yi.shape} and {vi.shape})")
    if not np.all(np.isfinite(yi)):
        raise ValueError("yi must be finite")
    if not np.all(np.isfinite(vi) & (vi > 0)):
        raise ValueError("vi must be finite and > 0")
    return yi, vi


def egger_test(yi, vi) -> dict:
    """Egger's test of effects `yi` with sampling variances `vi`: asymmetry (slope on sei), t, df, p, limit estimate."""
    yi, vi = _check(yi, vi)
    k = len(yi)
    if k < 3:
        raise ValueError(f"Egger's test needs at least 3 studies (k = {k})")
    if np.ptp(vi) == 0:
        raise ValueError("Egger's test needs studies with differing standard errors")
    sei = np.sqrt(vi)
    fit = WLS(yi, np.column_stack([np.ones(k), sei]), weights=1 / vi).fit()
    ci_low, ci_high = fit.conf_int(alpha=0.05)[0]
    return {
        "k": k,
        "asymmetry": float(fit.params[1]),
        "asymmetry_se": float(fit.bse[1]),
        "t": float(fit.tvalues[1]),
        "df": int(fit.df_resid),
        "p": float(fit.pvalues[1]),
        "limit": float(fit.params[0]),
        "limit_se": float(fit.bse[0]),
        "limit_ci_low": float(ci_low),
        "limit_ci_high": float(ci_high),
    }


def small_study_assessment(yi, vi, min_studies: int = 10) -> dict:
    """Egger's test with a plain-English `statement`, or only k and the statement when k < `min_studies`."""
    yi, vi = _check(yi, vi)
    k = len(yi)
    if k < min_studies:
        return {
            "k": k,
            "tested": False,
            "statement": f"Too few studies (k = {k}) for a small-study test: Egger's test needs at least "
            f"{min_studies} (Cochrane Handbook, chapter 13).",
        }
    res = egger_test(yi, vi)
    p = "p < 0.0001" if res["p"] < 1e-4 else f"p = {res['p']:.4f}"
    return {
        **res,
        "tested": True,
        "statement": f"Egger's test for funnel-plot asymmetry (k = {k}): t = {res['t']:.2f}, df = {res['df']}, {p}; "
        f"limit estimate as SE -> 0: {res['limit']:.4f} "
        f"(95% CI {res['limit_ci_low']:.4f} to {res['limit_ci_high']:.4f}).",
    }


def small_study_table(contrasts: pd.DataFrame, min_studies: int) -> pd.DataFrame:
    """Per comparison and outcome of the usable change-score log ratios: k, the Egger test where k allows, a
    statement."""
    rows = []
    for (comparison, outcome), group in usable_effects(contrasts).groupby(["comparison", "outcome"]):
        result = small_study_assessment(group["yi"], group["vi"], min_studies)
        rows.append(
            {
                "comparison": comparison,
                "outcome": outcome,
                "k": result["k"],
                "p": result.get("p", np.nan),
                "statement": result["statement"],
            }
        )
    return pd.DataFrame(rows, columns=["comparison", "outcome", "k", "p", "statement"])
