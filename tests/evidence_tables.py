"""Small synthetic input tables for the evidence set (arm changes, contrasts, studies, pooled rows), so that tests
build the evidence model's data through the pipeline's own `evidence_data`."""

from __future__ import annotations

import numpy as np
import pandas as pd

POOLED_COLUMNS = ["source_id", "comparison", "outcome", "measure", "analysis", "estimate", "ci_low", "ci_high",
                  "year", "flags", "included_study_ids", "included_studies_complete", "search_date"]  # fmt: skip
Z = 1.959963984540054


def arm(study, name, arm_class, outcome, log_ratio, var, baseline=np.nan, sd=np.nan, n=30, weeks=12):
    """One arm's change row (log end/baseline and its variance; baseline mean/SD for the scale anchors)."""
    return {
        "study_id": study, "arm": name, "arm_class": arm_class, "outcome": outcome, "log_ratio": log_ratio,
        "log_ratio_var": var, "baseline_mean": baseline, "baseline_sd": sd, "end_mean": np.nan, "end_sd": np.nan,
        "unit_known": True, "n": n, "rho_implied": np.nan, "duration_weeks": weeks,
    }  # fmt: skip


def tables(arms: list[dict], comparisons: list[tuple], pooled: list[dict] = (), studies: dict | None = None):
    """(pooled, contrasts, changes, studies) frames. `comparisons`: (study, comparison, treatment arm, comparator
    arm, outcome), each a log ratio of change contrast computed from the two arms."""
    changes = pd.DataFrame(arms)
    key = changes.set_index(["study_id", "arm", "outcome"])
    rows = []
    for study, comparison, t, c, outcome in comparisons:
        yi = key.loc[(study, t, outcome), "log_ratio"] - key.loc[(study, c, outcome), "log_ratio"]
        vi = key.loc[(study, t, outcome), "log_ratio_var"] + key.loc[(study, c, outcome), "log_ratio_var"]
        rows.append({"study_id": study, "comparison": comparison, "outcome": outcome, "basis": "change",
                     "measure": "ROM", "treatment_arm": t, "comparator_arm": c, "yi": yi, "vi": vi,
                     "usable": True})  # fmt: skip
    contrasts = pd.DataFrame(rows, columns=["study_id", "comparison", "outcome", "basis", "measure",
                                            "treatment_arm", "comparator_arm", "yi", "vi", "usable"])  # fmt: skip
    studies = studies or {}
    ids = sorted(set(changes["study_id"]))
    study_table = pd.DataFrame({
        "study_id": ids, "year": [studies.get(s, {}).get("year", 2015) for s in ids],
        "background_advice": [studies.get(s, {}).get("advice", "no") for s in ids],
    })  # fmt: skip
    pooled_rows = [{"flags": "", "included_study_ids": "", "included_studies_complete": "", "search_date": "",
                    "year": 2020, "analysis": "change", **p} for p in pooled]  # fmt: skip
    for p in pooled_rows:
        p.setdefault("ci_low", p["estimate"] - Z * p.pop("se", 0.1))
        p.setdefault("ci_high", 2 * p["estimate"] - p["ci_low"])
    return pd.DataFrame(pooled_rows, columns=POOLED_COLUMNS), contrasts, changes, study_table


def config_for(config: dict, pooled: list[dict] = ()) -> dict:
    """`config` with the evidence set naming exactly the given pooled rows."""
    config["evidence_model"]["pooled"] = [
        {"source_id": p["source_id"], "outcome": p["outcome"], "comparison": p["comparison"]} for p in pooled
    ]
    return config
