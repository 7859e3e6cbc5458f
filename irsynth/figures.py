"""The report's figures as inline SVG: matplotlib, Okabe-Ito colour-blind-safe palette, labelled axes with units.

Effects are ratios of means of the change from baseline (treatment / comparator), drawn on a log axis: 1 is no
difference, 0.8 a 20% larger fall with the treatment. Text from data and config is drawn as it is written: no math
text (`$...$`, `^`, `_`) and no TeX, so no label can break a figure; legends name their entries explicitly (a label
starting with `_` would otherwise be hidden).
"""

from __future__ import annotations

import functools
import io

import numpy as np
import pandas as pd
from markupsafe import Markup

from irsynth.decision import prior_sd
from irsynth.evidence_set import covariates
from irsynth.figure_cache import cached
from irsynth.intervals import central_interval
from irsynth.vocab import label

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
RATIO_AXIS = "ratio of means (treatment / comparator), log scale"
HATCHES = ["", "//", "..", "xx", "\\\\", "oo"]


@functools.cache
def pyplot():
    """matplotlib's pyplot on the Agg backend with the report's settings, imported when a figure is first drawn (a
    report whose figures are all stored draws none: irsynth.figure_cache)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # stable element ids (identical SVG for identical input); every text literal (no math text, no TeX)
    plt.rcParams.update({"svg.hashsalt": "irsynth", "font.size": 9, "text.parse_math": False, "text.usetex": False})
    return plt


def series_style(i: int) -> dict:
    """Bar colour and hatch of the i-th series: the palette's colours, then again with a hatch, for any number."""
    return {
        "facecolor": OKABE_ITO[i % len(OKABE_ITO)],
        "edgecolor": "white",
        "hatch": HATCHES[i // len(OKABE_ITO) % len(HATCHES)],
    }


def svg(fig) -> Markup:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    pyplot().close(fig)
    text = buffer.getvalue()
    return Markup(text[text.index("<svg") :])


def _draws(trace, name: str) -> np.ndarray:
    values = trace.posterior[name].values
    return values.reshape(-1, *values.shape[2:])


def _ratio_scale(
    ax, axis: str = "x", ticks=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2, 3, 5, 10)
) -> None:
    """Log scale with ticks at plain values (0.5, 0.8, 1, 1.25, ...) instead of powers of ten."""
    from matplotlib import ticker

    getattr(ax, f"set_{axis}scale")("log")
    low, high = getattr(ax, f"get_{axis}lim")()
    shown = [v for v in ticks if low <= v <= high]
    if len(shown) > 8:
        shown = [v for v in shown if v in (0.1, 0.2, 0.5, 1, 2, 5, 10)]
    target = getattr(ax, f"{axis}axis")
    target.set_major_locator(ticker.FixedLocator(shown))
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(ticker.NullLocator())


def _no_effect_line(ax) -> None:
    ax.axvline(1, color="black", lw=0.8)
    _ratio_scale(ax)


@cached
def forest_figure(forest: pd.DataFrame, outcome: str) -> Markup:
    """Per comparison: trials (observed and shrunken), meta-analyses (published, converted), synthesis, prediction."""
    plt = pyplot()
    rows = forest[forest["outcome"] == outcome]
    labels, y = [], 0.0
    fig, ax = plt.subplots(figsize=(9, 0.42 * (len(rows) + rows["comparison"].nunique()) + 1.2))
    style = {
        "trial": dict(fmt="s", color=OKABE_ITO[0], ms=5),
        "meta-analysis": dict(fmt="D", color=OKABE_ITO[1], ms=6),
        "synthesis": dict(fmt="D", color="black", ms=7),
        "prediction": dict(fmt="none", color=OKABE_ITO[7], elinewidth=1),
    }
    legend = {}
    for comparison, group in rows.groupby("comparison", sort=False):
        labels.append((y, label(comparison), True))
        y -= 1
        for row in group.to_dict("records"):
            kind = row["kind"]
            source = "observed" if kind in ("trial", "meta-analysis") else "model"
            centre, low, high = (row[f"{source}_{q}"] for q in ("ratio", "q0.025", "q0.975"))
            xerr = [[centre - low if low == low else 0], [high - centre if high == high else 0]]
            legend.setdefault(kind, ax.errorbar([centre], [y], xerr=xerr, capsize=2, **style[kind]))
            if kind == "trial":
                shrunk, low, high = row["model_ratio"], row["model_q0.025"], row["model_q0.975"]
                legend.setdefault(
                    "shrunken",
                    ax.errorbar(
                        [shrunk],
                        [y - 0.3],
                        xerr=[[shrunk - low], [high - shrunk]],
                        fmt="o",
                        mfc="white",
                        color=OKABE_ITO[0],
                        ms=4,
                        capsize=2,
                    ),
                )
            text = f"{row['label']}  {row['published']}" if kind == "meta-analysis" else row["label"]
            labels.append((y, text, False))
            y -= 1
    ax.set_yticks([p for p, _, _ in labels], [t for _, t, _ in labels])
    for tick, (_, _, bold) in zip(ax.get_yticklabels(), labels):
        tick.set_fontweight("bold" if bold else "normal")
    _no_effect_line(ax)
    ax.set_xlabel(f"{RATIO_AXIS}; {label(outcome)}")
    names = {
        "trial": "trial, observed (95% CI)",
        "shrunken": "trial, shrunken estimate (95% CrI)",
        "meta-analysis": "meta-analysis, published estimate as a ratio (95% CI)",
        "synthesis": "evidence model (95% CrI)",
        "prediction": "new trial, 95% prediction interval",
    }
    ax.legend(
        [legend[k] for k in names if k in legend],
        [names[k] for k in names if k in legend],
        fontsize=7,
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
    )
    ax.set_title(f"{label(outcome)}: evidence per comparison")
    return svg(fig)


def density(draws: np.ndarray, points: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian kernel density of `draws` at the centres of `points` bins over their range: binned (a histogram
    smoothed by the kernel; Scott's bandwidth, scipy's default) and reflected at both ends of the range as ArviZ's
    bound correction does, so that a variable bounded at 0 (a heterogeneity SD) keeps its mass inside it. Linear in
    the draws; arviz_stats.kde, its model, costs the report stage a second to import."""
    counts, edges = np.histogram(draws, bins=points)
    grid, step = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    sigma = np.std(draws) * len(draws) ** -0.2 / step
    half = int(np.ceil(4 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    smoothed = np.convolve(np.pad(counts, half, mode="symmetric"), kernel / kernel.sum(), mode="valid")
    return grid, smoothed / (len(draws) * step)


@cached
def density_figure(trace, priors: dict) -> Markup:
    """Posterior density (filled) over the prior density (dashed) of every component effect and heterogeneity term."""
    from scipy import stats

    plt = pyplot()
    d = _draws(trace, "d")
    components = list(trace.posterior["component"].values)
    outcomes = list(trace.posterior["outcome"].values)
    sd0 = prior_sd(priors)
    extra = [
        ("tau", i, stats.halfnorm(scale=priors["tau_scale"]), f"tau, {label(o)}")
        for i, o in enumerate(outcomes)
        if "tau" in trace.posterior
    ]
    extra += [
        ("beta", i, stats.norm(0, priors["regression_sd"]), f"meta-regression: {c}")
        for i, c in enumerate(trace.posterior["covariate"].values)
    ]
    fig, axes = plt.subplots(
        len(outcomes) + 1, len(components), figsize=(11, 2.1 * (len(outcomes) + 1)), layout="constrained"
    )
    for row, outcome in enumerate(outcomes):
        for col, component in enumerate(components):
            ax = axes[row, col]
            grid, pdf = density(d[:, col, row])
            ax.fill_between(np.exp(grid), pdf, color=OKABE_ITO[0], alpha=0.5, label="posterior")
            x = np.linspace(-2.5 * sd0[outcome], 2.5 * sd0[outcome], 300)
            ax.plot(np.exp(x), stats.norm(0, sd0[outcome]).pdf(x), "--", color="#555555", label="prior")
            _no_effect_line(ax)
            ax.set_title(f"{component}, {label(outcome)}", fontsize=8)
            ax.set_xlabel("ratio of means (log scale)", fontsize=7)
            ax.set_yticks([])
    for ax in axes[-1]:
        ax.set_visible(False)
    for ax, (name, index, prior, title) in zip(axes[-1], extra):
        ax.set_visible(True)
        draws = _draws(trace, name)[:, index]
        grid, pdf = density(draws)
        ax.fill_between(grid, pdf, color=OKABE_ITO[2], alpha=0.5)
        x = np.linspace(prior.ppf(0.001), prior.ppf(0.999), 300)
        ax.plot(x, prior.pdf(x), "--", color="#555555")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("SD of log ratio" if name == "tau" else "log ratio per unit log covariate", fontsize=7)
        ax.set_yticks([])
    axes[0, 0].legend(fontsize=7, frameon=False)
    return svg(fig)


@cached
def evidence_graph(forest: pd.DataFrame, comparisons: dict) -> Markup:
    """Network of the evidence: arm classes as nodes, an edge per comparison with its trials and meta-analyses."""
    plt = pyplot()
    used = forest[forest["kind"].isin(["trial", "meta-analysis"])]
    edges = used.groupby("comparison").agg(
        trials=("label", lambda s: s[used.loc[s.index, "kind"] == "trial"].nunique()),
        metas=("label", lambda s: s[used.loc[s.index, "kind"] == "meta-analysis"].nunique()),
    )
    pairs = {c: (comparisons[c]["comparator"][0], comparisons[c]["treatment"][0]) for c in edges.index}
    ring = [n for n in dict.fromkeys(n for pair in pairs.values() for n in pair) if n != "control"]
    angle = np.linspace(np.pi / 2, np.pi / 2 - 2 * np.pi, len(ring), endpoint=False)
    position = {"control": (0.0, 0.0), **{n: (np.cos(a), np.sin(a)) for n, a in zip(ring, angle)}}
    fig, ax = plt.subplots(figsize=(6, 4.6))
    for comparison, (a, b) in pairs.items():
        (x0, y0), (x1, y1) = position[a], position[b]
        trials, metas = edges.loc[comparison, ["trials", "metas"]]
        ax.plot(
            [x0, x1],
            [y0, y1],
            color=OKABE_ITO[1] if trials == 0 else OKABE_ITO[0],
            lw=1.5 + 1.5 * (trials + metas),
            zorder=1,
        )
        ax.text(
            0.45 * x0 + 0.55 * x1,
            0.45 * y0 + 0.55 * y1,
            f"{trials} trial{'s' * (trials != 1)}\n{metas} meta-analys{'es' if metas != 1 else 'is'}",
            fontsize=7,
            ha="center",
            va="center",
            bbox=dict(fc="white", ec="none", alpha=0.8),
            zorder=2,
        )
    for node, (x, y) in position.items():
        ax.scatter([x], [y], s=1600, color="white", edgecolor="black", zorder=3)
        ax.text(x, y, label(node).replace(" + ", " +\n"), ha="center", va="center", fontsize=7, zorder=4)
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.35, 1.35)
    ax.set_axis_off()
    ax.set_title(
        "Evidence network: trials and meta-analyses per comparison\n"
        "(blue: with arm-level trials; orange: pooled estimates only)",
        fontsize=8,
    )
    return svg(fig)


@cached
def regression_figure(trace, regression: dict, priors: dict) -> Markup:
    """Inositol's effect on HOMA-IR across trial duration and baseline HOMA-IR (posterior and prior 95% bands), and
    the control-arm drift (log end / baseline without intervention), with and without background advice."""
    plt = pyplot()
    inositol = _draws(trace, "d")[:, 0, 0]
    beta = _draws(trace, "beta")
    rng = np.random.default_rng(0)
    prior_beta = rng.normal(0, priors["regression_sd"], beta.shape)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), layout="constrained")
    axis = {
        "duration (weeks)": (np.geomspace(6, 52, 40), lambda v: covariates(v, None, regression)),
        "baseline HOMA-IR": (
            np.geomspace(1.5, 8, 40),
            lambda v: covariates(regression["reference_duration_weeks"], v, regression),
        ),
    }
    for ax, (covariate, (values, z_of)) in zip(axes, axis.items()):
        z = np.array([z_of(v) for v in values])
        for coefficients, color, name in ((prior_beta, "#bbbbbb", "prior"), (beta, OKABE_ITO[0], "posterior")):
            curve = np.exp(inositol[:, None] + coefficients @ z.T)
            mid, low, high = central_interval(curve, axis=0)
            ax.fill_between(
                values, low, high, color=color, alpha=0.35, label=f"{name} 95% band (effect at reference + modifier)"
            )
            ax.plot(values, mid, color=color)
        ax.axhline(1, color="black", lw=0.8)
        _ratio_scale(ax, "y")
        _ratio_scale(ax, "x", ticks=(1.5, 2, 3, 4, 6, 8, 12, 16, 24, 36, 52))
        ax.set_xlabel(covariate)
        ax.set_ylabel("inositol ratio of means, HOMA-IR")
    axes[0].legend(fontsize=6, frameon=False, loc="lower left")
    ax = axes[2]
    drift, advice = _draws(trace, "drift"), _draws(trace, "beta_advice")
    for i in range(len(trace.posterior["outcome"])):
        for j, draws in enumerate((drift[:, i], drift[:, i] + advice[:, i])):  # no advice, with background advice
            mid, low, high = central_interval(draws, exp=True)
            ax.errorbar([mid], [2 * i + j], xerr=[[mid - low], [high - mid]], fmt="o", color=OKABE_ITO[j], capsize=3)
    ax.set_yticks(
        range(4),
        [f"{label(o)}: {n}" for o in trace.posterior["outcome"].values for n in ("no advice", "with advice")],
        fontsize=7,
    )
    _no_effect_line(ax)
    ax.set_xlabel("control arm: end / baseline (log scale)")
    ax.set_title("control-arm drift (95% CrI)", fontsize=8)
    return svg(fig)


@cached
def cumulative_figure(cumulative: pd.DataFrame) -> Markup:
    """Headline ratios (posterior median, 95% CrI) as the evidence published up to each year accumulates."""
    plt = pyplot()
    panels = [
        ("inositol", "inositol vs control, HOMA-IR"),
        ("inositol_vs_metformin", "inositol / metformin, HOMA-IR"),
        ("lifestyle", "lifestyle vs control, HOMA-IR"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), sharey=True, layout="constrained")
    for ax, (name, title) in zip(axes, panels):
        mid, low, high = (cumulative[f"{name}_ratio_{q}"] for q in ("median", "q0.025", "q0.975"))
        ax.errorbar(cumulative["year"], mid, yerr=[mid - low, high - mid], fmt="o-", color=OKABE_ITO[0], capsize=3)
        ax.axhline(1, color="black", lw=0.8)
        ax.set_xticks(cumulative["year"], cumulative["year"].astype(int), rotation=45)
        ax.set_xlabel("evidence published up to (year)")
        ax.set_title(title, fontsize=8)
    _ratio_scale(axes[0], "y")
    axes[0].set_ylabel("ratio of means (95% CrI), log scale")
    return svg(fig)


@cached
def funnel_figure(yi: np.ndarray, vi: np.ndarray, pooled: float, title: str) -> Markup:
    """Funnel plot: effect (log ratio) against its standard error, with the pseudo 95% limits around `pooled`."""
    plt = pyplot()
    se = np.sqrt(vi)
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    top = se.max() * 1.1
    ax.plot([pooled - 1.96 * top, pooled, pooled + 1.96 * top], [top, 0, top], "--", color="#777777")
    ax.scatter(yi, se, color=OKABE_ITO[0])
    ax.axvline(pooled, color="black", lw=0.8)
    ax.set_ylim(top, 0)
    ax.set_xlabel("log ratio of means")
    ax.set_ylabel("standard error")
    ax.set_title(title, fontsize=8)
    return svg(fig)


@cached
def component_figure(components: pd.DataFrame, prior_sd: dict) -> Markup:
    """Ratio of means per component and outcome: posterior median and 95% CrI over the prior's 95% interval."""
    plt = pyplot()
    rows = components[~components["component"].str.contains("minus")]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, layout="constrained")
    for ax, (outcome, group) in zip(axes, rows.groupby("outcome", sort=False)):
        y = np.arange(len(group))[::-1]
        sd = prior_sd.get(outcome)
        if sd:
            ax.axvspan(
                np.exp(-1.96 * sd), np.exp(1.96 * sd), color="#dddddd", label="prior 95% interval (single component)"
            )
        ax.errorbar(
            group["ratio_median"],
            y,
            xerr=[group["ratio_median"] - group["ratio_q0.025"], group["ratio_q0.975"] - group["ratio_median"]],
            fmt="o",
            color=OKABE_ITO[0],
            capsize=3,
            label="posterior median, 95% CrI",
        )
        _no_effect_line(ax)
        ax.set_yticks(y, group["component"])
        ax.set_xlabel(f"ratio of means, {label(outcome)} (log scale)")
        ax.set_title(label(outcome))
    axes[0].legend(loc="upper left", bbox_to_anchor=(0, -0.22), fontsize=7, frameon=False, ncols=2)
    return svg(fig)


@cached
def decision_figure(decision: pd.DataFrame, cutoff: float) -> Markup:
    """P(patient's HOMA-IR ends below the cut-off) per scenario, one bar colour per patient profile."""
    plt = pyplot()
    column = f"p_patient_below_{cutoff:g}"
    profiles = list(dict.fromkeys(decision["profile"]))
    scenarios = list(dict.fromkeys(decision["scenario"]))
    fig, ax = plt.subplots(figsize=(9, 3.2))
    width = 0.8 / len(profiles)
    bars = []
    for i, profile in enumerate(profiles):
        rows = decision[decision["profile"] == profile].set_index("scenario").loc[scenarios]
        bars.append(ax.bar(np.arange(len(scenarios)) + i * width, rows[column], width, **series_style(i)))
    ax.set_xticks(np.arange(len(scenarios)) + width * (len(profiles) - 1) / 2, scenarios, rotation=12, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"P(patient's HOMA-IR < {cutoff:g})")
    ax.legend(bars, profiles, fontsize=7, frameon=False, ncols=1 + len(profiles) // 8)
    return svg(fig)
