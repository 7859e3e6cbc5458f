"""Running the evidence model: the primary fit, its refits, and every table the stage writes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irsynth import decision as dl
from irsynth.evidence_set import evidence_data, evidence_table, select_pooled
from irsynth.gates import gate_verdict
from irsynth.refits import cumulative_runs, evidence_years, items_used, sensitivity_runs
from models.evidence_data import CONTRAST, EvidenceData

PARAMETERS = ("d", "d_int", "drift", "beta_advice", "beta", "cv", "base", "rho", "tau", "sigma_drift")


@dataclass
class EvidenceResult:
    """What the evidence stage writes: the primary posterior and its tables."""

    trace: object
    data: EvidenceData
    tables: dict[str, pd.DataFrame]
    headline: dict
    warnings: list[str] = field(default_factory=list)
    log: str = ""


def decision_ranges(data: EvidenceData, changes: pd.DataFrame) -> dict:
    """Longest trial and baseline HOMA-IR range of the arm-level trials used (the decision layer's support)."""
    used = changes[changes["study_id"].isin(data.arm_study)]
    homa = used.loc[used["outcome"] == "homa_ir", "baseline_mean"].dropna()
    return {
        "longest_weeks": float(used["duration_weeks"].max()) if len(used) else 0.0,
        "baseline_homa_ir": (float(homa.min()), float(homa.max())) if len(homa) else (np.nan, np.nan),
    }


def run_evidence_model(
    pooled: pd.DataFrame,
    contrasts: pd.DataFrame,
    changes: pd.DataFrame,
    studies: pd.DataFrame,
    config: dict,
    cache_dir=None,
    fit_label: str = "",
) -> EvidenceResult:
    """Fit the evidence model on the configured evidence set and derive every table the stage writes.

    Each run (primary, sensitivity, cumulative) is sampled by MCMC or, with `cache_dir`, updated from its last MCMC
    fit kept there (irsynth.updating); `fit_label` names this run's MCMC fits for later updates."""
    from irsynth.forest import forest_table
    from irsynth.predictive import predictive_checks
    from irsynth.updating import IncrementalSampler
    from models.evidence import build_evidence_model

    settings, decision = config["evidence_model"], config["decision"]
    sampling = {**config["sampling"], "target_accept": settings["target_accept"]}
    data = evidence_data(pooled, contrasts, changes, studies, config)
    correlation = settings["outcome_correlation"]
    model = build_evidence_model(data, settings["priors"], correlation)
    names = [n for n in PARAMETERS if n in model.named_vars]
    fits = IncrementalSampler(
        model, sampling, settings["update"], cache_dir, names, "evidence model", fit_label, settings["refit_sampling"]
    )
    years = evidence_years(data, select_pooled(pooled, config), studies)
    fits.total = 1 + len(sensitivity_runs(data, config)) + len(cumulative_runs(data, years))
    # the primary posterior is sampled, never a PSIS update: the next-trial stage updates its draws for every
    # simulated trial, and an update's repeated draws and reduced ESS would send most of those to MCMC one by one
    primary = fits.fit("primary", sampling["on_gate_failure"], psis=False)
    trace, warnings = primary.trace, list(primary.failures)
    ranges = decision_ranges(data, changes)

    def headline(fit_trace) -> dict:
        return dl.headline_quantities(fit_trace, decision, settings["regression"], ranges, sampling["seed"])

    def refit(run: str, overrides: dict, on_failure: str) -> tuple[dict, list[str]]:
        """Headline quantities of a run with new pm.Data values, how it was fitted, and the gates it failed."""
        overrides = {k: v for k, v in overrides.items() if k in model.named_vars}
        fit = fits.fit(run, on_failure, fallback_base="primary", **overrides)
        return {**headline(fit.trace), **fit.columns}, fit.failures

    sensitivity = [{"kind": "primary", "run": "primary analysis", **headline(trace), **primary.columns,
                    "gates": _gates(primary.failures)}]  # fmt: skip
    for kind, name, overrides in sensitivity_runs(data, config):
        # a refit under an extreme setting may fail a gate: flagged in its row and the report, never silent
        quantities, failed = refit(name, overrides, "warn")
        warnings += failed
        sensitivity.append({"kind": kind, "run": name, **quantities, "gates": _gates(failed)})

    cumulative = []
    for year, added, overrides in cumulative_runs(data, years):
        # a refit on the early, sparse evidence may fail a gate: it is flagged in its row and the report, not dropped
        quantities, failed = refit(f"evidence up to {year}", overrides, "warn")
        warnings += failed
        cumulative.append({"year": year, "added": "; ".join(added), "items": items_used(data, overrides),
                           **quantities, "gates": _gates(failed)})  # fmt: skip

    checks, loo = predictive_checks(trace, model, sampling["seed"], _observation_labels(data))
    cutoffs = [decision["cutoff"], *decision["alternative_cutoffs"]]
    tables = {
        "diagnostics": primary.diagnostics_table().assign(gate=gate_verdict(primary.failures)),
        "components": dl.component_summary(trace, settings["priors"], decision["meaningful_reduction"]),
        "decision": dl.decision_table(
            trace, decision["profiles"], cutoffs, settings["regression"], ranges, sampling["seed"]
        ),
        "regression": dl.regression_summary(trace, settings["priors"]["regression_sd"]),
        "anchors": dl.scale_anchors(trace, data),
        "evidence_set": evidence_table(data, correlation),
        "checks": checks,
        "loo": loo,
        "sensitivity": pd.DataFrame(sensitivity),
        "cumulative": pd.DataFrame(cumulative),
        "forest": forest_table(trace, data, model, sampling["seed"]),
    }
    used = data.n_contrasts - int(np.sum((data.arm_left_out > 0) & (data.arm_kind == CONTRAST)))
    log = (
        f"evidence model: {len(data.pooled_source)} pooled sources, {used} of {data.n_contrasts} arm contrasts used "
        f"(the others counted inside a pooled source), {data.n_controls} control arms; {len(sensitivity) - 1} "
        f"sensitivity and {len(cumulative)} cumulative runs besides the primary; fits: {fits.summary()} "
        f"({sum(m == 'unchanged' for m in fits.methods.values())} stored fits re-used unchanged); "
        f"primary: {primary.description}"
    )
    headline_json = {
        "longest_trial_weeks": ranges["longest_weeks"],
        "baseline_homa_ir_range": list(ranges["baseline_homa_ir"]),
        "outcome_correlation": correlation,
        "fit": primary.columns,
        "fits": fits.summary(),
    }
    return EvidenceResult(trace, data, tables, headline_json, warnings, log)


def _gates(failures: list[str]) -> str:
    return "; ".join(f.split(": ", 1)[1] for f in failures) or "passed"


def _observation_labels(data: EvidenceData) -> dict[str, np.ndarray]:
    """Per observed variable, a label per element, for the predictive-check table: '' (not in the table) for padding
    and for a contrast left out of the likelihood (counted inside a pooled source: its variance is inflated, so its
    predictive interval would say nothing)."""
    pooled = np.array(
        [[f"{label}, {o}" if p else "" for o, p in zip(data.outcomes, present)]
         for label, present in zip(data.pooled_labels, data.pooled_present)],
        dtype=object,
    )  # fmt: skip
    arms = np.array(
        [
            [f"{study}: {label}" if label and not out else "" for label, out in zip(row, left_out)]
            for study, row, left_out in zip(data.arm_study, data.arm_slot_label, data.arm_left_out)
        ],
        dtype=object,
    )
    return {"pooled_obs": pooled, "arm_obs": arms}
