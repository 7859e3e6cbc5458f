"""Figures of the report's section "What trial would settle it" (irsynth.nexttrial): the assurance curve per design
and the extended funnel plot (Langan et al. 2012), inline SVG in the style of irsynth.figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup

from irsynth.figure_cache import cached
from irsynth.figures import OKABE_ITO, RATIO_AXIS, _ratio_scale, pyplot, svg
from irsynth.nexttrial import CONCLUSIONS, DECISION_THRESHOLD, UNRESOLVED

Z95 = 1.959963984540054
# colours of the updated conclusion: no meaningful reduction, inconclusive, meaningful reduction
REGION_COLOURS = ("#E69F00", "#DDDDDD", "#56B4E9")


@cached
def assurance_figure(summary: pd.DataFrame, designs: list[dict]) -> Markup:
    """Assurance (95% Monte Carlo interval) against the new trial's patients per arm, one line per design."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for i, design in enumerate(designs):
        rows = summary[summary["design"] == design["name"]].sort_values("n_per_arm")
        ax.errorbar(
            rows["n_per_arm"],
            rows["assurance"],
            yerr=Z95 * rows["assurance_mc_se"],
            fmt="o-",
            capsize=3,
            color=OKABE_ITO[i % len(OKABE_ITO)],
            label=f"{design['label']}, {design['duration_weeks']:g} weeks",
        )
    ax.set_xscale("log")
    ticks = sorted(set(summary["n_per_arm"]))
    ax.set_xticks(ticks, [f"{n:g}" for n in ticks])
    ax.minorticks_off()
    ax.set_ylim(0, 1)
    ax.set_xlabel("patients per arm of the new trial (log scale)")
    ax.set_ylabel("assurance: P(conclusive answer)")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.set_title(
        "Probability that the evidence with the new trial added is conclusive\n(bars: 95% Monte Carlo interval)",
        fontsize=8,
    )
    return svg(fig)


def region_names(current: int) -> list[str]:
    """Legend names of the three updated conclusions (-1, 0, 1) relative to the `current` one."""
    names = []
    for code, name in zip((-1, 0, 1), CONCLUSIONS):
        if code == current:
            names.append(f"leaves the conclusion: {name}")
        elif code == 0:
            names.append("makes it inconclusive")
        else:
            names.append(f"{'makes it conclusive' if current == 0 else 'reverses it'}: {name}")
    return names


@cached
def extended_funnel_figure(
    grid: pd.DataFrame, evidence: pd.DataFrame, current: dict, design: dict, meaningful: float
) -> Markup:
    """The plane of a new trial's (ratio of means, standard error of its log): the conclusion the evidence reaches
    with that trial added (regions), where the typical patient's decision changes (dashed), the existing evidence of
    the design's comparison and outcome (`evidence`: label, log ratio, SE) and the current posterior (`current`:
    median and 95% interval of the ratio, conclusion code)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch, Rectangle

    plt = pyplot()
    estimates = np.sort(grid["estimate"].unique())
    ses = np.sort(grid["se"].unique())
    table = grid.pivot(index="se", columns="estimate", values="conclusion").loc[ses, estimates].astype(float)
    p = grid.pivot(index="se", columns="estimate", values="p_meaningful").loc[ses, estimates]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ratio = np.exp(estimates)
    unresolved = Patch(facecolor="white", edgecolor="#999999", hatch="///", label=UNRESOLVED)
    ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, facecolor="white", edgecolor="#999999", hatch="///",
                           zorder=0))  # fmt: skip
    ax.pcolormesh(ratio, ses, table.to_numpy() + 1, cmap=ListedColormap(REGION_COLOURS), vmin=0, vmax=2,
                  shading="nearest")  # fmt: skip
    ax.contour(ratio, ses, p.to_numpy(), levels=[DECISION_THRESHOLD], colors="black", linestyles="--", linewidths=1)
    ax.axvspan(current["low"], current["high"], color="black", alpha=0.08)
    ax.axvline(current["median"], color="black", lw=1.2)
    ax.axvline(1 - meaningful, color=OKABE_ITO[3], lw=1, ls=":")
    for i, row in enumerate(evidence.itertuples()):
        ax.scatter(np.exp(row.log_ratio), row.se, marker="D" if row.kind == "meta-analysis" else "s",
                   color=OKABE_ITO[(i + 4) % 8], edgecolor="black", zorder=3, label=row.label)  # fmt: skip
    ax.set_ylim(ses.max(), ses.min() * 0.9)
    ax.set_xlim(ratio.min(), ratio.max())
    _ratio_scale(ax)
    ax.set_xlabel(f"new trial's estimate: {RATIO_AXIS}")
    ax.set_ylabel("its standard error (log ratio)")
    handles = [Patch(color=c, label=n) for c, n in zip(REGION_COLOURS, region_names(current["conclusion"]))]
    handles += [
        plt.Line2D([], [], color="black", ls="--", label="the typical patient's decision changes"),
        plt.Line2D([], [], color="black", label="current posterior median (band: 95% CrI)"),
        plt.Line2D([], [], color=OKABE_ITO[3], ls=":", label=f"meaningful reduction ({meaningful:.0%})"),
        *ax.get_legend_handles_labels()[0],
    ]
    if table.isna().any().any():
        handles.append(unresolved)
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(f"Extended funnel plot: adding one {design['label']} ({design['duration_weeks']:g} weeks)",
                 fontsize=8)  # fmt: skip
    return svg(fig)
