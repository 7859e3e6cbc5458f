"""The inositol/lifestyle evidence model: additive component effects seen through three kinds of evidence.

Latent effects live on the log ratio-of-means scale, per design term t (components inositol, metformin, exercise,
diet, advice; and inositol x lifestyle beyond additivity) and outcome o (HOMA-IR, fasting insulin).
HOMA-IR = glucose x insulin / 22.5, so a component's effect on log HOMA-IR is its effect on insulin plus its effect
on glucose, up to the gap between a mean of products and a product of means; this ties the two outcomes:

    d_insulin[c] ~ Normal(0, component_sd),  d_glucose[c] ~ Normal(0, glucose_sd),  d_gap[c] ~ Normal(0, gap_sd)
    d[c, HOMA] = d_insulin[c] + d_glucose[c] + d_gap[c],   d[c, insulin] = d_insulin[c]
    d_int[o] ~ Normal(0, interaction_sd);   Delta_j[o] = sum_t x[j, t] d[t, o]   (x: treatment minus comparator)

Scale anchors, estimated from the arm-level rows (models.measurement gives the maps that use them):
    cv[o] ~ LogNormal(log cv_median[o], cv_sd_log),      log(SD/mean)_a ~ Normal(E[log CV_a | cv[o_a], n_a], s_arm)
    base[o] ~ LogNormal(log base_median[o], base_sd_log), log(baseline mean)_a ~ Normal(log base[o_a], s_arm)
    rho[o] ~ Beta(rho_mean k, (1 - rho_mean) k)
    atanh(rho implied)_a ~ Normal(atanh rho[o_a], sqrt(1/(n_a - 3) + rho_between_sd^2))
    E[log CV | cv, n]: the small-sample bias of a log-normal arm's log(SD/mean) (expected_log_cv)
    s_arm = between_arm_sd_log (config: a handful of arms cannot estimate it; each arm is one observation, so the
    anchors' uncertainty shrinks as arms are added)
    patient_sd_log[o] = sqrt(log(1 + cv^2) 2 (1 - rho))   (SD of a patient's log change; models.measurement)

Pooled evidence, one bivariate block per (source, comparison) over the outcomes it reports:
    est_j ~ MvNormal(g_j, S_j),  g_j[o] = map_j[o](Delta_j[o])     (ROM, MD, SMD of end values or of change scores)
    S_j[o, o'] = se_j[o] se_j[o'] (1 if o = o' else r) + s_j[o] s_j[o']
An SMD whose basis the source does not state is a two-point mixture over the bases (P(change) = w), replaced by its
moments: mean w g_change + (1 - w) g_end, spread s_j = sqrt(w (1 - w)) (g_change - g_end), shared by both
outcomes (one source, one basis). r is the within-source correlation of the two outcomes' estimates (Riley 2009).

Arm-level evidence, one block per trial over its contrasts k (log ratio of change, arms T vs C) and control arms a:
    y_s ~ MvNormal(m_s, V_s + R_s)
    m[k] = Delta_k[o_k] + x[k, inositol] (beta . z_s);   m[a] = drift[o_a] + beta_advice[o_a] p_s
    V_s: sampling covariance of the slots as linear combinations of the arms' log changes (a shared arm enters
         every contrast it is in; one arm's two outcomes correlate by r)
    R_s[k, l] = tau[o_k] tau[o_l] r_kl c_kl    (c = 1 same contrast, 1/2 sharing an arm: multi-arm consistency)
    R_s[a, a'] = sigma_drift^2 r_aa' + p_s (1 - p_s) beta_advice[o_a] beta_advice[o_a']   (same trial's controls)
    with r_kl = 1 for one outcome and r between outcomes; p_s = 1, 0 or 0.5 when the trial's background advice is
    unclear (its two-point uncertainty replaced by its moments, as for the basis).
    tau[o] ~ HalfNormal(tau_scale), beta ~ Normal(0, regression_sd), drift[o], beta_advice[o] ~ Normal(0, drift_sd),
    sigma_drift ~ HalfNormal(drift_sd)
Study effects are integrated out, so a new trial adds data but no parameter (irsynth.updating); `study_effects`
draws the contrasts' effects afterwards from their conditional normal. Padding slots have mean 0, observation 0
and variance 1/(2 pi), so they add exactly 0 to the log likelihood. A left-out observation gets variance 1e12.

Each likelihood term is present only when that kind of evidence exists. Every data value and the prior scales in
SENSITIVITY_PRIORS are `pm.Data`: one compiled model serves every refit and simulation, and the compiled graph does
not depend on the data.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from models import measurement
from models.evidence_data import (
    COMPONENTS,
    CONTRAST,
    CONTROL,
    COVARIATES,
    LEFT_OUT_VAR,
    OUTCOMES,
    PAD,
    TERMS,
    EvidenceData,
)

# prior scales and data-level settings held in pm.Data, so that sensitivity refits re-use the compiled model
SENSITIVITY_PRIORS = (
    "component_sd",
    "glucose_sd",
    "interaction_sd",
    "tau_scale",
    "drift_sd",
    "regression_sd",
    "rho_mean",
    "rho_concentration",
)
PAD_VAR = 1 / (2 * np.pi)


def block_normal_logp(value, mean, cov, k: int):
    """Log density of independent multivariate-normal blocks (..., k): a Cholesky factorisation and forward
    substitution unrolled over the k slots, so that the graph is elementwise over blocks (fast to compile and to
    differentiate for the few slots a trial has)."""
    r = value - mean
    chol = [[None] * k for _ in range(k)]
    z, log_det, quad = [None] * k, 0.0, 0.0
    for i in range(k):
        for j in range(i + 1):
            s = cov[..., i, j] - sum((chol[i][m] * chol[j][m] for m in range(j)), 0.0)
            chol[i][j] = pt.sqrt(s) if i == j else s / chol[j][j]
        z[i] = (r[..., i] - sum((chol[i][m] * z[m] for m in range(i)), 0.0)) / chol[i][i]
        log_det = log_det + pt.log(chol[i][i])
        quad = quad + z[i] ** 2
    return -0.5 * quad - log_det - 0.5 * k * np.log(2 * np.pi)


def _block_normal_random(mean, cov, rng=None, size=None):
    shape = (*size, mean.shape[-1]) if size else mean.shape
    noise = rng.standard_normal(shape)
    return mean + (np.linalg.cholesky(cov) @ noise[..., None])[..., 0]


def _block_normal(name: str, mean, cov, observed, dims):
    """Observed independent multivariate-normal blocks (see block_normal_logp)."""
    mean.name, cov.name = f"{name}_mean_vector", f"{name}_cov"
    k = int(observed.get_value().shape[-1])
    return pm.CustomDist(
        name,
        mean,
        cov,
        logp=lambda value, m, c: block_normal_logp(value, m, c, k),
        random=_block_normal_random,
        signature="(k),(k,k)->(k)",
        observed=observed,
        dims=dims,
    )


def _block_cov(core, present, left_out):
    """Covariance of padded blocks: `core` within present slots, 1/(2 pi) on padding, 1e12 added where left out."""
    mask = present[..., :, None] * present[..., None, :]
    eye = pt.eye(present.shape[-1])
    return mask * core + eye * ((1 - present) * PAD_VAR + left_out * LEFT_OUT_VAR)[..., None, :]


def build_evidence_model(data: EvidenceData, priors: dict, outcome_correlation: float) -> pm.Model:
    if tuple(data.outcomes) != OUTCOMES:
        raise ValueError(f"the evidence model's outcomes are {OUTCOMES}, got {data.outcomes}")
    anchors = priors["anchors"]
    coords = {
        "component": list(COMPONENTS),
        "term": list(TERMS),
        "outcome": data.outcomes,
        "pooled": data.pooled_labels,
        "study": data.arm_study,
        "slot": list(range(data.arm_kind.shape[1])),
        "covariate": list(COVARIATES),
    }
    with pm.Model(coords=coords) as model:
        scale = {name: pm.Data(name, float(priors[name])) for name in SENSITIVITY_PRIORS}
        r = pm.Data("outcome_correlation", float(outcome_correlation))
        d_insulin = pm.Normal("d_insulin", 0.0, scale["component_sd"], dims="component")
        d_glucose = pm.Normal("d_glucose", 0.0, scale["glucose_sd"], dims="component")
        d_gap = pm.Normal("d_gap", 0.0, priors["gap_sd"], dims="component")
        d = pm.Deterministic(
            "d", pt.stack([d_insulin + d_glucose + d_gap, d_insulin], axis=1), dims=("component", "outcome")
        )
        d_int = pm.Normal("d_int", 0.0, scale["interaction_sd"], dims="outcome")
        effects = pt.concatenate([d, d_int[None, :]], axis=0)  # (term, outcome)
        drift = pm.Normal("drift", 0.0, scale["drift_sd"], dims="outcome")
        beta_advice = pm.Normal("beta_advice", 0.0, scale["drift_sd"], dims="outcome")
        beta = pm.Normal("beta", 0.0, scale["regression_sd"], dims="covariate")

        cv = pm.LogNormal(
            "cv", np.log([anchors["cv_median"][o] for o in OUTCOMES]), anchors["cv_sd_log"], dims="outcome"
        )
        base = pm.LogNormal(
            "base", np.log([anchors["base_median"][o] for o in OUTCOMES]), anchors["base_sd_log"], dims="outcome"
        )
        k = scale["rho_concentration"]
        rho = pm.Beta("rho", scale["rho_mean"] * k, (1 - scale["rho_mean"]) * k, dims="outcome")
        pm.Deterministic("patient_sd_log", measurement.patient_sd_log(cv, rho, xp=pt), dims="outcome")
        _anchor_terms(data, anchors, cv, base, rho)

        if len(data.pooled_source):
            x = pm.Data("pooled_x", data.pooled_x, dims=("pooled", "term"))
            delta = pm.Deterministic("pooled_effect", x @ effects, dims=("pooled", "outcome"))
            measure = pm.Data("pooled_measure", data.pooled_measure, dims=("pooled", "outcome"))
            w = pm.Data("pooled_change_weight", data.pooled_change_weight, dims="pooled")[:, None]
            g_change = measurement.smd_change(delta, drift, cv, rho, xp=pt)
            g_end = measurement.smd_end(delta, cv, xp=pt)
            g_md = measurement.mean_difference(delta, drift, base, xp=pt)
            g_smd = w * g_change + (1 - w) * g_end
            present = pm.Data("pooled_present", data.pooled_present, dims=("pooled", "outcome"))
            mean = present * pt.switch(pt.eq(measure, 0), delta, pt.switch(pt.eq(measure, 1), g_smd, g_md))
            spread = pt.switch(pt.eq(measure, 1), pt.sqrt(w * (1 - w)) * (g_change - g_end), 0.0)
            se = pm.Data("pooled_se", data.pooled_se, dims=("pooled", "outcome"))
            n_out = len(OUTCOMES)
            corr = pt.switch(pt.eq(pt.arange(n_out)[:, None], pt.arange(n_out)[None, :]), 1.0, r)
            left_out = pm.Data("pooled_left_out", data.pooled_left_out, dims="pooled")
            core = se[:, :, None] * se[:, None, :] * corr + spread[:, :, None] * spread[:, None, :]
            cov = _block_cov(core, present, left_out[:, None] * present)
            pm.Deterministic("pooled_mean", mean, dims=("pooled", "outcome"))
            est = pm.Data("pooled_est", data.pooled_est, dims=("pooled", "outcome"))
            _block_normal("pooled_obs", mean, cov, est, ("pooled", "outcome"))

        if len(data.arm_study):
            mean, cov, _ = arm_moments(
                data, effects, drift, beta_advice, beta, r, scale["tau_scale"], scale["drift_sd"]
            )
            pm.Deterministic("arm_mean", mean, dims=("study", "slot"))
            y = pm.Data("arm_y", data.arm_y, dims=("study", "slot"))
            _block_normal("arm_obs", mean, cov, y, ("study", "slot"))
    return model


def arm_moments(data, effects, drift, beta_advice, beta, r, tau_scale, drift_sd):
    """Mean, covariance and random-effect covariance of the contrast slots, of every arm-level block (S, K[, K])."""
    tau = pm.HalfNormal("tau", tau_scale, dims="outcome")
    sigma_drift = pm.HalfNormal("sigma_drift", drift_sd)
    x = pm.Data("arm_x", data.arm_x, dims=("study", "slot", "term"))
    o = pm.Data("arm_outcome", data.arm_outcome, dims=("study", "slot"))
    kind = pm.Data("arm_kind", data.arm_kind, dims=("study", "slot"))
    z = pm.Data("arm_covariates", data.arm_covariates, dims=("study", "slot", "covariate"))
    advice = pm.Data("arm_advice", data.arm_advice, dims=("study", "slot"))
    contrast = (x * effects.T[o]).sum(axis=-1) + x[..., TERMS.index("inositol")] * (z * beta).sum(axis=-1)
    control = drift[o] + beta_advice[o] * advice
    mean = pt.switch(pt.eq(kind, CONTRAST), contrast, pt.switch(pt.eq(kind, CONTROL), control, 0.0))
    corr = pt.switch(pt.eq(o[..., :, None], o[..., None, :]), 1.0, r)
    re_contrast = pm.Data("arm_re_contrast", data.arm_re_contrast, dims=("study", "slot", "slot2"))
    re_control = pm.Data("arm_re_control", data.arm_re_control, dims=("study", "slot", "slot2"))
    t = tau[o]
    b = beta_advice[o] * pt.sqrt(advice * (1 - advice))
    re = t[..., :, None] * t[..., None, :] * corr * re_contrast
    re.name = "arm_re"
    control_re = sigma_drift**2 * corr * re_control + b[..., :, None] * b[..., None, :] * re_control
    sampling = pm.Data("arm_cov_sampling", data.arm_cov_sampling, dims=("study", "slot", "slot2")) + r * pm.Data(
        "arm_cov_cross", data.arm_cov_cross, dims=("study", "slot", "slot2")
    )
    present = pt.neq(kind, PAD)
    left_out = pm.Data("arm_left_out", data.arm_left_out, dims=("study", "slot"))
    cov = _block_cov(sampling + re + control_re, present, left_out * present)
    return mean, cov, re


# the delta-method correction of an arm's log CV is evaluated at CV <= KURTOSIS_CV_CAP and n >= MIN_CORRECTION_N:
# beyond them it is unreliable, and it made the expectation fall again as CV grows, so that two CVs explained one arm
# (a bimodal posterior, seen after adding a trial); within them E[log CV] rises with cv
KURTOSIS_CV_CAP, MIN_CORRECTION_N = 0.7, 10


def expected_log_cv(cv, n, xp=np):
    """E[log(s / mean)] of an arm of n log-normal values with coefficient of variation cv (delta method): the sample
    SD and mean of skewed values give a log CV biased low by about (2 / (n - 1) + kurtosis / n) / 4 - cv^2 / (2 n),
    5% at n = 30 and cv = 0.5 (cv and n bounded as above, so that the expectation increases with cv)."""
    c, n = xp.minimum(cv, KURTOSIS_CV_CAP), xp.maximum(n, MIN_CORRECTION_N)
    s2 = xp.log1p(c**2)
    kurtosis = xp.exp(4 * s2) + 2 * xp.exp(3 * s2) + 3 * xp.exp(2 * s2) - 6
    return xp.log(cv) - (2 / (n - 1) + kurtosis / n) / 4 + c**2 / (2 * n)


def _anchor_terms(data: EvidenceData, anchors: dict, cv, base, rho) -> None:
    """Each arm's log(SD/mean), log baseline mean and implied baseline-end correlation, observed."""
    spread = anchors["between_arm_sd_log"]
    if len(data.cv_y):
        o = pm.Data("cv_outcome", data.cv_outcome)
        n = pm.Data("cv_n", data.cv_n)
        out = pm.Data("cv_left_out", np.zeros(len(data.cv_y)))
        sd = pt.sqrt(spread**2 + out * LEFT_OUT_VAR)
        pm.Normal("cv_obs", expected_log_cv(cv[o], n, xp=pt), sd, observed=pm.Data("cv_y", data.cv_y))
    if len(data.base_y):
        o = pm.Data("base_outcome", data.base_outcome)
        out = pm.Data("base_left_out", np.zeros(len(data.base_y)))
        sd = pt.sqrt(spread**2 + out * LEFT_OUT_VAR)
        pm.Normal("base_obs", pt.log(base[o]), sd, observed=pm.Data("base_y", data.base_y))
    if len(data.rho_y):
        o = pm.Data("rho_outcome", data.rho_outcome)
        out = pm.Data("rho_left_out", np.zeros(len(data.rho_y)))
        se = pm.Data("rho_se", data.rho_se)
        sd = pt.sqrt(se**2 + anchors["rho_between_sd"] ** 2 + out * LEFT_OUT_VAR)
        pm.Normal("rho_obs", pt.arctanh(rho[o]), sd, observed=pm.Data("rho_y", data.rho_y))


def study_effects(trace, data: EvidenceData, model: pm.Model, seed: int, max_draws: int = 2000) -> np.ndarray:
    """Posterior draws (draws x S x K, NaN outside contrast slots) of the contrasts' study effects theta = m + u,
    u | y ~ Normal(R V^-1 (y - m), R - R V^-1 R) within each trial's block (V: the block's marginal covariance,
    R: its random effects), at up to `max_draws` posterior draws."""
    post = trace.posterior
    n = post.sizes["chain"] * post.sizes["draw"]
    take = np.sort(np.random.default_rng(seed).choice(n, size=min(n, max_draws), replace=False))
    rng = np.random.default_rng(seed + 1)
    moments, free = _arm_block_moments(model)
    draws = [free[name](post[name].values.reshape(n, *post[name].shape[2:])[take]) for name in free]
    out = np.full((len(take), *data.arm_y.shape), np.nan)
    for i in range(len(take)):
        mean, cov, re = moments(*(values[i] for values in draws))
        gain = np.linalg.solve(cov, re).transpose(0, 2, 1)  # R V^-1 (V and R symmetric)
        cond_mean = mean + np.einsum("skl,sl->sk", gain, data.arm_y - mean)
        cond_cov = re - gain @ re + 1e-12 * np.eye(re.shape[-1])
        noise = np.linalg.cholesky(cond_cov) @ rng.standard_normal((*data.arm_y.shape, 1))
        out[i] = cond_mean + noise[..., 0]
    return np.where(data.arm_kind == CONTRAST, out, np.nan)


def _arm_block_moments(model: pm.Model):
    """A compiled function (free variables, on the sampler's unconstrained scale) -> mean, covariance and random-effect
    covariance of the arm-level blocks, read off the likelihood's graph; and per free variable (in argument order)
    the map from its constrained draws to that scale."""
    import pytensor
    from pytensor.graph.traversal import ancestors

    named = {v.name: v for v in ancestors([model["arm_obs"]]) if v.name}
    outputs = model.replace_rvs_by_values([named[n] for n in ("arm_obs_mean_vector", "arm_obs_cov", "arm_re")])
    values = [model.rvs_to_values[rv] for rv in model.free_RVs]
    fn = pytensor.function(values, outputs, on_unused_input="ignore")

    def to_value(rv):
        transform = model.rvs_to_transforms.get(rv)
        if transform is None:
            return lambda x: x
        return lambda x: transform.forward(pt.as_tensor(x), *rv.owner.inputs).eval()

    return fn, {rv.name: to_value(rv) for rv in model.free_RVs}
