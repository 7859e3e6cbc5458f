"""The self-contained HTML research report, built from the pipeline's result files.

Figures are inline SVG (irsynth.figures); every text that comes from data is escaped by Jinja2's autoescaping;
nothing is loaded from the network when the page is viewed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from jinja2 import Environment, FileSystemLoader, select_autoescape

from irsynth import figures
from irsynth.csvfile import read_effects, read_result, text_columns
from irsynth.decision import prior_sd
from irsynth.effects import usable_effects
from irsynth.gates import PASSED
from irsynth.vocab import label

TEMPLATES = Path(__file__).resolve().parent.parent / "workflow" / "report"

# The tables the report reads, by the names the report rule gives its inputs (workflow/rules/report.smk).
INPUTS = (
    "headline",
    "components",
    "decision",
    "sensitivity",
    "forest",
    "cumulative",
    "posterior",
    "regression",
    "loo",
    "checks",
    "evidence_set",
    "anchors",
    "evidence_diagnostics",
    "pairwise_diagnostics",
    "network",
    "node_split",
    "network_diagnostics",
    "small_study",
    "arms",
    "pooled",
    "studies",
    "arm_values",
    "contrasts",
)
# the next-trial stage's tables (workflow/rules/next_trial.smk); the section says so when they are not given
NEXT_TRIAL_INPUTS = ("next_trial_summary", "next_trial_funnel")


def build_report(
    inputs: Mapping[str, Path], config: dict, command: str, changes: dict | None = None, built: str = ""
) -> str:
    """The report's HTML from the tables named in `inputs` (every name in INPUTS); `changes` is
    history.what_changed against the previous run."""
    missing = [name for name in INPUTS if name not in inputs]
    if missing:
        raise KeyError(f"the report needs these inputs too: {', '.join(missing)}")
    next_trial = (
        next_trial_section(Path(inputs["next_trial_summary"]), Path(inputs["next_trial_funnel"]), inputs, config)
        if all(name in inputs for name in NEXT_TRIAL_INPUTS)
        else None
    )
    inputs = {name: Path(inputs[name]) for name in INPUTS}
    headline = json.loads(inputs["headline"].read_text())
    components = read_result(inputs["components"])
    decision = read_result(inputs["decision"])
    sensitivity = read_result(inputs["sensitivity"])
    arms = text_columns(read_result(inputs["arms"]))
    pooled = text_columns(read_result(inputs["pooled"]))
    values = read_result(inputs["arm_values"])
    contrasts = read_effects(inputs["contrasts"])
    evidence_set = text_columns(read_result(inputs["evidence_set"]))
    anchors = text_columns(read_result(inputs["anchors"]))
    pooled["used"] = pooled_use(pooled, evidence_set)

    cutoff = config["decision"]["cutoff"]
    priors = config["evidence_model"]["priors"]
    forest = read_result(inputs["forest"])
    cumulative = read_result(inputs["cumulative"])
    trace = xr.load_datatree(inputs["posterior"])
    small_study = text_columns(read_result(inputs["small_study"]))
    diagnostics = {name: read_result(inputs[f"{name}_diagnostics"]) for name in ("evidence", "pairwise", "network")}
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters["num"] = lambda x, d=2: "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{d}f}"
    env.filters["label"] = label
    return env.get_template("report.html.j2").render(
        headline=headline,
        effect=components.set_index(["component", "outcome"]),
        decision=decision,
        sensitivity=sensitivity,
        cutoff=cutoff,
        meaningful=config["decision"]["meaningful_reduction"],
        coi=sensitivity[sensitivity["run"].str.contains("coi_manufacturer")],
        first_profile=config["decision"]["profiles"][0],
        figures={
            "decision": figures.decision_figure(decision, cutoff),
            "forest": {o: figures.forest_figure(forest, o) for o in dict.fromkeys(forest["outcome"])},
            "components": figures.component_figure(components, prior_sd(priors)),
            "densities": figures.density_figure(trace, priors),
            "graph": figures.evidence_graph(forest, config["comparisons"]),
            "regression": figures.regression_figure(trace, config["evidence_model"]["regression"], priors),
            "cumulative": figures.cumulative_figure(cumulative) if len(cumulative) else "",
            "funnels": funnels(contrasts, small_study, config["report"]["funnel_min_studies"]),
        },
        small_study=small_study,
        gates=config["sampling"]["gates"],
        update=config["evidence_model"]["update"],
        arms=arms.merge(values[["data_line", "usable", "reason", "derivation"]], on="data_line", how="left"),
        pooled=pooled,
        studies=study_table(text_columns(read_result(inputs["studies"])), arms, evidence_set),
        diagnostics=diagnostic_rows(diagnostics, config["sampling"]["gates"]),
        command=command,
        regression=read_result(inputs["regression"]),
        evidence_set=evidence_set,
        anchors=anchors,
        patient_sd=anchors.set_index(["quantity", "outcome"]).loc[("patient_sd_log", "homa_ir")],
        network=read_result(inputs["network"]),
        node_split=read_result(inputs["node_split"]),
        loo=read_result(inputs["loo"]),
        checks=read_result(inputs["checks"]),
        built=built or now(),
        changes=changes,
        cumulative=cumulative,
        next_trial=next_trial,
    )


POOLED_KEY = ("source_id", "outcome", "comparison", "analysis")


def pooled_use(pooled: pd.DataFrame, evidence_set: pd.DataFrame) -> list[str]:
    """For each row of pooled.csv whether the evidence model used it, from its evidence set (evidence_set.csv)."""
    used = evidence_set[evidence_set["kind"] == "pooled"]
    chosen = set(map(tuple, used[list(POOLED_KEY)].astype(str).to_numpy()))
    return ["yes" if tuple(row) in chosen else "no" for row in pooled[list(POOLED_KEY)].astype(str).to_numpy()]


PER_PARAMETER = ["parameter", "r_hat", "ess_bulk", "ess_tail"]


def diagnostic_rows(diagnostics: dict[str, pd.DataFrame], gates: dict) -> list[dict]:
    """One row per model for the diagnostics table: worst R-hat, ESS, divergences and E-BFMI over its fits, the
    gates' verdict from the table's `gate` column, and how many fits passed only after a retry with safer settings
    (the `attempt` column; a fit is a distinct combination of the per-fit columns)."""
    rows = []
    for name, table in diagnostics.items():
        if not len(table):
            rows.append({"model": name, "fitted": False})
            continue
        if "gate" not in table.columns:
            raise ValueError(f"the {name} diagnostics table has no gate column")
        failures = list(dict.fromkeys(v for v in table["gate"].astype(str) if v != PASSED))
        fits = table.drop(columns=PER_PARAMETER, errors="ignore").drop_duplicates()
        retried = fits[(fits["gate"] == PASSED) & (fits["attempt"] > 1)] if "attempt" in fits else fits.iloc[:0]
        rows.append(
            {
                "model": name,
                "fitted": True,
                "fits": len(fits),
                "retried": len(retried),
                "parameters": len(table),
                "r_hat_max": table["r_hat"].max(),
                "ess_bulk_min": table["ess_bulk"].min(),
                "ess_tail_min": table["ess_tail"].min(),
                "divergences_max": table["divergences"].max(),
                "bfmi_min": table["bfmi_min"].min(),
                "passed": not failures,
                "failures": [f.removeprefix("failed: ") for f in failures if f != "failed"],
            }
        )
    return rows


def study_table(studies: pd.DataFrame, arms: pd.DataFrame, evidence_set: pd.DataFrame) -> pd.DataFrame:
    """studies.csv with each study's count of arm-level rows and the evidence-model items it contributes."""
    studies = studies.copy()
    studies["arm_rows"] = studies["study_id"].map(arms["study_id"].value_counts()).fillna(0).astype(int)
    items = evidence_set[evidence_set["kind"] != "pooled"]

    def describe(item) -> str:
        what = label(item.outcome) + (" (control arm)" if item.kind == "control-arm drift" else "")
        return what if item.used == "yes" else f"{what}: not used on its own, {item.overlap}"

    studies["in_model"] = [
        ", ".join(sorted({describe(item) for item in items[items["source_id"] == study].itertuples()}))
        for study in studies["study_id"]
    ]
    return studies


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def funnels(contrasts: pd.DataFrame, small_study: pd.DataFrame, min_studies: int) -> list:
    """A funnel plot per comparison and outcome with at least `min_studies` trials, centred on the fixed-effect mean."""
    plots = []
    usable = usable_effects(contrasts)
    for row in small_study[small_study["k"] >= min_studies].itertuples():
        group = usable[(usable["comparison"] == row.comparison) & (usable["outcome"] == row.outcome)]
        yi, vi = group["yi"].to_numpy(float), group["vi"].to_numpy(float)
        plots.append(
            figures.funnel_figure(
                yi,
                vi,
                float(np.average(yi, weights=1 / vi)),
                f"{label(row.comparison)}, {label(row.outcome)}",
            )
        )
    return plots


def next_trial_section(summary_csv: Path, funnel_csv: Path, inputs: Mapping[str, Path], config: dict) -> dict:
    """What trial would settle it: per design a plain sentence, its rows of the summary and its extended funnel plot;
    the assurance curves of all designs."""
    from irsynth.nexttrial_figures import assurance_figure, extended_funnel_figure

    settings = config["next_trial"]
    summary = read_result(summary_csv)
    grid = read_result(funnel_csv)
    forest = read_result(Path(inputs["forest"]))
    meaningful = config["decision"]["meaningful_reduction"]
    designs = []
    for design in settings["designs"]:
        rows = summary[summary["design"] == design["name"]].sort_values("n_per_arm")
        cells = grid[grid["design"] == design["name"]]
        first = cells.iloc[0]
        current = {"median": first["current_ratio_median"], "low": first["current_ratio_q0.025"],
                   "high": first["current_ratio_q0.975"], "conclusion": int(first["current_conclusion"]),
                   "p": first["current_p_meaningful"]}  # fmt: skip
        designs.append({
            **design, "rows": rows.to_dict("records"), "sentence": design_sentence(design, rows), "current": current,
            "funnel": extended_funnel_figure(cells, funnel_evidence(forest, design), current, design, meaningful),
        })  # fmt: skip
    return {
        "designs": designs,
        "assurance": assurance_figure(summary, settings["designs"]),
        "simulations": int(summary["simulated_trials"].min()),
        "settings": settings,
    }


def design_sentence(design: dict, rows: pd.DataFrame) -> str:
    """One plain sentence: the assurance of the design at each n, with its Monte Carlo SE."""
    parts = [f"{r.assurance:.2f} (Monte Carlo SE {r.assurance_mc_se:.2f}) with 2 x {r.n_per_arm:g} women"
             for r in rows.itertuples()]  # fmt: skip
    return (
        f"A {design['label']} of {design['duration_weeks']:g} weeks has a probability of a conclusive answer of "
        + ", ".join(parts)
        + "."
    )


def funnel_evidence(forest: pd.DataFrame, design: dict) -> pd.DataFrame:
    """The existing evidence of the design's comparison and outcome: trials and meta-analyses as log ratio and SE."""
    rows = forest[
        (forest["comparison"] == design["comparison"])
        & (forest["outcome"] == design["outcome"])
        & forest["kind"].isin(["trial", "meta-analysis"])
    ]
    log_low, log_high = np.log(rows["observed_q0.025"]), np.log(rows["observed_q0.975"])
    return pd.DataFrame({
        "label": rows["label"], "kind": rows["kind"], "log_ratio": np.log(rows["observed_ratio"]),
        "se": (log_high - log_low) / (2 * 1.959963984540054),
    }).dropna()  # fmt: skip
