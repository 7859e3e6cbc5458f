"""The evidence set of the evidence model: which rows it uses, how each is coded, and the overlap rule.

Importable without PyMC (`irsynth add` and `irsynth check` use it). The evidence set is explicit in config
(`evidence_model.pooled`) and reported with each pooled source's basis, outcome correlation and overlap status.

Overlap: a trial informs the model once, on its own or inside one pooled estimate. A trial listed in a pooled
source's `included_study_ids` is inside it; where the list is not known to be complete, an arm-level trial of the
same comparison and outcome published no later than the source's search date (its publication year when the search
date is unknown; a trial of unknown year always) is possibly inside it. Unknown is never read as none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from irsynth.effects import usable_effects
from irsynth.vocab import label
from models.evidence_data import (
    CONTRAST,
    CONTROL,
    COVARIATES,
    MEASURE_CODES,
    TERMS,
    EvidenceData,
)

CLASS_COMPONENTS = {
    "MI": ["inositol"],
    "DCI": ["inositol"],
    "MET": ["metformin"],
    "exercise": ["exercise"],
    "diet": ["diet"],
    "diet_exercise": ["diet", "exercise"],
    "advice": ["advice"],
}
BASIS_CHANGE_WEIGHT = {"change": 1.0, "post": 0.0}
ADVICE_PROBABILITY = {"yes": 1.0, "no": 0.0, "unclear": 0.5}
LISTED, POSSIBLE, NONE = "listed", "possible", "none"
# an arm's n where it is not reported: its log CV gets no small-sample correction
UNKNOWN_N = 1e6


class OverlapError(ValueError):
    """The evidence set counts a trial twice."""


def class_vector(arm_class: str) -> np.ndarray:
    """Design vector over TERMS of an arm class such as 'MI+DCI', 'diet_exercise' or 'MI+diet' ('control': 0)."""
    parts = set() if arm_class == "control" else {c for p in arm_class.split("+") for c in CLASS_COMPONENTS[p]}
    parts |= {"interaction"} if "inositol" in parts and parts & {"diet", "exercise"} else set()
    return np.array([1.0 if term in parts else 0.0 for term in TERMS])


def comparison_vector(comparison: str, config: dict, entry: dict | None = None) -> np.ndarray:
    """Treatment minus comparator design of a pooled comparison. Where the comparison's classes code differently
    (lifestyle: diet_exercise or advice), the config entry must say which class the source pooled."""
    spec, entry = config["comparisons"][comparison], entry or {}
    sides = []
    for side, key in (("treatment", "treatment_class"), ("comparator", "comparator_class")):
        classes = [entry[key]] if key in entry else spec[side]
        vectors = {tuple(class_vector(c)) for c in classes}
        if len(vectors) > 1:
            raise ValueError(
                f"evidence_model.pooled entry {entry.get('source_id')} ({comparison}): its {side} classes "
                f"{', '.join(classes)} code different components: add `{key}:` naming the one the source pooled"
            )
        sides.append(np.array(vectors.pop()))
    return sides[0] - sides[1]


def select_pooled(pooled: pd.DataFrame, config: dict) -> pd.DataFrame:
    """The pooled rows named in config `evidence_model.pooled`, each found exactly once, with its config entry."""
    rows = []
    for entry in config["evidence_model"]["pooled"]:
        match = pooled[(pooled["source_id"] == entry["source_id"]) & (pooled["outcome"] == entry["outcome"])]
        for key in ("analysis", "comparison"):
            if key in entry:
                match = match[match[key] == entry[key]]
        if len(match) != 1:
            raise ValueError(f"evidence_model.pooled entry {entry} matches {len(match)} rows of pooled.csv (need 1)")
        row = match.iloc[0]
        if pd.isna(row["ci_low"]) or pd.isna(row["ci_high"]):
            raise ValueError(f"pooled row {entry} has no complete CI and cannot be used")
        rows.append(row.to_dict() | {"entry": entry})
    return pd.DataFrame(rows, columns=[*pooled.columns, "entry"])


def check_overlap(used_pooled: pd.DataFrame) -> None:
    """Refuse two pooled sources for one comparison and outcome: their trials overlap or are unknown."""
    problems = [
        f"{comparison}/{outcome}: pooled sources {', '.join(group['source_id'])} are used together; "
        "their included trials overlap or are unknown: use one"
        for (comparison, outcome), group in used_pooled.groupby(["comparison", "outcome"])
        if len(group) > 1
    ]
    if problems:
        raise OverlapError("evidence set counts trials twice:\n  " + "\n  ".join(problems))


def _listed(row) -> set[str]:
    return {s.strip() for s in str(row.get("included_study_ids") or "").split(";") if s.strip()}


def _search_year(row) -> float:
    date = str(row.get("search_date") or "")
    year = pd.to_numeric(date[:4], errors="coerce") if date else np.nan
    return float(year) if np.isfinite(year) else float(pd.to_numeric(row.get("year"), errors="coerce"))


def overlap_status(study: str, study_year: float, comparison: str, outcome: str, used_pooled: pd.DataFrame):
    """(status, source_id) of an arm-level trial's comparison and outcome against the pooled rows in use:
    LISTED inside a source, POSSIBLE inside one (see module docstring), or NONE."""
    possible = None
    for row in used_pooled.to_dict("records"):
        if row["comparison"] != comparison or row["outcome"] != outcome:
            continue
        if study in _listed(row):
            return LISTED, row["source_id"]
        if str(row.get("included_studies_complete") or "") == "yes":
            continue
        search = _search_year(row)
        if not (np.isfinite(study_year) and np.isfinite(search)) or study_year <= search:
            possible = possible or row["source_id"]
    return (POSSIBLE, possible) if possible else (NONE, "")


def evidence_data(
    pooled: pd.DataFrame, contrasts: pd.DataFrame, changes: pd.DataFrame, studies: pd.DataFrame, config: dict
) -> EvidenceData:
    """Assemble the evidence model's blocks from the validated pooled rows, the effect sizes, the arm changes and
    the studies table (see models.evidence and models.evidence_data)."""
    settings = config["evidence_model"]
    outcomes = list(settings["outcomes"])
    used = select_pooled(pooled, config)
    used = used[used["outcome"].isin(outcomes)].reset_index(drop=True)
    check_overlap(used)
    arms = usable_effects(contrasts)
    arms = arms[arms["outcome"].isin(outcomes)] if settings["use_arm_contrasts"] else arms.iloc[0:0]
    years = dict(zip(studies["study_id"], pd.to_numeric(studies["year"], errors="coerce")))
    primary_possible = settings["overlap"]["primary"] == "pooled"
    pooled_part = _pooled_blocks(used, arms, years, config)
    arm_part = _arm_blocks(arms, changes, studies, used, years, primary_possible, config)
    anchors = _anchors(changes[changes["outcome"].isin(outcomes)], outcomes)
    return EvidenceData(outcomes=outcomes, **pooled_part, **arm_part, **anchors)


def _pooled_blocks(used: pd.DataFrame, arms: pd.DataFrame, years: dict, config: dict) -> dict:
    outcomes = config["evidence_model"]["outcomes"]
    z = ndtri(0.975)
    units = list(dict.fromkeys(zip(used["source_id"], used["comparison"])))
    shape = (len(units), len(outcomes))
    present, est, se, measure = np.zeros(shape), np.zeros(shape), np.ones(shape), np.zeros(shape, int)
    x, weight, basis, flags, overlap = [], [], [], [], []
    for u, (source, comparison) in enumerate(units):
        rows = used[(used["source_id"] == source) & (used["comparison"] == comparison)]
        entries = [e for e in rows["entry"] if {k: v for k, v in e.items() if k.endswith("_class")}]
        x.append(comparison_vector(comparison, config, entries[0] if entries else None))
        bases = set(rows["analysis"])
        if len(bases) > 1:
            raise ValueError(f"pooled source {source} ({comparison}): its rows in use mix analyses {sorted(bases)}")
        basis.append(bases.pop())
        weight.append(BASIS_CHANGE_WEIGHT.get(basis[-1], config["evidence_model"]["unknown_basis_change_weight"]))
        flags.append(";".join(sorted({f for fl in rows["flags"] for f in str(fl or "").split(";") if f})))
        for row in rows.itertuples():
            o = outcomes.index(row.outcome)
            present[u, o], est[u, o], measure[u, o] = 1.0, row.estimate, MEASURE_CODES[row.measure]
            se[u, o] = (row.ci_high - row.ci_low) / (2 * z)
        overlap.append(_pooled_overlap_text(rows, arms, years))
    return {
        "pooled_source": [s for s, _ in units],
        "pooled_comparison": [c for _, c in units],
        "pooled_flags": flags,
        "pooled_basis": basis,
        "pooled_overlap": overlap,
        "pooled_x": np.array(x).reshape(len(units), len(TERMS)),
        "pooled_present": present,
        "pooled_measure": measure,
        "pooled_est": est,
        "pooled_se": se,
        "pooled_change_weight": np.array(weight, float),
        "pooled_left_out": np.zeros(len(units)),
    }


def _pooled_overlap_text(rows: pd.DataFrame, arms: pd.DataFrame, years: dict) -> str:
    """How a pooled source's included trials are known, and which arm-level trials may be inside it."""
    row = rows.iloc[0]
    listed = sorted(set().union(*(_listed(r) for r in rows.to_dict("records"))))
    complete = str(row.get("included_studies_complete") or "")
    known = (
        f"included trials listed{' (complete)' if complete == 'yes' else ' (partial list)'}: {', '.join(listed)}"
        if listed
        else ("no included trial in the data (complete list)" if complete == "yes" else "included trials unknown")
    )
    inside = {}
    for arm in arms.itertuples():
        status, source = overlap_status(
            arm.study_id, years.get(arm.study_id, np.nan), arm.comparison, arm.outcome, rows
        )
        if status != NONE:
            inside.setdefault(status, set()).add(arm.study_id)
    notes = [f"{status} overlap with arm-level {', '.join(sorted(s))}" for status, s in sorted(inside.items())]
    return "; ".join([known, *notes])


def _arm_blocks(arms, changes, studies, used, years, primary_possible: bool, config: dict) -> dict:
    outcomes = config["evidence_model"]["outcomes"]
    regression = config["evidence_model"]["regression"]
    variance = changes.set_index(["study_id", "arm", "outcome"])["log_ratio_var"]
    classes = changes.drop_duplicates(["study_id", "arm"]).set_index(["study_id", "arm"])["arm_class"]
    controls = changes[
        (changes["arm_class"] == "control") & changes["log_ratio_var"].notna() & changes["outcome"].isin(outcomes)
    ]
    advice = dict(zip(studies["study_id"], studies["background_advice"].map(ADVICE_PROBABILITY)))
    study_ids = list(dict.fromkeys([*arms["study_id"], *controls["study_id"]]))
    blocks = []
    for study in study_ids:
        slots = []
        for row in arms[arms["study_id"] == study].itertuples():
            status, source = overlap_status(study, years.get(study, np.nan), row.comparison, row.outcome, used)
            x = class_vector(classes[(study, row.treatment_arm)]) - class_vector(classes[(study, row.comparator_arm)])
            slots.append({
                "kind": CONTRAST, "outcome": row.outcome, "y": row.yi, "x": x,
                "arms": {row.treatment_arm: 1.0, row.comparator_arm: -1.0},
                "label": f"{label(row.comparison)} ({row.treatment_arm} vs {row.comparator_arm}), {label(row.outcome)}",
                "comparison": row.comparison,
                "overlap": f"{status} in {source}" if source else "",
                "left_out": status == LISTED or (status == POSSIBLE and primary_possible),
                "z": _contrast_covariates(study, row, changes, regression),
            })  # fmt: skip
        for row in controls[controls["study_id"] == study].itertuples():
            slots.append({
                "kind": CONTROL, "outcome": row.outcome, "y": row.log_ratio, "x": np.zeros(len(TERMS)),
                "arms": {row.arm: 1.0}, "label": f"control arm {row.arm}, {label(row.outcome)}", "comparison": "",
                "overlap": "", "left_out": False, "z": np.zeros(len(COVARIATES)),
            })  # fmt: skip
        blocks.append(slots)
    k_max = max((len(b) for b in blocks), default=1)
    shape = (len(blocks), k_max)
    out = {
        "arm_kind": np.zeros(shape, int),
        "arm_outcome": np.zeros(shape, int),
        "arm_x": np.zeros((*shape, len(TERMS))),
        "arm_covariates": np.zeros((*shape, len(COVARIATES))),
        "arm_y": np.zeros(shape),
        "arm_cov_sampling": np.zeros((*shape, k_max)),
        "arm_cov_cross": np.zeros((*shape, k_max)),
        "arm_re_contrast": np.zeros((*shape, k_max)),
        "arm_re_control": np.zeros((*shape, k_max)),
        "arm_advice": np.zeros(shape),
        "arm_left_out": np.zeros(shape),
        "arm_slot_label": np.full(shape, "", dtype=object),
        "arm_comparison": np.full(shape, "", dtype=object),
        "arm_overlap": np.full(shape, "", dtype=object),
    }
    for s, (study, slots) in enumerate(zip(study_ids, blocks)):
        for k, slot in enumerate(slots):
            out["arm_kind"][s, k], out["arm_outcome"][s, k] = slot["kind"], outcomes.index(slot["outcome"])
            out["arm_x"][s, k], out["arm_covariates"][s, k], out["arm_y"][s, k] = slot["x"], slot["z"], slot["y"]
            out["arm_left_out"][s, k] = float(slot["left_out"])
            out["arm_advice"][s, k] = advice.get(study, 0.5) if slot["kind"] == CONTROL else 0.0
            out["arm_slot_label"][s, k], out["arm_comparison"][s, k] = slot["label"], slot["comparison"]
            out["arm_overlap"][s, k] = slot["overlap"]
            for m, other in enumerate(slots):
                shared = [(a, c * other["arms"][a]) for a, c in slot["arms"].items() if a in other["arms"]]
                for arm, sign in shared:
                    v = [variance[(study, arm, slot["outcome"])], variance[(study, arm, other["outcome"])]]
                    key = "arm_cov_sampling" if slot["outcome"] == other["outcome"] else "arm_cov_cross"
                    out[key][s, k, m] += sign * np.sqrt(v[0] * v[1])
                    if slot["kind"] == other["kind"] == CONTRAST:
                        out["arm_re_contrast"][s, k, m] += 0.5 * sign
                if slot["kind"] == other["kind"] == CONTROL:
                    out["arm_re_control"][s, k, m] = 1.0
    return {"arm_study": study_ids, **out}


def _contrast_covariates(study: str, row, changes: pd.DataFrame, regression: dict) -> np.ndarray:
    """Centred covariates of a contrast: its duration, and the mean baseline HOMA-IR of its two arms if reported."""
    rows = changes[(changes["study_id"] == study) & changes["arm"].isin([row.treatment_arm, row.comparator_arm])]
    homa = rows.loc[rows["outcome"] == "homa_ir", "baseline_mean"].dropna()
    return covariates(float(rows["duration_weeks"].iloc[0]), float(homa.mean()) if len(homa) else None, regression)


def covariates(duration_weeks: float, baseline_homa_ir: float | None, regression: dict) -> np.ndarray:
    """Centred covariates of the inositol meta-regression (0 for an unknown baseline HOMA-IR)."""
    homa = (
        0.0
        if baseline_homa_ir is None or np.isnan(baseline_homa_ir)
        else np.log(baseline_homa_ir / regression["reference_homa_ir"])
    )
    return np.array([np.log(duration_weeks / regression["reference_duration_weeks"]), homa])


def _anchors(changes: pd.DataFrame, outcomes: list[str]) -> dict:
    """Scale-anchor observations: each arm's log(SD/mean) at baseline and end, log baseline mean (known units),
    and Fisher z of its implied baseline-end correlation (arms reporting baseline, end and change SDs)."""
    o = changes["outcome"].map({name: i for i, name in enumerate(outcomes)})
    n = pd.to_numeric(changes["n"], errors="coerce")
    cv_rows = []
    for time in ("baseline", "end"):
        ok = changes[f"{time}_mean"].gt(0) & changes[f"{time}_sd"].gt(0)
        part = changes[ok]
        cv_rows.append(pd.DataFrame({
            "y": np.log(part[f"{time}_sd"] / part[f"{time}_mean"]), "o": o[ok], "n": n[ok].fillna(UNKNOWN_N),
            "study": part["study_id"],
            "arm": part["study_id"] + "/" + part["arm"],
        }))  # fmt: skip
    cv = pd.concat(cv_rows)
    base_ok = changes["baseline_mean"].gt(0) & changes["unit_known"].astype(bool)
    arm_key = changes["study_id"] + "/" + changes["arm"]
    rho_ok = changes["rho_implied"].notna() & n.gt(3) & changes["rho_implied"].abs().lt(1)
    return {
        "cv_y": cv["y"].to_numpy(float),
        "cv_outcome": cv["o"].to_numpy(int),
        "cv_n": cv["n"].to_numpy(float),
        "cv_study": cv["study"].tolist(),
        "base_y": np.log(changes.loc[base_ok, "baseline_mean"]).to_numpy(float),
        "base_outcome": o[base_ok].to_numpy(int),
        "base_study": changes.loc[base_ok, "study_id"].tolist(),
        "rho_y": np.arctanh(changes.loc[rho_ok, "rho_implied"]).to_numpy(float),
        "rho_se": (1 / np.sqrt(n[rho_ok] - 3)).to_numpy(float),
        "rho_outcome": o[rho_ok].to_numpy(int),
        "rho_study": changes.loc[rho_ok, "study_id"].tolist(),
        "anchor_arms": {
            "cv": _arms_by_outcome(cv["arm"], cv["o"], outcomes),
            "base": _arms_by_outcome(arm_key[base_ok], o[base_ok], outcomes),
            "rho": _arms_by_outcome(arm_key[rho_ok], o[rho_ok], outcomes),
        },
    }


def _arms_by_outcome(arms: pd.Series, outcome: pd.Series, outcomes: list[str]) -> dict[str, list[str]]:
    return {name: sorted(set(arms[outcome == i])) for i, name in enumerate(outcomes)}


def evidence_table(data: EvidenceData, correlation: float) -> pd.DataFrame:
    """The evidence used, one row per pooled estimate and per arm-level slot: its source, comparison, outcome and
    basis, the outcome correlation used, its overlap status, and whether the primary analysis uses it."""
    rows = [
        {
            "kind": "pooled",
            "label": f"{source}: {label(comparison)}, {label(outcome)}",
            "source_id": source,
            "comparison": comparison,
            "outcome": outcome,
            "analysis": data.pooled_basis[j],
            "outcome_correlation": correlation if data.pooled_present[j].sum() > 1 else np.nan,
            "overlap": data.pooled_overlap[j],
            "used": "yes",
        }
        for j, (source, comparison) in enumerate(zip(data.pooled_source, data.pooled_comparison))
        for outcome, present in zip(data.outcomes, data.pooled_present[j])
        if present
    ]
    for s, study in enumerate(data.arm_study):
        for k, slot in enumerate(data.arm_slot_label[s]):
            if not slot:
                continue
            contrast = data.arm_kind[s, k] == CONTRAST
            rows.append({
                "kind": "arm contrast" if contrast else "control-arm drift",
                "label": f"{study}: {slot}",
                "source_id": study,
                "comparison": data.arm_comparison[s, k],
                "outcome": data.outcomes[data.arm_outcome[s, k]],
                "analysis": "change",
                "outcome_correlation": correlation,
                "overlap": data.arm_overlap[s, k],
                "used": "no (counted inside the pooled source)" if data.arm_left_out[s, k] else "yes",
            })  # fmt: skip
    return pd.DataFrame(rows)
