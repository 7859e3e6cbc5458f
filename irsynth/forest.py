"""Forest-plot table of the evidence model, per comparison and outcome, on the ratio-of-means scale.

Rows: each arm-level trial's observed effect (95% CI) and its shrunken estimate (posterior of theta, 95% CrI);
each meta-analysis' published estimate and CI, carried to a ratio by inverting the model's own measurement map
(models.measurement) at the posterior medians of drift, CV, baseline mean and rho; the synthesis (the comparison's
effect Delta at the reference covariates) and its 95% prediction interval for a new trial, Delta + tau eta_new.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

from irsynth.intervals import central_interval
from models import measurement
from models.evidence_data import CONTRAST, TERMS, EvidenceData

Z = stats.norm.ppf(0.975)
MEASURES = {0: "ROM", 1: "SMD", 2: "MD"}
COLUMNS = ["outcome", "comparison", "kind", "label", "published", "observed_ratio", "observed_q0.025",
           "observed_q0.975", "model_ratio", "model_q0.025", "model_q0.975"]  # fmt: skip


def _interval(draws: np.ndarray) -> dict:
    ratio = central_interval(draws, exp=True)
    return {"model_ratio": ratio.median, "model_q0.025": ratio.low, "model_q0.975": ratio.high}


def as_ratio(values, measure: int, change_weight: float, anchors: dict) -> np.ndarray:
    """Published values carried to ratios of means: the Delta whose expected published value each is (NaN where
    none in ratios 1/20..20 is)."""

    def solve(value):
        def gap(delta):
            return measurement.expected(delta, measure, change_weight, **anchors) - value

        lo, hi = -3.0, 3.0
        return optimize.brentq(gap, lo, hi) if gap(lo) * gap(hi) < 0 else np.nan

    return np.exp([solve(v) for v in values])


def forest_table(trace, data: EvidenceData, model, seed: int) -> pd.DataFrame:
    from models.evidence import study_effects

    post = trace.posterior
    n = post.sizes["chain"] * post.sizes["draw"]
    rng = np.random.default_rng(seed)
    theta = study_effects(trace, data, model, seed) if len(data.arm_study) else None
    effects = np.concatenate([post["d"].values, post["d_int"].values[:, :, None, :]], axis=2).reshape(n, len(TERMS), -1)
    contrast_slots = [(s, k) for s, k in zip(*np.nonzero(data.arm_kind == CONTRAST))]
    groups = dict.fromkeys(
        [(c, o) for c, present in zip(data.pooled_comparison, data.pooled_present) for o in np.flatnonzero(present)]
        + [(data.arm_comparison[s, k], int(data.arm_outcome[s, k])) for s, k in contrast_slots]
    )
    rows = []
    for comparison, o in groups:
        ident = {"outcome": data.outcomes[o], "comparison": comparison}
        x = None
        for s, k in contrast_slots:
            if (data.arm_comparison[s, k], data.arm_outcome[s, k]) != (comparison, o):
                continue
            x = data.arm_x[s, k]
            y, se = data.arm_y[s, k], np.sqrt(data.arm_cov_sampling[s, k, k])
            observed = {"observed_ratio": np.exp(y), "observed_q0.025": np.exp(y - Z * se),
                        "observed_q0.975": np.exp(y + Z * se)}  # fmt: skip
            label = data.arm_study[s] + (" (counted inside a pooled source)" if data.arm_left_out[s, k] else "")
            rows.append({**ident, "kind": "trial", "label": label, "published": "", **observed,
                         **_interval(theta[:, s, k])})  # fmt: skip
        anchors = {name: float(np.median(post[name].values[..., o])) for name in ("drift", "cv", "base", "rho")}
        for j, (c, present) in enumerate(zip(data.pooled_comparison, data.pooled_present)):
            if c != comparison or not present[o]:
                continue
            x = data.pooled_x[j]
            measure, est, se = int(data.pooled_measure[j, o]), data.pooled_est[j, o], data.pooled_se[j, o]
            values = [est, est - Z * se, est + Z * se]
            ratio = as_ratio(values, measure, float(data.pooled_change_weight[j]), anchors)
            basis = "" if measure != 1 else f" ({data.pooled_basis[j]})"
            rows.append({
                **ident, "kind": "meta-analysis", "label": data.pooled_source[j],
                "published": f"{MEASURES[measure]}{basis} {est:g} [{values[1]:.3g}, {values[2]:.3g}]",
                "observed_ratio": ratio[0], "observed_q0.025": ratio[1], "observed_q0.975": ratio[2],
            })  # fmt: skip
        delta = effects[:, :, o] @ x
        rows.append({**ident, "kind": "synthesis", "label": "evidence model", "published": "", **_interval(delta)})
        if "tau" in post:
            new = delta + post["tau"].values[..., o].ravel() * rng.standard_normal(n)
            rows.append({**ident, "kind": "prediction", "label": "new trial (95% prediction interval)",
                         "published": "", **_interval(new)})  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)
