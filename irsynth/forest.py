"""Forest-plot table of the evidence model, per comparison and outcome, on the ratio-of-means scale.

Rows: each arm-level trial's observed effect (95% CI) and its shrunken estimate (posterior of theta_s, 95% CrI);
each meta-analysis' published estimate, converted to a ratio with the model's own measurement map at the posterior
median (SMD: 1 + SMD x CV, MD: 1 + MD / baseline mean); the synthesis (the comparison's effect Delta at the
reference covariates) and its 95% prediction interval for a new trial, Delta + tau eta_new.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from models.evidence import EvidenceData, study_effects

Z = stats.norm.ppf(0.975)


def _interval(draws: np.ndarray) -> dict:
    ratio = np.exp(np.quantile(draws, [0.5, 0.025, 0.975]))
    return {"model_ratio": ratio[0], "model_q0.025": ratio[1], "model_q0.975": ratio[2]}


def _as_ratio(values: np.ndarray, measure: str, cv: float, base: float) -> np.ndarray:
    """Published estimate or CI bound as a ratio of means; NaN where the map leaves the positive axis."""
    ratio = {"ROM": np.exp(values), "SMD": 1 + values * cv}.get(measure, 1 + values / base)
    return np.where(ratio > 0, ratio, np.nan)


def forest_table(trace, data: EvidenceData, seed: int) -> pd.DataFrame:
    post = trace.posterior
    n = post.sizes["chain"] * post.sizes["draw"]
    draws = {name: post[name].values.reshape(n, *post[name].shape[2:]) for name in post.data_vars}
    rng = np.random.default_rng(seed)
    theta = study_effects(trace, data, seed) if len(data.arm_labels) else None
    measures = {code: name for name, code in (("ROM", 0), ("SMD", 1), ("MD", 2))}
    groups = dict.fromkeys(
        [(c, int(o)) for c, o in zip(data.pooled_comparisons, data.pooled_outcome)]
        + [(c, int(o)) for c, o in zip(data.arm_comparisons, data.arm_outcome)]
    )
    rows = []
    for comparison, o in groups:
        ident = {"outcome": data.outcomes[o], "comparison": comparison}
        trials = [
            i for i, (c, oi) in enumerate(zip(data.arm_comparisons, data.arm_outcome)) if (c, oi) == (comparison, o)
        ]
        for i in trials:
            y, se = data.arm_y[i], data.arm_se[i]
            rows.append(
                {
                    **ident,
                    "kind": "trial",
                    "label": data.arm_labels[i].split(":")[0],
                    "published": "",
                    "observed_ratio": np.exp(y),
                    "observed_q0.025": np.exp(y - Z * se),
                    "observed_q0.975": np.exp(y + Z * se),
                    **_interval(theta[:, i]),
                }
            )
        for j, (c, oj) in enumerate(zip(data.pooled_comparisons, data.pooled_outcome)):
            if (c, oj) != (comparison, o):
                continue
            measure, est, se = measures[int(data.pooled_measure[j])], data.pooled_est[j], data.pooled_se[j]
            ratio = _as_ratio(
                np.array([est, est - Z * se, est + Z * se]),
                measure,
                float(np.median(draws["cv"][:, o])),
                float(np.median(draws["base"][:, o])),
            )
            rows.append(
                {
                    **ident,
                    "kind": "meta-analysis",
                    "label": data.pooled_labels[j].split(":")[0],
                    "published": f"{measure} {est:g} [{est - Z * se:.3g}, {est + Z * se:.3g}]",
                    "observed_ratio": ratio[0],
                    "observed_q0.025": ratio[1],
                    "observed_q0.975": ratio[2],
                    "model_ratio": np.nan,
                    "model_q0.025": np.nan,
                    "model_q0.975": np.nan,
                }
            )
        x = (
            data.pooled_x[data.pooled_comparisons.index(comparison)]
            if comparison in data.pooled_comparisons
            else data.arm_x[data.arm_comparisons.index(comparison)]
        )
        delta = draws["d"][:, :, o] @ x
        rows.append({**ident, "kind": "synthesis", "label": "evidence model", "published": "", **_interval(delta)})
        if "tau" in draws:
            new = delta + draws["tau"][:, o] * rng.standard_normal(n)
            rows.append(
                {
                    **ident,
                    "kind": "prediction",
                    "label": "new trial (95% prediction interval)",
                    "published": "",
                    **_interval(new),
                }
            )
    columns = [
        "outcome",
        "comparison",
        "kind",
        "label",
        "published",
        "observed_ratio",
        "observed_q0.025",
        "observed_q0.975",
        "model_ratio",
        "model_q0.025",
        "model_q0.975",
    ]
    return pd.DataFrame(rows, columns=columns)
