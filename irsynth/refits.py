"""The evidence model's refits: sensitivity analyses, leave-one-out and the cumulative meta-analysis by year.

Each refit is a set of pm.Data overrides of the one compiled model: prior scales, the outcome correlation, the
basis of unstated SMDs, the prior of rho, and `*_left_out` masks (an observation left out gets variance 1e12).
Leaving out a trial removes all of its observations, including its scale anchors (CV, baseline mean, rho).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.evidence_data import EvidenceData

# rho's prior when a sensitivity run fixes it near a value
RHO_FIXED_CONCENTRATION = 200.0


def sensitivity_runs(data: EvidenceData, config: dict) -> list[tuple[str, str, dict]]:
    """(kind, name, pm.Data overrides) of every sensitivity refit."""
    settings = config["evidence_model"]
    sensitivity = settings["sensitivity"]
    runs = []
    for overrides in settings["prior_sensitivity"]:
        name = ", ".join(f"{k} = {v:g}" for k, v in overrides.items())
        runs.append(("prior", name, {k: float(v) for k, v in overrides.items()}))
    for value in sensitivity["outcome_correlation"]:
        runs.append(("outcome correlation", f"correlation of the two outcomes = {value:g}",
                     {"outcome_correlation": float(value)}))  # fmt: skip
    unknown = np.array([b == "unknown" for b in data.pooled_basis])
    if unknown.any():
        for basis, weight in (("change scores", 1.0), ("end values", 0.0)):
            runs.append(("SMD basis", f"unstated SMD bases read as {basis}",
                         {"pooled_change_weight": np.where(unknown, weight, data.pooled_change_weight)}))  # fmt: skip
    for rho in sensitivity["rho"]:
        runs.append(("rho", f"baseline-end correlation rho near {rho:g}",
                     {"rho_mean": float(rho), "rho_concentration": RHO_FIXED_CONCENTRATION}))  # fmt: skip
    possible = np.array([[str(s).startswith("possible") for s in row] for row in data.arm_overlap], bool)
    if possible.any():
        primary_pooled = settings["overlap"]["primary"] == "pooled"
        name = (
            "trials possibly inside a pooled source also counted on their own"
            if primary_pooled
            else ("trials possibly inside a pooled source counted only there")
        )
        arms = np.where(possible, 0.0 if primary_pooled else 1.0, data.arm_left_out)
        runs.append(("overlap", name, {"arm_left_out": arms}))
    for flag in settings["sensitivity_exclude_flags"]:
        mask = np.array([flag in flags.split(";") for flags in data.pooled_flags], float)
        if mask.any():
            runs.append(("exclude flagged", f"without pooled rows flagged {flag}", data.left_out(pooled=mask)))
    for source in dict.fromkeys(data.pooled_source):
        mask = np.array([s == source for s in data.pooled_source], float)
        runs.append(("leave one out", f"without {source}", data.left_out(pooled=mask)))
    for study in data.arm_study:
        runs.append(("leave one out", f"without {study}", data.left_out(studies=[study])))
    return runs


def evidence_years(data: EvidenceData, pooled: pd.DataFrame, studies: pd.DataFrame) -> dict[str, dict]:
    """Publication year of each pooled source and each trial (NaN where unknown)."""
    study_year = dict(zip(studies["study_id"], pd.to_numeric(studies["year"], errors="coerce")))
    source_year = dict(zip(pooled["source_id"], pd.to_numeric(pooled["year"], errors="coerce")))
    return {
        "pooled": {s: float(source_year.get(s, np.nan)) for s in data.pooled_source},
        "studies": {
            s: float(study_year.get(s, np.nan))
            for s in {*data.arm_study, *data.cv_study, *data.base_study, *data.rho_study}
        },
    }


def cumulative_runs(data: EvidenceData, years: dict[str, dict]) -> list[tuple[int, list[str], dict]]:
    """(year, evidence first published that year, pm.Data overrides) of a cumulative meta-analysis: for each year in
    which evidence appeared, the evidence published up to then (items of unknown year count from the start)."""
    every = {**years["pooled"], **years["studies"]}
    runs = []
    for year in sorted({int(y) for y in every.values() if np.isfinite(y)}):
        pooled = np.array([years["pooled"][s] > year for s in data.pooled_source], float)
        later = [s for s, y in years["studies"].items() if np.isfinite(y) and y > year]
        added = sorted(s for s, y in every.items() if y == year)
        runs.append((year, added, data.left_out(pooled=pooled, studies=later)))
    return runs


def items_used(data: EvidenceData, overrides: dict) -> int:
    """Number of pooled blocks and arm-level slots a run uses."""
    pooled = overrides.get("pooled_left_out", data.pooled_left_out)
    arms = overrides.get("arm_left_out", data.arm_left_out)
    return int(np.sum(pooled == 0) + np.sum((arms == 0) & (data.arm_kind != 0)))
