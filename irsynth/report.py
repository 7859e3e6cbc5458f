"""The self-contained HTML research report, built from the pipeline's result files.

Figures are inline SVG (irsynth.figures); every text that comes from data is escaped by Jinja2's autoescaping;
nothing is loaded from the network when the page is viewed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from jinja2 import Environment, FileSystemLoader, select_autoescape

from irsynth import figures
from irsynth.effects import usable_effects
from irsynth.evidence import prior_sd, select_pooled
from irsynth.pipeline import read_effects, text_columns
from irsynth.smallstudy import small_study_table

TEMPLATES = Path(__file__).resolve().parent.parent / "workflow" / "report"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def build_report(results: Path, config: dict, command: str, changes: dict | None = None, built: str = "") -> str:
    """The report's HTML from the result files; `changes` is history.what_changed against the previous run."""
    results = Path(results)
    ev = results / "models" / "evidence"
    headline = json.loads((ev / "headline.json").read_text())
    components = _read(ev / "components.csv")
    decision = _read(ev / "decision.csv")
    sensitivity = _read(ev / "sensitivity.csv")
    arms = text_columns(_read(results / "validated" / "arms.csv"))
    pooled = text_columns(_read(results / "validated" / "pooled.csv"))
    values = _read(results / "harmonised" / "arm_values.csv")
    contrasts = read_effects(results / "effects" / "contrasts.csv")
    key = ["source_id", "outcome", "comparison", "analysis"]
    used = set(map(tuple, select_pooled(pooled, config)[key].to_numpy()))
    pooled["used"] = [tuple(row) in used for row in pooled[key].to_numpy()]

    cutoff = config["decision"]["cutoff"]
    priors = config["evidence_model"]["priors"]
    forest = _read(ev / "forest.csv")
    cumulative = _read(ev / "cumulative.csv")
    trace = xr.open_datatree(ev / "posterior.nc")
    small_study = small_study_table(contrasts, config["report"]["small_study_min_studies"])
    diagnostics = {
        name: _read(results / "models" / name / "diagnostics.csv") for name in ("evidence", "pairwise", "network")
    }
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters["num"] = lambda x, d=2: "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{d}f}"
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
        studies=study_table(results, arms),
        diagnostics=diagnostics,
        command=command,
        regression=_read(ev / "regression.csv"),
        network=_read(results / "models" / "network" / "network.csv"),
        node_split=_read(results / "models" / "network" / "node_split.csv"),
        loo=_read(ev / "loo.csv"),
        checks=_read(ev / "checks.csv"),
        built=built or now(),
        changes=changes,
        cumulative=cumulative,
    )


def study_table(results: Path, arms: pd.DataFrame) -> pd.DataFrame:
    """studies.csv with each study's count of arm-level rows and the evidence-model items it contributes."""
    studies = text_columns(_read(results / "validated" / "studies.csv"))
    used = _read(results / "models" / "evidence" / "evidence_set.csv")["label"]
    studies["arm_rows"] = studies["study_id"].map(arms["study_id"].value_counts()).fillna(0).astype(int)
    studies["in_model"] = [
        ", ".join(
            sorted(
                {
                    label.split(":", 1)[1] + (" (control arm)" if "/" in label else "")
                    for label in used
                    if label.split(":")[0].split("/")[0] == study
                }
            )
        )
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
                f"{row.comparison.replace('_', ' ')}, {figures.OUTCOME_LABEL[row.outcome]}",
            )
        )
    return plots
