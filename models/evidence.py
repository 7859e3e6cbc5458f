"""The inositol/lifestyle evidence model: additive component effects seen through three kinds of evidence.

Latent effects live on the log ratio-of-means scale (change from baseline), per component c and outcome o
(o = HOMA-IR, fasting insulin). HOMA-IR = glucose x insulin / 22.5, so on the log scale a component's effect on
HOMA-IR is its effect on insulin plus its effect on glucose, up to the gap between a mean of products and a
product of means; this ties the two outcomes together:

    d_insulin[c] ~ Normal(0, component_sd)               c in inositol, metformin, exercise, diet, advice
    d_glucose[c] ~ Normal(0, glucose_sd)
    d_gap[c]     ~ Normal(0, gap_sd)
    d[c, HOMA]   = d_insulin[c] + d_glucose[c] + d_gap[c],    d[c, insulin] = d_insulin[c]
    d_int[o]     ~ Normal(0, interaction_sd)               inositol x lifestyle, beyond additivity
    Delta_j     = sum_c x[j, c] d[c, o_j]                  effect of comparison j (treatment minus comparator)

Pooled evidence (a meta-analysis' estimate of the mean effect, on its own scale):
    est_j ~ Normal(g_j, se_j),  g_j = Delta_j                       (ROM)
                                     (exp(Delta_j) - 1) / cv[o_j]    (SMD: ratio change over the outcome's CV)
                                     (exp(Delta_j) - 1) * base[o_j]  (MD, WMD: ratio change times baseline mean)
    cv[o]   ~ LogNormal(log cv_hat[o], cv_sd_log)      cv_hat: median SD/mean of the usable baseline arms
    base[o] ~ LogNormal(log base_hat[o], base_sd_log)  base_hat: median baseline mean of the usable arms

Arm-level contrasts (log ratio of change, study s), with meta-regression of the inositol effect on the study's
centred covariates z_s (log duration / reference, log baseline HOMA-IR / reference; 0 where unknown):
    y_s ~ Normal(theta_s, se_s),  theta_s ~ Normal(m_s, tau[o_s]),  m_s = Delta_s + x[s, inositol] (beta . z_s),
    tau[o] ~ HalfNormal(tau_scale),  beta ~ Normal(0, regression_sd)
The study effects theta_s are integrated out, y_s ~ Normal(m_s, sqrt(se_s^2 + tau^2)), so the model has no
parameter per study: adding a trial leaves its parameter space unchanged (see irsynth.updating), and the sampler
meets no funnel. Their posterior is drawn afterwards from the normal conditional (`study_effects`).
Pooled rows carry no covariates (their trials' durations and baselines are not recorded): they inform the effect
at the reference covariate values.

Control-arm drift (log end/baseline of a control arm a: regression to the mean, placebo response), plus the
effect of background lifestyle advice given to every arm of the trial (advice_a = 1; studies.csv background_advice):
    c_a ~ Normal(drift[o_a] + beta_advice[o_a] advice_a, sqrt(se_a^2 + sigma_drift^2)),
    drift[o], beta_advice[o] ~ Normal(0, drift_sd),  sigma_drift ~ HalfNormal(drift_sd)

Each likelihood term is present only when that kind of evidence exists. Every data value (designs, indices,
observations, cv_hat, base_hat) and the prior scales in SENSITIVITY_PRIORS are `pm.Data`: one compiled model serves
simulation checks, leave-one-out (a left-out observation gets a standard error of 1e6) and prior-sensitivity
refits, and the compiled graph does not depend on the data, so a re-fit after a trial is added finds it in the
compile cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

COMPONENTS = ("inositol", "metformin", "exercise", "diet", "advice")
OUTCOMES = ("homa_ir", "fasting_insulin")
# prior scales held in pm.Data, so that prior-sensitivity refits re-use the compiled model
SENSITIVITY_PRIORS = ("component_sd", "glucose_sd", "interaction_sd", "tau_scale", "drift_sd", "regression_sd")
COVARIATES = ("log_duration", "log_baseline_homa_ir")
MEASURE_CODES = {"ROM": 0, "SMD": 1, "MD": 2, "WMD": 2}


@dataclass
class EvidenceData:
    """Design and observations of the evidence model, one array per evidence kind."""

    outcomes: list[str]
    pooled_labels: list[str]
    pooled_x: np.ndarray  # (n_pooled, n_components)
    pooled_outcome: np.ndarray  # (n_pooled,) index into outcomes
    pooled_measure: np.ndarray  # (n_pooled,) MEASURE_CODES
    pooled_est: np.ndarray
    pooled_se: np.ndarray
    pooled_flags: list[str]
    pooled_comparisons: list[str]
    arm_labels: list[str]
    arm_comparisons: list[str]
    arm_x: np.ndarray
    arm_outcome: np.ndarray
    arm_y: np.ndarray
    arm_se: np.ndarray
    arm_covariates: np.ndarray  # (n_contrasts, len(COVARIATES)), centred; 0 where unknown
    drift_labels: list[str]
    drift_outcome: np.ndarray
    drift_y: np.ndarray
    drift_se: np.ndarray
    drift_advice: np.ndarray  # 1 where the trial gave background lifestyle advice to every arm
    cv_hat: np.ndarray  # (n_outcomes,)
    base_hat: np.ndarray  # (n_outcomes,)


def build_evidence_model(data: EvidenceData, priors: dict) -> pm.Model:
    if tuple(data.outcomes) != OUTCOMES:
        raise ValueError(f"the evidence model's outcomes are {OUTCOMES}, got {data.outcomes}")
    coords = {
        "component": list(COMPONENTS),
        "outcome": data.outcomes,
        "pooled": data.pooled_labels,
        "contrast": data.arm_labels,
        "control_arm": data.drift_labels,
        "covariate": list(COVARIATES),
    }
    with pm.Model(coords=coords) as model:
        scale = {name: pm.Data(name, float(priors[name])) for name in SENSITIVITY_PRIORS}
        d_insulin = pm.Normal("d_insulin", 0.0, scale["component_sd"], dims="component")
        d_glucose = pm.Normal("d_glucose", 0.0, scale["glucose_sd"], dims="component")
        d_gap = pm.Normal("d_gap", 0.0, priors["gap_sd"], dims="component")
        d = pm.Deterministic(
            "d", pt.stack([d_insulin + d_glucose + d_gap, d_insulin], axis=1), dims=("component", "outcome")
        )
        pm.Normal("d_int", 0.0, scale["interaction_sd"], dims="outcome")
        cv_hat = pm.Data("cv_hat", data.cv_hat, dims="outcome")
        base_hat = pm.Data("base_hat", data.base_hat, dims="outcome")
        cv = pm.LogNormal("cv", pt.log(cv_hat), priors["cv_sd_log"], dims="outcome")
        base = pm.LogNormal("base", pt.log(base_hat), priors["base_sd_log"], dims="outcome")
        drift = pm.Normal("drift", 0.0, scale["drift_sd"], dims="outcome")
        beta_advice = pm.Normal("beta_advice", 0.0, scale["drift_sd"], dims="outcome")
        beta = pm.Normal("beta", 0.0, scale["regression_sd"], dims="covariate")

        if len(data.pooled_labels):
            x = pm.Data("pooled_x", data.pooled_x, dims=("pooled", "component"))
            o = pm.Data("pooled_outcome", data.pooled_outcome, dims="pooled")
            delta = (x * d.T[o]).sum(axis=1)
            ratio = pt.exp(delta) - 1
            measure = pm.Data("pooled_measure", data.pooled_measure, dims="pooled")
            predicted = pt.switch(
                pt.eq(measure, 0), delta, pt.switch(pt.eq(measure, 1), ratio / cv[o], ratio * base[o])
            )
            pm.Deterministic("pooled_effect", delta, dims="pooled")
            se = pm.Data("pooled_se", data.pooled_se, dims="pooled")
            est = pm.Data("pooled_est", data.pooled_est, dims="pooled")
            pm.Normal("pooled_obs", predicted, se, observed=est, dims="pooled")

        if len(data.arm_labels):
            tau = pm.HalfNormal("tau", scale["tau_scale"], dims="outcome")
            x = pm.Data("arm_x", data.arm_x, dims=("contrast", "component"))
            o = pm.Data("arm_outcome", data.arm_outcome, dims="contrast")
            z = pm.Data("arm_covariates", data.arm_covariates, dims=("contrast", "covariate"))
            modifier = x[:, COMPONENTS.index("inositol")] * (z * beta).sum(axis=1)
            mean = pm.Deterministic("arm_mean", (x * d.T[o]).sum(axis=1) + modifier, dims="contrast")
            se = pm.Data("arm_se", data.arm_se, dims="contrast")
            y = pm.Data("arm_y", data.arm_y, dims="contrast")
            pm.Normal("arm_obs", mean, pt.sqrt(se**2 + tau[o] ** 2), observed=y, dims="contrast")

        if len(data.drift_labels):
            sigma_drift = pm.HalfNormal("sigma_drift", scale["drift_sd"])
            o = pm.Data("drift_outcome", data.drift_outcome, dims="control_arm")
            se = pm.Data("drift_se", data.drift_se, dims="control_arm")
            y = pm.Data("drift_y", data.drift_y, dims="control_arm")
            advice = pm.Data("drift_advice", data.drift_advice, dims="control_arm")
            mean = drift[o] + beta_advice[o] * advice
            pm.Normal("drift_obs", mean, pt.sqrt(se**2 + sigma_drift**2), observed=y, dims="control_arm")
    return model


def study_effects(trace, data: EvidenceData, seed: int) -> np.ndarray:
    """Posterior draws (draws x contrasts) of the study effects theta_s, from their normal conditional given the
    other parameters: theta_s | m_s, tau, y_s ~ Normal(m_s + B_s (y_s - m_s), sqrt(B_s se_s^2)), B_s = tau^2 / (tau^2 + se_s^2).
    """
    post = trace.posterior
    n = post.sizes["chain"] * post.sizes["draw"]
    mean = post["arm_mean"].values.reshape(n, -1)
    tau2 = post["tau"].values.reshape(n, -1)[:, data.arm_outcome] ** 2
    shrink = tau2 / (tau2 + data.arm_se**2)
    noise = np.random.default_rng(seed).standard_normal(mean.shape)
    return mean + shrink * (data.arm_y - mean) + np.sqrt(shrink) * data.arm_se * noise
