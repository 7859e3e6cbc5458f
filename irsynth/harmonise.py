"""Harmonisation of validated arm rows: canonical units, mean and SD from what was printed, change scores.

Every value keeps a `derivation` note naming the method and its inputs, and every row a `usable` flag with the
reason when it cannot be used, so that the pipeline says what it could not use and why.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from irsynth import conversions, vocab
from irsynth.csvfile import LINE
from irsynth.units import factor_to_canonical

ARM_CLASS_CONTROL = "control"
# an arm with none of the coded components that receives another treatment (e.g. an oral contraceptive): not a control
ARM_CLASS_OTHER = "other"


def _num(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def flags_of(row) -> set[str]:
    return {f.strip() for f in str(row.get("flags", "")).split(";") if f.strip()}


def arm_class(row) -> str:
    """The arm's treatment class, e.g. 'MI', 'MI+DCI', 'MET', 'exercise', 'MI+diet', 'control', or 'other' (no
    coded component, but another treatment in `other_tx`: never silently a control).

    A dose of 0 means the component is not given; a blank dose means given, dose not stated.
    """
    parts = []
    mi, dci = _num(row["mi_mg_day"]), _num(row["dci_mg_day"])
    if mi is None or mi > 0:
        parts.append("MI")
    if dci is None or dci > 0:
        parts.append("DCI")
    metformin = _num(row["metformin_mg_day"])
    if metformin is None or metformin > 0:
        parts.append("MET")
    lifestyle = row["lifestyle"]
    if lifestyle not in ("none", "advice") or (lifestyle == "advice" and not row["control_kind"]):
        parts.append(lifestyle)
    if parts:
        return "+".join(parts)
    return ARM_CLASS_OTHER if str(row.get("other_tx") or "").strip() else ARM_CLASS_CONTROL


def harmonise_arms(arms: pd.DataFrame, studies: pd.DataFrame, config: dict) -> pd.DataFrame:
    """One row per study x arm x outcome x timepoint with n, mean and SD in canonical units and their derivation."""
    randomised = dict(zip(studies["study_id"], studies["randomised"]))
    records = [_harmonise_row(row, randomised.get(row["study_id"], "unclear"), config) for _, row in arms.iterrows()]
    return pd.DataFrame.from_records(records)


def _harmonise_row(row, randomised: str, config: dict) -> dict:
    notes, reasons = [], []
    ev = config["evidence"]
    outcome, unit = row["outcome"], row["unit"]
    unit_known = unit != "" or outcome == "homa_ir"
    factor = factor_to_canonical(outcome, unit or vocab.CANONICAL_UNIT[outcome], config)
    if factor != 1.0:
        notes.append(f"unit {unit} x {factor:.6g} -> {vocab.CANONICAL_UNIT[outcome]}")
    elif not unit_known:
        notes.append("unit not printed: values kept as printed (usable on ratio and standardised scales only)")

    n, n_source = _num(row["n"]), "analysed"
    if n is None and _num(row.get("n_allocated")) is not None and ev["n_fallback_allocated"]:
        n, n_source = _num(row["n_allocated"]), "allocated"
        notes.append(f"n = {n:g} allocated (analysed n not reported; config evidence.n_fallback_allocated)")
    elif n is None:
        n_source = ""
        reasons.append("n not reported")

    mean, sd = _num(row["mean"]), _num(row["sd"])
    get = {c: _num(row.get(c)) for c in ("se", "ci_low", "ci_high", "median", "q1", "q3", "min", "max")}
    quantiles = {k: get[c] for k, c in (("q1", "q1"), ("q3", "q3"), ("minimum", "min"), ("maximum", "max"))}
    if mean is None and get["median"] is not None:
        if n is not None and (get["q1"] is not None or get["min"] is not None):
            mean = conversions.mean_from_median(n, get["median"], **quantiles)
            notes.append(f"mean {mean:.6g} from median {get['median']:g} (Luo 2018), flagged derived")
        else:
            reasons.append("median without IQR/range and n: no mean can be derived")
    if sd is None:
        if get["se"] is not None and n is not None:
            sd = conversions.sd_from_se(get["se"], n)
            notes.append(f"SD {sd:.6g} = SE {get['se']:g} x sqrt({n:g})")
        elif get["ci_low"] is not None and n is not None:
            sd = conversions.sd_from_ci(get["ci_low"], get["ci_high"], n)
            notes.append(f"SD {sd:.6g} from 95% CI [{get['ci_low']:g}, {get['ci_high']:g}], t with {n - 1:g} df")
        elif (get["q1"] is not None or get["min"] is not None) and n is not None:
            sd = conversions.sd_from_median(n, **quantiles)
            notes.append(f"SD {sd:.6g} from IQR/range (Wan 2014), flagged derived")
        elif not reasons:
            reasons.append("no dispersion (SD, SE, CI, IQR or range) reported")
        elif "n not reported" in reasons and any(get[c] is not None for c in ("se", "ci_low", "q1", "min")):
            reasons.append("SE/CI/IQR cannot be turned into an SD without n")

    flags = flags_of(row)
    excluded = sorted(flags & set(ev["exclude_flags"]))
    if excluded:
        reasons.append(f"flagged {', '.join(excluded)} (config evidence.exclude_flags)")
    if ev["require_randomised"] and randomised != "yes":
        reasons.append(f"study randomised = {randomised} (config evidence.require_randomised)")

    return {
        "study_id": row["study_id"],
        "arm": row["arm"],
        "arm_class": arm_class(row),
        "outcome": outcome,
        "timepoint": row["timepoint"],
        "duration_weeks": _num(row["duration_weeks"]),
        "n": n,
        "n_source": n_source,
        "mean": None if mean is None else mean * factor,
        "sd": None if sd is None else sd * factor,
        "unit": vocab.CANONICAL_UNIT[outcome] if unit_known else "as printed",
        "unit_known": unit_known,
        "flags": ";".join(sorted(flags)),
        "derivation": "; ".join(notes),
        "usable": not reasons and mean is not None,
        "reason": "; ".join(reasons),
        "data_line": int(row[LINE]),
    }


def arm_changes(harmonised: pd.DataFrame, config: dict) -> pd.DataFrame:
    """Per arm and outcome: change from baseline (mean, SD) and log ratio end/baseline with its variance.

    Change SD, when not reported, is sqrt(sd_b^2 + sd_e^2 - 2 rho sd_b sd_e) with rho = config
    `harmonise.rho`. The log ratio of means end/baseline has variance (metafor ROMC)
    sd_e^2/(n m_e^2) + sd_b^2/(n m_b^2) - 2 rho sd_e sd_b/(n m_e m_b).
    When baseline, end and change SDs are all reported, the implied rho is returned in `rho_implied`.
    """
    rho = config["harmonise"]["rho"]
    records = []
    for (study, arm, outcome), group in harmonised.groupby(["study_id", "arm", "outcome"], sort=False):
        by = {row["timepoint"]: row for _, row in group.iterrows()}
        base, end, change = by.get("baseline"), by.get("end"), by.get("change")
        first = group.iloc[0]
        record = {
            "study_id": study,
            "arm": arm,
            "arm_class": first["arm_class"],
            "outcome": outcome,
            "duration_weeks": first["duration_weeks"],
            "unit": first["unit"],
            "unit_known": first["unit_known"],
            "n": np.nan,
            "baseline_mean": np.nan,
            "baseline_sd": np.nan,
            "end_mean": np.nan,
            "end_sd": np.nan,
            "change_mean": np.nan,
            "change_sd": np.nan,
            "change_sd_source": "",
            "log_ratio": np.nan,
            "log_ratio_var": np.nan,
            "rho_implied": np.nan,
        }
        reasons = list(dict.fromkeys(r["reason"] for r in by.values() if not r["usable"] and r["reason"]))
        ok = {k: r for k, r in by.items() if r["usable"]}
        base, end, change = ok.get("baseline"), ok.get("end"), ok.get("change")
        ns = [r["n"] for r in ok.values() if not pd.isna(r["n"])]
        record["n"] = min(ns) if ns else np.nan
        if base is not None:
            record.update(baseline_mean=base["mean"], baseline_sd=base["sd"])
        if end is not None:
            record.update(end_mean=end["mean"], end_sd=end["sd"])
        if change is not None:
            record.update(change_mean=change["mean"], change_sd=change["sd"], change_sd_source="reported")
        elif base is not None and end is not None:
            record["change_mean"] = end["mean"] - base["mean"]
            if not (pd.isna(base["sd"]) or pd.isna(end["sd"])):
                record["change_sd"] = conversions.change_sd(base["sd"], end["sd"], rho)
                record["change_sd_source"] = f"imputed with rho = {rho:g}"
        if base is not None and end is not None and base["mean"] > 0 and end["mean"] > 0:
            record["log_ratio"] = math.log(end["mean"] / base["mean"])
            n = record["n"]
            if not pd.isna(n) and not (pd.isna(base["sd"]) or pd.isna(end["sd"])):
                record["log_ratio_var"] = (
                    end["sd"] ** 2 / (n * end["mean"] ** 2)
                    + base["sd"] ** 2 / (n * base["mean"] ** 2)
                    - 2 * rho * end["sd"] * base["sd"] / (n * end["mean"] * base["mean"])
                )
        if base is not None and end is not None and change is not None and not pd.isna(change["sd"]):
            record["rho_implied"] = conversions.implied_correlation(base["sd"], end["sd"], change["sd"])
        record["reason"] = "; ".join(reasons)
        records.append(record)
    return pd.DataFrame.from_records(records)
