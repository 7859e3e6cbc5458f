"""Network meta-analysis stage: arm-level log changes of every usable arm, per outcome, through models.network.

Each study's arms become contrasts against its first arm in treatment order (the reference treatment first);
multi-arm trials keep the covariance of their shared baseline arm. The network's edges, its connected parts and
whether it has a closed loop (without one, consistency cannot be checked) are reported with the fit. A fit that
fails a convergence gate is re-fitted with safer settings (fitting.fit_gated); if it still fails, it is flagged in
its table and the report, not fatal (only the primary evidence model's gates stop the pipeline).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from irsynth.fitting import Sampler, fit_gated, sample_with
from irsynth.gates import gate_verdict
from irsynth.graph import closed_loops, connected_parts, loop_edges
from irsynth.intervals import central_interval
from models.network import build_network, multi_arm_contrasts


def network_studies(changes: pd.DataFrame, outcome: str, reference: str) -> tuple[list[str], list[dict]]:
    arms = changes[(changes["outcome"] == outcome) & changes["log_ratio_var"].notna()]
    classes = sorted(set(arms["arm_class"]), key=lambda c: (c != reference, c))
    index = {c: i for i, c in enumerate(classes)}
    studies = []
    for study, group in arms.groupby("study_id", sort=True):
        group = group.assign(order=group["arm_class"].map(index)).sort_values("order")
        if group["arm_class"].nunique() < 2:
            continue
        y, cov = multi_arm_contrasts(group["log_ratio"].to_numpy(float), group["log_ratio_var"].to_numpy(float))
        studies.append({"name": study, "arms": group["order"].tolist(), "y": y, "cov": cov})
    return classes, studies


SPLIT_COLUMNS = [
    "outcome",
    "comparison",
    "direct_studies",
    "inconsistency_mean",
    "inconsistency_q0.025",
    "inconsistency_q0.975",
    "p_inconsistency_positive",
    "gate",
]


def node_splits(treatments, studies, settings, sampling, outcome) -> tuple[list[dict], list[str]]:
    """Node-split every comparison on a closed loop that has two-arm direct trials."""
    pairs = [(s["arms"][0], a) for s in studies for a in s["arms"][1:]]
    rows, messages = [], []
    for p, q in loop_edges(pairs, len(treatments)):
        direct = [s["name"] for s in studies if len(s["arms"]) == 2 and set(s["arms"]) == {p, q}]
        if not direct:
            continue
        model = build_network(treatments, studies, settings["effect_sd"], settings["tau_scale"], split=(p, q))
        label = f"{treatments[q]} vs {treatments[p]}"
        sample = sample_with(Sampler(model, sampling), sampling["seed"])
        fit = fit_gated(sample, sampling, ["d_free", "tau", "inconsistency"], f"node-split {outcome} {label}")
        messages += fit.failures
        trace = fit.trace
        draws = trace.posterior["inconsistency"].values.ravel()
        interval = central_interval(draws)
        rows.append(
            dict(
                zip(
                    SPLIT_COLUMNS,
                    [
                        outcome,
                        label,
                        ";".join(direct),
                        float(draws.mean()),
                        interval.low,
                        interval.high,
                        float(np.mean(draws > 0)),
                        gate_verdict(fit.failures),
                    ],
                )
            )
        )
    return rows, messages


def fit_networks(changes: pd.DataFrame, settings: dict, sampling: dict):
    """(summary, network description, node-splits, diagnostics, gate messages) for every outcome with a network."""
    summaries, descriptions, splits, diags, messages = [], [], [], [], []
    for outcome in settings["outcomes"]:
        treatments, studies = network_studies(changes, outcome, settings["reference"])
        if not studies:
            descriptions.append(
                {
                    "outcome": outcome,
                    "treatments": ";".join(treatments),
                    "studies": 0,
                    "note": "no study with two usable arms: no network",
                }
            )
            continue
        pairs = [(s["arms"][0], a) for s in studies for a in s["arms"][1:]]
        notes = [] if closed_loops(pairs, len(treatments)) else ["no closed loop: consistency cannot be checked"]
        if connected_parts(pairs, len(treatments)) > 1:
            notes.append("network disconnected: effects of treatments not linked to the reference rest on the prior")
        descriptions.append(
            {
                "outcome": outcome,
                "treatments": ";".join(treatments),
                "studies": len(studies),
                "edges": ";".join(sorted({f"{treatments[a]} vs {treatments[b]}" for a, b in pairs})),
                "connected_parts": connected_parts(pairs, len(treatments)),
                "closed_loop": closed_loops(pairs, len(treatments)),
                "note": "; ".join(notes),
            }
        )
        model = build_network(treatments, studies, settings["effect_sd"], settings["tau_scale"])
        sample = sample_with(Sampler(model, sampling), sampling["seed"])
        fit = fit_gated(sample, sampling, ["d_free", "tau"], f"network {outcome}")
        messages += fit.failures
        diags.append(fit.table.assign(outcome=outcome, **fit.per_fit, **fit.columns, gate=gate_verdict(fit.failures)))
        trace = fit.trace
        rows, split_messages = node_splits(treatments, studies, settings, sampling, outcome)
        splits += rows
        messages += split_messages
        d = trace.posterior["d"]
        for treatment in treatments[1:]:
            draws = d.sel(treatment=treatment).values.ravel()
            ratio = central_interval(draws, exp=True)
            summaries.append(
                {
                    "outcome": outcome,
                    "treatment": treatment,
                    "versus": treatments[0],
                    "log_ratio_mean": float(draws.mean()),
                    "ratio_q0.025": ratio.low,
                    "ratio_q0.5": ratio.median,
                    "ratio_q0.975": ratio.high,
                }
            )
    return (
        pd.DataFrame(summaries),
        pd.DataFrame(descriptions),
        pd.DataFrame(splits, columns=SPLIT_COLUMNS),
        (pd.concat(diags) if diags else pd.DataFrame()),
        messages,
    )
