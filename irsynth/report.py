"""The self-contained HTML research report, built from the pipeline's result files.

Figures are inline SVG (matplotlib, Okabe-Ito colour-blind-safe palette); every text that comes from data is
escaped by Jinja2's autoescaping; nothing is loaded from the network when the page is viewed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: E402
from markupsafe import Markup  # noqa: E402

from irsynth.evidence import prior_sd, select_pooled  # noqa: E402
from irsynth.pipeline import read_effects  # noqa: E402

TEMPLATES = Path(__file__).resolve().parent.parent / "workflow" / "report"
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
OUTCOME_LABEL = {"homa_ir": "HOMA-IR", "fasting_insulin": "fasting insulin", "fasting_glucose": "fasting glucose"}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _svg(fig) -> Markup:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return Markup(text[text.index("<svg"):])


def component_figure(components: pd.DataFrame, prior_sd: dict) -> Markup:
    """Ratio of means per component and outcome: posterior median and 95% CrI over the prior's 95% interval."""
    rows = components[~components["component"].str.contains("minus")]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, layout="constrained")
    for ax, (outcome, group) in zip(axes, rows.groupby("outcome", sort=False)):
        y = np.arange(len(group))[::-1]
        sd = prior_sd.get(outcome)
        if sd:
            ax.axvspan(np.exp(-1.96 * sd), np.exp(1.96 * sd), color="#dddddd", label="prior 95% interval (single component)")
        ax.errorbar(group["ratio_median"], y, xerr=[group["ratio_median"] - group["ratio_q0.025"], group["ratio_q0.975"] - group["ratio_median"]],
                    fmt="o", color=OKABE_ITO[0], capsize=3, label="posterior median, 95% CrI")
        ax.axvline(1, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_yticks(y, group["component"])
        ax.set_xlabel(f"ratio of means, {OUTCOME_LABEL[outcome]} (end / start vs comparator)")
        ax.set_title(OUTCOME_LABEL[outcome])
    axes[0].legend(loc="lower left", fontsize=7, frameon=False)
    return _svg(fig)


def evidence_figure(contrasts: pd.DataFrame, pooled_used: pd.DataFrame) -> Markup:
    """Left: arm-level contrasts as ratios with 95% CI; right: pooled estimates as printed (own scale), diamonds."""
    arms = contrasts[contrasts["usable"] & (contrasts["basis"] == "change") & (contrasts["measure"] == "ROM")
                     & contrasts["outcome"].isin(["homa_ir", "fasting_insulin"])]
    heights = [max(len(arms), 1), max(len(pooled_used), 1)]
    fig, axes = plt.subplots(2, 1, figsize=(9, 0.35 * sum(heights) + 2.8), gridspec_kw={"height_ratios": heights}, layout="constrained")
    ax = axes[0]
    y = np.arange(len(arms))[::-1]
    half = 1.96 * np.sqrt(arms["vi"].to_numpy(float))
    ax.errorbar(np.exp(arms["yi"]), y, xerr=[np.exp(arms["yi"]) - np.exp(arms["yi"] - half), np.exp(arms["yi"] + half) - np.exp(arms["yi"])],
                fmt="s", color=OKABE_ITO[0], capsize=3)
    ax.set_yticks(y, [f"{r.study_id} ({OUTCOME_LABEL[r.outcome]}): {r.comparison}" for r in arms.itertuples()], fontsize=8)
    ax.axvline(1, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("ratio of mean change (treatment / comparator), 95% CI")
    ax.set_title("arm-level trials")
    ax = axes[1]
    y = np.arange(len(pooled_used))[::-1]
    for i, (row, yy) in enumerate(zip(pooled_used.itertuples(), y)):
        color = OKABE_ITO[{"SMD": 1, "MD": 2, "WMD": 2, "ROM": 3}[row.measure]]
        ax.plot([row.ci_low, row.ci_high], [yy, yy], color=color)
        ax.plot(row.estimate, yy, "D", color=color, label=row.measure if row.measure not in [r.measure for r in pooled_used.iloc[:i].itertuples()] else None)
    ax.set_yticks(y, [f"{r.source_id}: {r.comparison} ({OUTCOME_LABEL[r.outcome]})" for r in pooled_used.itertuples()], fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("pooled estimate as published (SMD or MD), 95% CI")
    ax.set_title("meta-analyses (pooled level)")
    ax.legend(fontsize=7, frameon=False)
    return _svg(fig)


def decision_figure(decision: pd.DataFrame, cutoff: float) -> Markup:
    column = f"p_patient_below_{cutoff:g}"
    profiles = list(dict.fromkeys(decision["profile"]))
    scenarios = list(dict.fromkeys(decision["scenario"]))
    fig, ax = plt.subplots(figsize=(9, 3.2))
    width = 0.8 / len(profiles)
    for i, profile in enumerate(profiles):
        rows = decision[decision["profile"] == profile].set_index("scenario").loc[scenarios]
        ax.bar(np.arange(len(scenarios)) + i * width, rows[column], width, color=OKABE_ITO[i], label=profile)
    ax.set_xticks(np.arange(len(scenarios)) + width * (len(profiles) - 1) / 2, scenarios, rotation=12, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"P(patient's HOMA-IR < {cutoff:g})")
    ax.legend(fontsize=7, frameon=False)
    return _svg(fig)


def build_report(results: Path, config: dict, command: str) -> str:
    results = Path(results)
    ev = results / "models" / "evidence"
    headline = json.loads((ev / "headline.json").read_text())
    components = _read(ev / "components.csv")
    decision = _read(ev / "decision.csv")
    sensitivity = _read(ev / "sensitivity.csv")
    arms = _read(results / "validated" / "arms.csv")
    pooled = _read(results / "validated" / "pooled.csv")
    values = _read(results / "harmonised" / "arm_values.csv")
    contrasts = read_effects(results / "effects" / "contrasts.csv")
    key = ["source_id", "outcome", "comparison", "analysis"]
    used = set(map(tuple, select_pooled(pooled, config)[key].to_numpy()))
    pooled["used"] = [tuple(row) in used for row in pooled[key].to_numpy()]

    cutoff = config["decision"]["cutoff"]
    effect = components.set_index(["component", "outcome"])
    diagnostics = {name: _read(results / "models" / name / "diagnostics.csv") for name in ("evidence", "pairwise", "network")}
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters["num"] = lambda x, d=2: "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{d}f}"
    template = env.get_template("report.html.j2")
    return template.render(
        headline=headline, effect=effect, decision=decision, sensitivity=sensitivity, cutoff=cutoff,
        meaningful=config["decision"]["meaningful_reduction"],
        coi=sensitivity[sensitivity["run"].str.contains("coi_manufacturer")],
        first_profile=config["decision"]["profiles"][0],
        figures={
            "components": component_figure(components, prior_sd(config["evidence_model"]["priors"])),
            "evidence": evidence_figure(contrasts, pooled[pooled["used"]]),
            "decision": decision_figure(decision, cutoff),
        },
        arms=arms.merge(values[["data_line", "usable", "reason", "derivation"]], on="data_line", how="left"),
        pooled=pooled, diagnostics=diagnostics, command=command,
        regression=_read(ev / "regression.csv"), network=_read(results / "models" / "network" / "network.csv"),
    )

