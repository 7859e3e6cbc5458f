"""Assembling the evidence model's data from the pipeline's tables, guarding overlap, and the decision layer.

The evidence set is explicit in config (`evidence_model.pooled`: which pooled rows are used) and reported. The
overlap guard refuses a set in which known trials would inform the model twice: two pooled rows for the same
comparison and outcome, or a trial used at arm level that a used pooled row is known to include.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from scipy import stats

from irsynth.effects import usable_effects
from irsynth.forest import forest_table
from models.evidence import COMPONENTS, COVARIATES, MEASURE_CODES, EvidenceData, build_evidence_model

CLASS_COMPONENTS = {
    "MI": ["inositol"],
    "DCI": ["inositol"],
    "MET": ["metformin"],
    "exercise": ["exercise"],
    "diet": ["diet"],
    "diet_exercise": ["diet", "exercise"],
    "advice": ["advice"],
}
SCENARIOS = {
    "no change": [],
    "inositol alone (lifestyle unchanged)": ["inositol"],
    "lifestyle alone (diet + exercise)": ["diet", "exercise"],
    "inositol + lifestyle": ["inositol", "diet", "exercise", "interaction"],
    "metformin": ["metformin"],
}


class OverlapError(ValueError):
    """The evidence set counts a trial twice."""


def class_vector(arm_class: str) -> np.ndarray:
    """Component indicator vector of an arm class such as 'MI+DCI', 'diet_exercise' or 'MI+diet'."""
    parts = [] if arm_class == "control" else [c for piece in arm_class.split("+") for c in CLASS_COMPONENTS[piece]]
    return np.array([1.0 if c in parts else 0.0 for c in COMPONENTS])


def comparison_vector(comparison: str, config: dict) -> np.ndarray:
    spec = config["comparisons"][comparison]
    return class_vector(spec["treatment"][0]) - class_vector(spec["comparator"][0])


def select_pooled(pooled: pd.DataFrame, config: dict) -> pd.DataFrame:
    """The pooled rows named in config `evidence_model.pooled`, each found exactly once and usable."""
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
        rows.append(row)
    return pd.DataFrame(rows).reset_index(drop=True)


def check_overlap(used_pooled: pd.DataFrame, arm_studies: list[str]) -> None:
    """Refuse an evidence set that counts a trial twice (see module docstring)."""
    problems = []
    for (comparison, outcome), group in used_pooled.groupby(["comparison", "outcome"]):
        if len(group) > 1:
            problems.append(
                f"{comparison}/{outcome}: pooled sources {', '.join(group['source_id'])} are used together; "
                "their included trials overlap or are unknown: use one"
            )
    for row in used_pooled.itertuples():
        included = {s.strip() for s in str(row.included_study_ids or "").split(";") if s.strip()}
        for study in sorted(included & set(arm_studies)):
            problems.append(
                f"{study} is used at arm level and is included in pooled source {row.source_id} ({row.outcome})"
            )
    if problems:
        raise OverlapError("evidence set counts trials twice:\n  " + "\n  ".join(problems))


def evidence_data(
    pooled: pd.DataFrame,
    contrasts: pd.DataFrame,
    changes: pd.DataFrame,
    config: dict,
    studies: pd.DataFrame | None = None,
) -> EvidenceData:
    settings = config["evidence_model"]
    outcomes = list(settings["outcomes"])
    index = {o: i for i, o in enumerate(outcomes)}
    used = select_pooled(pooled, config)
    used = used[used["outcome"].isin(outcomes)]
    arms = usable_effects(contrasts)
    arms = arms[arms["outcome"].isin(outcomes)] if settings["use_arm_contrasts"] else arms.iloc[0:0]
    check_overlap(used, arms["study_id"].tolist())
    controls = changes[
        (changes["arm_class"] == "control") & changes["log_ratio_var"].notna() & changes["outcome"].isin(outcomes)
    ]
    baseline = changes[
        changes["outcome"].isin(outcomes) & changes["baseline_mean"].notna() & changes["baseline_sd"].notna()
    ]
    cv_hat, base_hat = [], []
    for outcome in outcomes:
        rows = baseline[(baseline["outcome"] == outcome) & baseline["unit_known"].astype(bool)]
        if rows.empty:
            raise ValueError(f"no usable baseline arm for {outcome}: the SMD/MD measurement model has no anchor")
        cv_hat.append(float(np.median(rows["baseline_sd"] / rows["baseline_mean"])))
        base_hat.append(float(np.median(rows["baseline_mean"])))
    se = (used["ci_high"] - used["ci_low"]) / (2 * stats.norm.ppf(0.975))
    return EvidenceData(
        outcomes=outcomes,
        pooled_labels=[f"{r.source_id}:{r.outcome}" for r in used.itertuples()],
        pooled_x=np.array([comparison_vector(c, config) for c in used["comparison"]]).reshape(-1, len(COMPONENTS)),
        pooled_outcome=used["outcome"].map(index).to_numpy(int),
        pooled_measure=used["measure"].map(MEASURE_CODES).to_numpy(int),
        pooled_est=used["estimate"].to_numpy(float),
        pooled_se=se.to_numpy(float),
        pooled_flags=used["flags"].fillna("").astype(str).tolist(),
        pooled_comparisons=used["comparison"].tolist(),
        arm_labels=[f"{r.study_id}:{r.outcome}" for r in arms.itertuples()],
        arm_comparisons=arms["comparison"].tolist(),
        arm_x=np.array([comparison_vector(c, config) for c in arms["comparison"]]).reshape(-1, len(COMPONENTS)),
        arm_outcome=arms["outcome"].map(index).to_numpy(int),
        arm_y=arms["yi"].to_numpy(float),
        arm_se=np.sqrt(arms["vi"].to_numpy(float)),
        arm_covariates=arm_covariates(arms, changes, settings["regression"]).reshape(-1, len(COVARIATES)),
        drift_labels=[f"{r.study_id}/{r.arm}:{r.outcome}" for r in controls.itertuples()],
        drift_outcome=controls["outcome"].map(index).to_numpy(int),
        drift_y=controls["log_ratio"].to_numpy(float),
        drift_se=np.sqrt(controls["log_ratio_var"].to_numpy(float)),
        drift_advice=controls["study_id"].map(_advice(studies)).fillna(0.0).to_numpy(float),
        cv_hat=np.array(cv_hat),
        base_hat=np.array(base_hat),
    )


def covariates(duration_weeks: float, baseline_homa_ir: float | None, regression: dict) -> np.ndarray:
    """Centred covariates of the inositol meta-regression (0 for an unknown baseline HOMA-IR)."""
    homa = (
        0.0
        if baseline_homa_ir is None or np.isnan(baseline_homa_ir)
        else np.log(baseline_homa_ir / regression["reference_homa_ir"])
    )
    return np.array([np.log(duration_weeks / regression["reference_duration_weeks"]), homa])


def arm_covariates(arms: pd.DataFrame, changes: pd.DataFrame, regression: dict) -> np.ndarray:
    """Per arm contrast: duration, and the mean baseline HOMA-IR of its two arms where reported."""
    homa = changes[changes["outcome"] == "homa_ir"].set_index(["study_id", "arm"])["baseline_mean"]
    duration = changes.drop_duplicates(["study_id", "arm"]).set_index(["study_id", "arm"])["duration_weeks"]
    rows = []
    for row in arms.itertuples():
        keys = [(row.study_id, row.treatment_arm), (row.study_id, row.comparator_arm)]
        values = [homa[k] for k in keys if k in homa.index and not np.isnan(homa[k])]
        baseline = float(np.mean(values)) if values else np.nan
        rows.append(covariates(float(duration[keys[0]]), baseline, regression))
    return np.array(rows)


def _advice(studies: pd.DataFrame | None) -> dict[str, float]:
    """1.0 for studies whose every arm received background lifestyle advice (studies.csv background_advice = yes)."""
    if studies is None or "background_advice" not in studies:
        return {}
    return dict(zip(studies["study_id"], (studies["background_advice"].astype(str).str.lower() == "yes").astype(float)))


def scenario_effects(d: np.ndarray, d_int: np.ndarray, drift: np.ndarray, inositol_shift=0.0) -> dict[str, np.ndarray]:
    """Posterior draws of the log change of HOMA-IR under each scenario (draws x ...), drift included.

    `inositol_shift` (draws) is the meta-regression's change of the inositol effect for a patient profile."""
    by_name = {c: d[:, i] for i, c in enumerate(COMPONENTS)}
    by_name["inositol"] = by_name["inositol"] + inositol_shift
    by_name["interaction"] = d_int
    return {name: drift + sum((by_name[p] for p in parts), np.zeros_like(drift)) for name, parts in SCENARIOS.items()}


def decision_table(
    effects_of, profiles: list[dict], cutoffs: list[float], individual_sd: float, longest_weeks: float, seed: int
) -> pd.DataFrame:
    """Predicted HOMA-IR and P(HOMA-IR < cutoff) per scenario and profile, for the population mean and for a patient.

    `effects_of(profile)` gives the scenario draws of a profile (or pass one dict for every profile).
    Population mean: HOMA_after = HOMA_0 exp(effect); patient: exp(effect + e), e ~ Normal(0, individual_sd),
    the between-patient variation of the log change. Profiles longer than `longest_weeks` are marked.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for profile in profiles:
        effects = effects_of(profile) if callable(effects_of) else effects_of
        for scenario, draws in effects.items():
            log_mean = np.log(profile["homa_ir"]) + draws
            log_patient = log_mean + rng.normal(0.0, individual_sd, size=draws.shape)
            row = {
                "profile": profile["name"],
                "baseline_homa_ir": profile["homa_ir"],
                "scenario": scenario,
                "duration_weeks": profile["duration_weeks"],
                "extrapolation": profile["duration_weeks"] > longest_weeks,
                "homa_ir_median": float(np.exp(np.median(log_mean))),
                "homa_ir_q0.025": float(np.exp(np.quantile(log_mean, 0.025))),
                "homa_ir_q0.975": float(np.exp(np.quantile(log_mean, 0.975))),
            }
            for cutoff in cutoffs:
                row[f"p_mean_below_{cutoff:g}"] = float(np.mean(log_mean < np.log(cutoff)))
                row[f"p_patient_below_{cutoff:g}"] = float(np.mean(log_patient < np.log(cutoff)))
            rows.append(row)
    return pd.DataFrame(rows)


def individual_sd(changes: pd.DataFrame, setting) -> float:
    """Between-patient SD of the log change of HOMA-IR: config value, or the median change SD / baseline mean."""
    if setting != "derive":
        return float(setting)
    rows = changes[(changes["outcome"] == "homa_ir") & changes["change_sd"].notna() & changes["baseline_mean"].notna()]
    if rows.empty:
        raise ValueError("decision.individual_sd_log = derive, but no usable HOMA-IR arm has a change SD")
    return float(np.median(rows["change_sd"] / rows["baseline_mean"]))


def prior_sd(priors: dict) -> dict[str, float]:
    """Prior SD of d[c, o] for each outcome (HOMA-IR adds the glucose and gap terms)."""
    return {
        "homa_ir": float(np.sqrt(priors["component_sd"] ** 2 + priors["glucose_sd"] ** 2 + priors["gap_sd"] ** 2)),
        "fasting_insulin": float(priors["component_sd"]),
    }


def component_summary(trace, priors: dict, meaningful: float) -> pd.DataFrame:
    """Per component and outcome: ratio of means (posterior median, 95% CrI), P(any reduction), P(reduction >
    `meaningful`), and prior-to-posterior contraction 1 - var_post/var_prior (near 0: the data say little)."""
    d = trace.posterior["d"]
    sd0 = prior_sd(priors)
    rows = []
    for component in d.component.values:
        for outcome in d.outcome.values:
            draws = d.sel(component=component, outcome=outcome).values.ravel()
            rows.append(
                _effect_row(
                    {"component": str(component), "outcome": str(outcome)},
                    draws,
                    meaningful,
                    1 - draws.var() / sd0[str(outcome)] ** 2,
                )
            )
    combined = {
        "lifestyle (diet + exercise)": d.sel(component="diet") + d.sel(component="exercise"),
        "inositol minus metformin": d.sel(component="inositol") - d.sel(component="metformin"),
    }
    for name, values in combined.items():
        for outcome in d.outcome.values:
            draws = values.sel(outcome=outcome).values.ravel()
            rows.append(_effect_row({"component": name, "outcome": str(outcome)}, draws, meaningful, np.nan))
    return pd.DataFrame(rows)


def _effect_row(ident: dict, draws: np.ndarray, meaningful: float, contraction: float) -> dict:
    return {
        **ident,
        "ratio_median": float(np.exp(np.median(draws))),
        "ratio_q0.025": float(np.exp(np.quantile(draws, 0.025))),
        "ratio_q0.975": float(np.exp(np.quantile(draws, 0.975))),
        "p_any_reduction": float(np.mean(draws < 0)),
        f"p_reduction_over_{meaningful:g}": float(np.mean(draws < np.log(1 - meaningful))),
        "contraction": float(contraction),
    }


LEFT_OUT_SE = 1e6


def sensitivity_runs(data: EvidenceData, config: dict) -> list[tuple[str, str, dict]]:
    """(kind, name, pm.Data overrides) of every sensitivity refit: alternative priors, evidence flagged for risk of
    bias or conflicts of interest left out, and leave-one-out over pooled sources and arm-level studies."""
    settings = config["evidence_model"]
    runs = []
    for overrides in settings["prior_sensitivity"]:
        runs.append(
            (
                "prior",
                ", ".join(f"{k} = {v:g}" for k, v in overrides.items()),
                {k: float(v) for k, v in overrides.items()},
            )
        )
    for flag in settings["sensitivity_exclude_flags"]:
        mask = np.array([flag in flags.split(";") for flags in data.pooled_flags], dtype=bool)
        if mask.any():
            runs.append(
                (
                    "exclude flagged",
                    f"without pooled rows flagged {flag}",
                    {"pooled_se": np.where(mask, LEFT_OUT_SE, data.pooled_se)},
                )
            )
    for source in dict.fromkeys(label.split(":")[0] for label in data.pooled_labels):
        mask = np.array([label.split(":")[0] == source for label in data.pooled_labels])
        runs.append(("leave one out", f"without {source}", {"pooled_se": np.where(mask, LEFT_OUT_SE, data.pooled_se)}))
    for study in dict.fromkeys(label.split(":")[0] for label in data.arm_labels):
        mask = np.array([label.split(":")[0] == study for label in data.arm_labels])
        runs.append(("leave one out", f"without {study}", {"arm_se": np.where(mask, LEFT_OUT_SE, data.arm_se)}))
    return runs


def profile_effects(trace, profile: dict, regression: dict) -> dict[str, np.ndarray]:
    """Scenario draws of the log change of HOMA-IR for one patient profile (meta-regression shift included)."""
    post = trace.posterior
    homa = {
        n: post[n].sel(outcome="homa_ir").values.reshape(post.sizes["chain"] * post.sizes["draw"], -1)
        for n in ("d", "d_int", "drift")
    }
    beta = post["beta"].values.reshape(-1, len(COVARIATES))
    shift = beta @ covariates(profile["duration_weeks"], profile["homa_ir"], regression)
    return scenario_effects(homa["d"], homa["d_int"].ravel(), homa["drift"].ravel(), shift)


def headline_quantities(trace, decision: dict, regression: dict, individual_sd: float, seed: int) -> dict:
    """The few numbers a sensitivity table compares: inositol's effect on HOMA-IR, versus metformin, lifestyle's,
    and P(HOMA-IR < cut-off) for a patient of the first profile under inositol alone."""
    d = trace.posterior["d"].sel(outcome="homa_ir")
    inositol = d.sel(component="inositol").values.ravel()
    lifestyle = (d.sel(component="diet") + d.sel(component="exercise")).values.ravel()
    versus = (d.sel(component="inositol") - d.sel(component="metformin")).values.ravel()
    profile = decision["profiles"][0]
    effects = profile_effects(trace, profile, regression)
    table = decision_table(
        {"x": effects["inositol alone (lifestyle unchanged)"]},
        [profile],
        [decision["cutoff"]],
        individual_sd,
        np.inf,
        seed,
    )
    return {
        **_ratio_quantiles("inositol", inositol),
        "p_inositol_reduces": float(np.mean(inositol < 0)),
        **_ratio_quantiles("inositol_vs_metformin", versus),
        **_ratio_quantiles("lifestyle", lifestyle),
        f"p_patient_below_{decision['cutoff']:g}_inositol_alone": float(
            table.iloc[0][f"p_patient_below_{decision['cutoff']:g}"]
        ),
    }


def _ratio_quantiles(name: str, log_ratio: np.ndarray) -> dict[str, float]:
    ratio = np.exp(np.quantile(log_ratio, [0.5, 0.025, 0.975]))
    return {
        f"{name}_ratio_median": float(ratio[0]),
        f"{name}_ratio_q0.025": float(ratio[1]),
        f"{name}_ratio_q0.975": float(ratio[2]),
    }


def evidence_years(data: EvidenceData, used_pooled: pd.DataFrame, studies: pd.DataFrame | None) -> dict[str, float]:
    """Publication year of each evidence item (pooled source, trial contrast, control arm); NaN where unknown."""
    study_year = (
        {} if studies is None else dict(zip(studies["study_id"], pd.to_numeric(studies["year"], errors="coerce")))
    )
    pooled_year = dict(
        zip(
            used_pooled["source_id"] + ":" + used_pooled["outcome"], pd.to_numeric(used_pooled["year"], errors="coerce")
        )
    )
    years = {label: float(pooled_year.get(label, np.nan)) for label in data.pooled_labels}
    years |= {label: float(study_year.get(label.split(":")[0], np.nan)) for label in data.arm_labels}
    years |= {label: float(study_year.get(label.split("/")[0], np.nan)) for label in data.drift_labels}
    return years


def cumulative_runs(data: EvidenceData, years: dict[str, float]) -> list[tuple[int, list[str], dict]]:
    """(year, evidence first published that year, pm.Data overrides) of a cumulative meta-analysis: for each year in
    which evidence appeared, the evidence published up to then (items of unknown year count from the start)."""
    runs = []
    for year in sorted({int(y) for y in years.values() if np.isfinite(y)}):

        def later(labels):
            return np.array([np.isfinite(years[label]) and years[label] > year for label in labels], dtype=bool)

        overrides = {
            name: np.where(later(labels), LEFT_OUT_SE, se)
            for name, labels, se in (
                ("pooled_se", data.pooled_labels, data.pooled_se),
                ("arm_se", data.arm_labels, data.arm_se),
                ("drift_se", data.drift_labels, data.drift_se),
            )
            if len(labels)
        }
        runs.append((year, [label for label, y in years.items() if y == year], overrides))
    return runs


def run_evidence_model(
    pooled: pd.DataFrame,
    contrasts: pd.DataFrame,
    changes: pd.DataFrame,
    config: dict,
    studies: pd.DataFrame | None = None,
    cache_dir=None,
    fit_label: str = "",
) -> dict:
    """Fit the evidence model on the configured evidence set and derive every table the stage writes.

    Each run (primary, sensitivity, cumulative) is sampled by MCMC or, with `cache_dir`, updated from its last MCMC
    fit kept there (irsynth.updating); `fit_label` names this run's MCMC fits for later updates."""
    from irsynth.fitting import predictive_checks
    from irsynth.updating import IncrementalSampler

    settings, decision, sampling = config["evidence_model"], config["decision"], config["sampling"]
    data = evidence_data(pooled, contrasts, changes, config, studies)
    model = build_evidence_model(data, settings["priors"])
    names = [
        n
        for n in ("d", "d_int", "drift", "beta_advice", "beta", "cv", "base", "tau", "sigma_drift")
        if n in model.named_vars
    ]
    fits = IncrementalSampler(model, sampling, settings["update"], cache_dir, names, "evidence model", fit_label)
    primary = fits.fit("primary", sampling["on_gate_failure"])
    trace, warnings = primary.trace, list(primary.failures)

    effects_of = functools.partial(profile_effects, trace, regression=settings["regression"])
    arm_studies = [label.split(":")[0] for label in data.arm_labels]
    used_arms = changes[changes["study_id"].isin(arm_studies)]
    longest = float(used_arms["duration_weeks"].max()) if not used_arms.empty else 0.0
    sd_individual = individual_sd(changes, decision["individual_sd_log"])
    cutoffs = [decision["cutoff"], *decision["alternative_cutoffs"]]

    def refit(run: str, overrides: dict, on_failure: str) -> tuple[dict, list[str]]:
        """Headline quantities of a run with new pm.Data values, how it was fitted, and the gates it failed."""
        fit = fits.fit(run, on_failure, fallback_base="primary", **overrides)
        quantities = headline_quantities(fit.trace, decision, settings["regression"], sd_individual, sampling["seed"])
        return {**quantities, **fit.columns}, fit.failures

    sensitivity = [
        {
            "kind": "primary",
            "run": "primary analysis",
            **headline_quantities(trace, decision, settings["regression"], sd_individual, sampling["seed"]),
            **primary.columns,
        }
    ]
    for kind, name, overrides in sensitivity_runs(data, config):
        quantities, failed = refit(name, overrides, sampling["on_gate_failure"])
        warnings += failed
        sensitivity.append({"kind": kind, "run": name, **quantities})

    cumulative = []
    for year, added, overrides in cumulative_runs(data, evidence_years(data, select_pooled(pooled, config), studies)):
        # a refit on the early, sparse evidence may fail a gate: it is flagged in its row and the report, not dropped
        quantities, failed = refit(f"evidence up to {year}", overrides, "warn")
        warnings += failed
        cumulative.append(
            {
                "year": year,
                "added": "; ".join(added),
                "items": int(sum(np.sum(se < LEFT_OUT_SE) for se in overrides.values())),
                **quantities,
                "gates": "; ".join(f.split(": ", 1)[1] for f in failed) or "passed",
            }
        )

    checks, loo = predictive_checks(trace, model, sampling["seed"])
    evidence_set = pd.DataFrame(
        {
            "kind": ["pooled"] * len(data.pooled_labels)
            + ["arm contrast"] * len(data.arm_labels)
            + ["control-arm drift"] * len(data.drift_labels),
            "label": data.pooled_labels + data.arm_labels + data.drift_labels,
        }
    )
    return {
        "trace": trace,
        "warnings": warnings,
        "diagnostics": primary.diagnostics_table(),
        "components": component_summary(trace, settings["priors"], decision["meaningful_reduction"]),
        "decision": decision_table(effects_of, decision["profiles"], cutoffs, sd_individual, longest, sampling["seed"]),
        "regression": regression_summary(trace, settings["priors"]["regression_sd"]),
        "evidence_set": evidence_set,
        "checks": checks,
        "loo": loo,
        "sensitivity": pd.DataFrame(sensitivity),
        "cumulative": pd.DataFrame(cumulative),
        "forest": forest_table(trace, data, sampling["seed"]),
        "individual_sd_log": round(sd_individual, 6),
        "longest_trial_weeks": longest,
        "fit": primary.columns,
        "fits": fits.summary(),
        "log": (
            f"evidence model: {len(data.pooled_labels)} pooled rows, {len(data.arm_labels)} arm contrasts, "
            f"{len(data.drift_labels)} control arms; {len(sensitivity) - 1} sensitivity and {len(cumulative)} "
            f"cumulative runs besides the primary; fits: {fits.summary()} ({sum(m == 'unchanged' for m in fits.methods.values())} "
            f"stored fits re-used unchanged); primary: {primary.description}"
        ),
    }


def regression_summary(trace, prior_sd_value: float) -> pd.DataFrame:
    """Meta-regression coefficients of the inositol effect with their prior-to-posterior contraction."""
    beta = trace.posterior["beta"]
    rows = []
    for name in beta.covariate.values:
        draws = beta.sel(covariate=name).values.ravel()
        rows.append(
            {
                "covariate": str(name),
                "mean": float(draws.mean()),
                "q0.025": float(np.quantile(draws, 0.025)),
                "q0.975": float(np.quantile(draws, 0.975)),
                "contraction": float(1 - draws.var() / prior_sd_value**2),
            }
        )
    return pd.DataFrame(rows)
