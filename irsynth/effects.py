"""Effect sizes and their sampling variances, after metafor's `escalc` (large-sample variances, vtype="LS").

`escalc(measure, ...)` returns (yi, vi):

- "MD":  yi = m1 - m2;                       vi = sd1^2/n1 + sd2^2/n2
- "SMD": yi = J(n1+n2-2) (m1 - m2)/sp,       vi = 1/n1 + 1/n2 + yi^2/(2 (n1+n2))     (Hedges' g)
         sp^2 = ((n1-1) sd1^2 + (n2-1) sd2^2)/(n1+n2-2),  J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))
- "ROM": yi = log(m1/m2);                    vi = sd1^2/(n1 m1^2) + sd2^2/(n2 m2^2)
- "MC":  yi = m1 - m2 (one group, two timepoints); vi = (sd1^2 + sd2^2 - 2 r sd1 sd2)/n
- "SMCR": yi = J(n-1) (m1 - m2)/sd1 (sd1 = baseline SD); vi = 2 (1 - r)/n + yi^2/(2 n)
- "ROMC": yi = log(m1/m2);                   vi = sd1^2/(n m1^2) + sd2^2/(n m2^2) - 2 r sd1 sd2/(n m1 m2)

References: Viechtbauer W (2010) J Stat Softw 36(3), and metafor's escalc documentation; Hedges LV (1981)
J Educ Stat 6:107-128 for J; Lajeunesse MJ (2011) Ecology 92:2049-2055 for ROM.

`contrasts` forms the between-arm comparisons of each study named in config `comparisons`, on end values and on
change from baseline, as ROM, MD and SMD.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy.special import gammaln

MEASURES = ("ROM", "MD", "SMD")


def hedges_j(m: float) -> float:
    """Exact small-sample correction J(m) for m degrees of freedom."""
    return math.exp(gammaln(m / 2) - 0.5 * math.log(m / 2) - gammaln((m - 1) / 2))


def escalc(measure: str, m1, sd1, n1, m2=None, sd2=None, n2=None, r=None) -> tuple[float, float]:
    """Effect size and sampling variance for one study; arguments as in metafor (m1i, sd1i, n1i, ...)."""
    if measure == "MD":
        return m1 - m2, sd1**2 / n1 + sd2**2 / n2
    if measure == "SMD":
        sp = math.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2))
        g = hedges_j(n1 + n2 - 2) * (m1 - m2) / sp
        return g, 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))
    if measure == "ROM":
        return math.log(m1 / m2), sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)
    if measure == "MC":
        return m1 - m2, (sd1**2 + sd2**2 - 2 * r * sd1 * sd2) / n1
    if measure == "SMCR":
        g = hedges_j(n1 - 1) * (m1 - m2) / sd1
        return g, 2 * (1 - r) / n1 + g**2 / (2 * n1)
    if measure == "ROMC":
        return (
            math.log(m1 / m2),
            sd1**2 / (n1 * m1**2) + sd2**2 / (n1 * m2**2) - 2 * r * sd1 * sd2 / (n1 * m1 * m2),
        )
    raise ValueError(f"unknown measure {measure!r}")


def usable_effects(table: pd.DataFrame, basis: str = "change", measure: str = "ROM") -> pd.DataFrame:
    """The usable rows of an effect-size table on one basis and measure (default: log ratio of mean changes)."""
    return table[table["usable"] & (table["basis"] == basis) & (table["measure"] == measure)]


def match_comparison(class1: str, class2: str, comparisons: dict) -> tuple[str, bool] | None:
    """Name of the config comparison that arm classes (class1, class2) form, and whether the order is reversed."""
    for name, spec in comparisons.items():
        if class1 in spec["treatment"] and class2 in spec["comparator"]:
            return name, False
        if class2 in spec["treatment"] and class1 in spec["comparator"]:
            return name, True
    return None


def contrasts(changes: pd.DataFrame, config: dict) -> pd.DataFrame:
    """Between-arm effect sizes per study, comparison, outcome, basis (end, change) and measure."""
    rho = config["harmonise"]["rho"]
    records = []
    for (study, outcome), group in changes.groupby(["study_id", "outcome"], sort=False):
        for (_, a), (_, b) in itertools.combinations(group.iterrows(), 2):
            found = match_comparison(a["arm_class"], b["arm_class"], config["comparisons"])
            if found is None:
                records.append(
                    _unused(study, outcome, a, b, f"no comparison in config for {a['arm_class']} vs {b['arm_class']}")
                )
                continue
            name, reverse = found
            treat, comp = (b, a) if reverse else (a, b)
            records += _contrast_rows(study, outcome, name, treat, comp, rho)
    columns = [
        "study_id",
        "comparison",
        "outcome",
        "basis",
        "measure",
        "treatment_arm",
        "comparator_arm",
        "n1",
        "n2",
        "yi",
        "vi",
        "usable",
        "reason",
        "derivation",
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def _unused(study, outcome, a, b, reason):
    return {
        "study_id": study,
        "comparison": "",
        "outcome": outcome,
        "basis": "",
        "measure": "",
        "treatment_arm": a["arm"],
        "comparator_arm": b["arm"],
        "usable": False,
        "reason": reason,
    }


def _contrast_rows(study, outcome, comparison, t, c, rho):
    rows = []
    n1, n2 = t["n"], c["n"]
    for basis in ("end", "change"):
        for measure in MEASURES:
            row = {
                "study_id": study,
                "comparison": comparison,
                "outcome": outcome,
                "basis": basis,
                "measure": measure,
                "treatment_arm": t["arm"],
                "comparator_arm": c["arm"],
                "n1": n1,
                "n2": n2,
                "yi": np.nan,
                "vi": np.nan,
            }
            reason, derivation = _compute(row, basis, measure, t, c, rho)
            row.update(usable=not reason, reason=reason, derivation=derivation)
            rows.append(row)
    return rows


def _compute(row, basis, measure, t, c, rho):
    """Fill yi, vi in `row`; return (reason it cannot be computed or "", derivation note)."""
    if pd.isna(t["n"]) or pd.isna(c["n"]):
        return "n missing in an arm" + _why(t, c), ""
    if measure == "MD" and not (t["unit_known"] and c["unit_known"]):
        return "unit not printed: MD needs a known unit", ""
    if basis == "end":
        values = [t["end_mean"], t["end_sd"], c["end_mean"], c["end_sd"]]
        if any(pd.isna(v) for v in values):
            return "end mean or SD missing" + _why(t, c), ""
        m1, sd1, m2, sd2 = values
        row["yi"], row["vi"] = escalc(measure, m1, sd1, t["n"], m2, sd2, c["n"])
        return "", "end values"
    if measure == "ROM":
        if pd.isna(t["log_ratio_var"]) or pd.isna(c["log_ratio_var"]):
            return "log ratio end/baseline needs baseline and end means and SDs in both arms" + _why(t, c), ""
        row["yi"] = t["log_ratio"] - c["log_ratio"]
        row["vi"] = t["log_ratio_var"] + c["log_ratio_var"]
        return "", f"difference of arm log ratios end/baseline (ROMC), rho = {rho:g}"
    values = [t["change_mean"], t["change_sd"], c["change_mean"], c["change_sd"]]
    if any(pd.isna(v) for v in values):
        return "change mean or SD missing" + _why(t, c), ""
    m1, sd1, m2, sd2 = values
    row["yi"], row["vi"] = escalc(measure, m1, sd1, t["n"], m2, sd2, c["n"])
    sources = {t["change_sd_source"], c["change_sd_source"]}
    return "", "change scores; change SD " + " / ".join(sorted(sources))


def _why(t, c):
    reasons = [f"{arm['arm']}: {arm['reason']}" for arm in (t, c) if arm.get("reason")]
    return f" ({'; '.join(reasons)})" if reasons else ""
