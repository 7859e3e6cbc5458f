"""The decision layer: scenarios for a patient profile, the decision table and the headline quantities.

For a profile (baseline HOMA-IR H0, duration) and a scenario (a set of components), the log change of mean HOMA-IR
is drift + sum of the components' effects (+ the meta-regression's shift of the inositol effect for the profile's
duration and baseline HOMA-IR: an across-trial association, applied to a patient with that ecological caveat).

- Population mean: H = H0 exp(effect); uncertainty in the mean effect only.
- A patient in a new setting: H = H0 exp(effect + u + v + e): u ~ Normal(0, tau) the new setting's deviation of
  the treatment effect (scenarios with a treatment), v ~ Normal(0, sigma_drift) its deviation of the drift, and
  e ~ Normal(-s^2 / 2, s) the patient's own deviation, s = patient_sd_log (models.measurement.patient_sd_log), so
  that the patients' mean is the setting's mean (a log-normal whose mean is the predicted mean).
Profiles beyond the longest trial or outside the trials' baseline HOMA-IR range are marked as extrapolation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from irsynth.evidence_set import covariates
from irsynth.intervals import central_interval
from models.evidence_data import COVARIATES

SCENARIOS = {
    "no change": [],
    "inositol alone (lifestyle unchanged)": ["inositol"],
    "lifestyle alone (diet + exercise)": ["diet", "exercise"],
    "inositol + lifestyle": ["inositol", "diet", "exercise", "interaction"],
    "metformin": ["metformin"],
}
HOMA = "homa_ir"


def _draws(trace, name: str, **sel) -> np.ndarray:
    post = trace.posterior
    values = post[name].sel(**sel) if sel else post[name]
    return values.values.reshape(post.sizes["chain"] * post.sizes["draw"], -1).squeeze(-1)


def profile_effects(trace, profile: dict, regression: dict) -> dict[str, np.ndarray]:
    """Posterior draws of the log change of mean HOMA-IR under each scenario for one profile (drift included)."""
    d = trace.posterior["d"].sel(outcome=HOMA)
    terms = {str(c): _flat(d.sel(component=c)) for c in d.component.values}
    beta = trace.posterior["beta"].values.reshape(-1, len(COVARIATES))
    terms["inositol"] = terms["inositol"] + beta @ covariates(profile["duration_weeks"], profile["homa_ir"], regression)
    terms["interaction"] = _draws(trace, "d_int", outcome=HOMA)
    drift = _draws(trace, "drift", outcome=HOMA)
    return {name: drift + sum((terms[p] for p in parts), np.zeros_like(drift)) for name, parts in SCENARIOS.items()}


def _flat(values) -> np.ndarray:
    return values.values.ravel()


def patient_deviation(trace, scenario: str, seed: int) -> np.ndarray:
    """Draws of u + v + e (module docstring): a patient in a new setting, relative to the population mean."""
    rng = np.random.default_rng(seed)
    s = _draws(trace, "patient_sd_log", outcome=HOMA)
    deviation = rng.normal(-(s**2) / 2, s)
    post = trace.posterior
    if "sigma_drift" in post:
        deviation += _draws(trace, "sigma_drift") * rng.standard_normal(s.shape)
    if SCENARIOS[scenario] and "tau" in post:
        deviation += _draws(trace, "tau", outcome=HOMA) * rng.standard_normal(s.shape)
    return deviation


def decision_table(trace, profiles: list[dict], cutoffs: list[float], regression: dict, ranges: dict, seed: int):
    """Predicted HOMA-IR and P(HOMA-IR < cut-off) per scenario and profile, for the population mean and for a
    patient in a new setting. `ranges`: longest trial (weeks) and the trials' baseline HOMA-IR range."""
    rows = []
    for profile in profiles:
        effects = profile_effects(trace, profile, regression)
        beyond_duration = profile["duration_weeks"] > ranges["longest_weeks"]
        low, high = ranges["baseline_homa_ir"]
        outside_baseline = not (low <= profile["homa_ir"] <= high)
        for i, (scenario, draws) in enumerate(effects.items()):
            log_mean = np.log(profile["homa_ir"]) + draws
            log_patient = log_mean + patient_deviation(trace, scenario, seed + i)
            q = central_interval(log_mean, exp=True)
            row = {
                "profile": profile["name"],
                "baseline_homa_ir": profile["homa_ir"],
                "scenario": scenario,
                "duration_weeks": profile["duration_weeks"],
                "extrapolation": beyond_duration or outside_baseline,
                "extrapolation_reason": "; ".join(
                    reason
                    for reason, flag in (
                        (f"longer than the longest trial ({ranges['longest_weeks']:g} weeks)", beyond_duration),
                        (f"baseline HOMA-IR outside the arm-level trials' {low:g}-{high:g}", outside_baseline),
                    )
                    if flag
                ),
                "homa_ir_median": q.median,
                "homa_ir_q0.025": q.low,
                "homa_ir_q0.975": q.high,
            }
            for cutoff in cutoffs:
                row[f"p_mean_below_{cutoff:g}"] = float(np.mean(log_mean < np.log(cutoff)))
                row[f"p_patient_below_{cutoff:g}"] = float(np.mean(log_patient < np.log(cutoff)))
            rows.append(row)
    return pd.DataFrame(rows)


def ratio_quantiles(name: str, log_ratio: np.ndarray) -> dict[str, float]:
    ratio = central_interval(log_ratio, exp=True)
    return {f"{name}_ratio_median": ratio.median, f"{name}_ratio_q0.025": ratio.low, f"{name}_ratio_q0.975": ratio.high}


def headline_quantities(trace, decision: dict, regression: dict, ranges: dict, seed: int) -> dict:
    """The few numbers a sensitivity table compares: inositol's effect on HOMA-IR, versus metformin, lifestyle's,
    and P(HOMA-IR < cut-off) for a patient of the first profile under inositol alone."""
    d = trace.posterior["d"].sel(outcome=HOMA)
    inositol = _flat(d.sel(component="inositol"))
    lifestyle = _flat(d.sel(component="diet") + d.sel(component="exercise"))
    versus = _flat(d.sel(component="inositol") - d.sel(component="metformin"))
    table = decision_table(trace, decision["profiles"][:1], [decision["cutoff"]], regression, ranges, seed)
    alone = table[table["scenario"] == "inositol alone (lifestyle unchanged)"].iloc[0]
    return {
        **ratio_quantiles("inositol", inositol),
        "p_inositol_reduces": float(np.mean(inositol < 0)),
        **ratio_quantiles("inositol_vs_metformin", versus),
        **ratio_quantiles("lifestyle", lifestyle),
        f"p_patient_below_{decision['cutoff']:g}_inositol_alone": float(
            alone[f"p_patient_below_{decision['cutoff']:g}"]
        ),
    }


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
            draws = _flat(d.sel(component=component, outcome=outcome))
            contraction = 1 - draws.var() / sd0[str(outcome)] ** 2
            rows.append(_effect_row(str(component), str(outcome), draws, meaningful, contraction))
    d_int = trace.posterior["d_int"]
    combined = {
        "lifestyle (diet + exercise)": d.sel(component="diet") + d.sel(component="exercise"),
        "inositol minus metformin": d.sel(component="inositol") - d.sel(component="metformin"),
        "inositol x lifestyle interaction": d_int,
    }
    for name, values in combined.items():
        for outcome in d.outcome.values:
            draws = _flat(values.sel(outcome=outcome))
            contraction = 1 - draws.var() / priors["interaction_sd"] ** 2 if "interaction" in name else np.nan
            rows.append(_effect_row(name, str(outcome), draws, meaningful, contraction))
    return pd.DataFrame(rows)


def _effect_row(component: str, outcome: str, draws: np.ndarray, meaningful: float, contraction: float) -> dict:
    ratio = central_interval(draws, exp=True)
    return {
        "component": component,
        "outcome": outcome,
        "ratio_median": ratio.median,
        "ratio_q0.025": ratio.low,
        "ratio_q0.975": ratio.high,
        "p_any_reduction": float(np.mean(draws < 0)),
        f"p_reduction_over_{meaningful:g}": float(np.mean(draws < np.log(1 - meaningful))),
        "contraction": float(contraction),
    }


def regression_summary(trace, prior_sd_value: float) -> pd.DataFrame:
    """Meta-regression coefficients of the inositol effect with their prior-to-posterior contraction."""
    beta = trace.posterior["beta"]
    rows = []
    for name in beta.covariate.values:
        draws = _flat(beta.sel(covariate=name))
        q = central_interval(draws)
        rows.append({"covariate": str(name), "mean": float(draws.mean()), "q0.025": q.low, "q0.975": q.high,
                     "contraction": float(1 - draws.var() / prior_sd_value**2)})  # fmt: skip
    return pd.DataFrame(rows)


def scale_anchors(trace, data) -> pd.DataFrame:
    """Posterior of the scale anchors and the patients' SD of the log change, with the arms they rest on."""
    rows = []
    for name, arms in (("cv", "cv"), ("base", "base"), ("rho", "rho"), ("patient_sd_log", "cv")):
        for outcome in trace.posterior[name].outcome.values:
            draws = _draws(trace, name, outcome=outcome)
            q = central_interval(draws)
            rows.append({"quantity": name, "outcome": str(outcome), "median": q.median, "q0.025": q.low,
                         "q0.975": q.high, "from_arms": "; ".join(data.anchor_arms.get(arms, {}).get(str(outcome), []))
                         + ("; and rho" if name == "patient_sd_log" else "")})  # fmt: skip
    return pd.DataFrame(rows)
