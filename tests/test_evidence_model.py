"""The evidence model: its arm-level likelihood integrates the study effects out exactly (quadrature), its study-effect
draws follow their conditional, and it recovers known effects (simulation-based calibration from the prior)."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy import integrate, stats

from irsynth.fitting import Sampler
from models.evidence import COMPONENTS, EvidenceData, build_evidence_model

PRIORS = {
    "component_sd": 0.5,
    "glucose_sd": 0.1,
    "gap_sd": 0.05,
    "interaction_sd": 0.1,
    "tau_scale": 0.2,
    "regression_sd": 0.1,
    "drift_sd": 0.2,
    "cv_sd_log": 0.3,
    "base_sd_log": 0.3,
}


def _x(*pairs):
    row = np.zeros(len(COMPONENTS))
    for name, sign in pairs:
        row[COMPONENTS.index(name)] = sign
    return row


def synthetic_design() -> EvidenceData:
    """Pooled rows on SMD, MD and ROM scales, arm contrasts and control arms, resembling the bundled evidence."""
    pooled = [  # (x, outcome, measure, se)
        (_x(("inositol", 1)), 0, 1, 0.28),
        (_x(("inositol", 1)), 1, 1, 0.39),
        (_x(("inositol", 1), ("metformin", -1)), 0, 1, 0.15),
        (_x(("inositol", 1), ("metformin", -1)), 1, 1, 0.14),
        (_x(("exercise", 1)), 0, 2, 0.22),
        (_x(("exercise", 1)), 1, 2, 0.9),
        (_x(("exercise", 1), ("diet", 1)), 1, 2, 0.64),
        (_x(("advice", 1)), 0, 0, 0.05),
    ]
    arms = [
        (_x(("inositol", 1), ("metformin", -1)), 0, 0.12),
        (_x(("exercise", 1)), 1, 0.2),
        (_x(("inositol", 1)), 0, 0.15),
        (_x(("diet", 1)), 0, 0.18),
    ]
    return EvidenceData(
        outcomes=["homa_ir", "fasting_insulin"],
        pooled_labels=[f"p{i}" for i in range(len(pooled))],
        pooled_x=np.array([p[0] for p in pooled]),
        pooled_outcome=np.array([p[1] for p in pooled]),
        pooled_measure=np.array([p[2] for p in pooled]),
        pooled_est=np.zeros(len(pooled)),
        pooled_se=np.array([p[3] for p in pooled]),
        pooled_flags=[""] * len(pooled),
        pooled_comparisons=["synthetic"] * len(pooled),
        arm_comparisons=["synthetic"] * len(arms),
        arm_labels=[f"a{i}" for i in range(len(arms))],
        arm_x=np.array([a[0] for a in arms]),
        arm_outcome=np.array([a[1] for a in arms]),
        arm_y=np.zeros(len(arms)),
        arm_se=np.array([a[2] for a in arms]),
        arm_covariates=np.array([[0.0, 0.2], [-0.7, 0.0], [0.4, -0.3], [0.0, 0.0]]),
        drift_labels=["c0", "c1"],
        drift_outcome=np.array([0, 1]),
        drift_y=np.zeros(2),
        drift_se=np.array([0.1, 0.1]),
        drift_advice=np.array([0.0, 1.0]),
        cv_hat=np.array([0.53, 0.54]),
        base_hat=np.array([4.28, 15.0]),
    )


def test_arm_likelihood_integrates_out_each_study_effect():
    """log N(y; m, sqrt(se^2 + tau^2)) in the model equals log of the integral of N(y; theta, se) N(theta; m, tau)."""
    design = synthetic_design()
    design.arm_y = np.array([-0.3, 0.1, -0.45, 0.05])
    model = build_evidence_model(design, PRIORS)
    point = model.initial_point()
    point["tau_log__"] = np.log([0.15, 0.3])
    point["d_insulin"] = np.array([-0.2, -0.1, 0.05, -0.15, 0.0])
    point["beta"] = np.array([0.1, -0.05])
    logp = model.compile_logp(vars=[model["arm_obs"]], sum=False)(point)[0]
    [arm_mean] = model.replace_rvs_by_values([model["arm_mean"]])
    mean = model.compile_fn(arm_mean, inputs=model.value_vars, on_unused_input="ignore")(point)
    assert mean[0] == pytest.approx(-0.2 - (-0.1) + 0.2 * -0.05)  # inositol vs metformin, covariate (0, 0.2)
    tau = np.array([0.15, 0.3])[design.arm_outcome]
    for i in range(len(design.arm_y)):

        def integrand(theta, i=i):
            return stats.norm.pdf(design.arm_y[i], theta, design.arm_se[i]) * stats.norm.pdf(theta, mean[i], tau[i])

        marginal = integrate.quad(integrand, mean[i] - 12 * tau[i], mean[i] + 12 * tau[i], epsabs=1e-13)[0]
        assert logp[i] == pytest.approx(np.log(marginal), rel=1e-8)


@pytest.mark.slow
def test_ninety_percent_intervals_cover_the_truth_ninety_percent_of_the_time():
    replications = 60
    design = synthetic_design()
    model = build_evidence_model(design, PRIORS)
    prior = pm.sample_prior_predictive(draws=replications, model=model, random_seed=2026)
    truth = prior.prior["d"].values[0]  # (replication, component, outcome)
    observed = {
        name: prior.prior_predictive[obs].values[0]
        for name, obs in (("pooled_est", "pooled_obs"), ("arm_y", "arm_obs"), ("drift_y", "drift_obs"))
    }
    sampler = Sampler(
        model, {"sampler": "nutpie", "draws": 500, "tune": 500, "chains": 4, "cores": 2, "target_accept": 0.95}
    )
    hits = []
    for r in range(replications):
        trace = sampler.sample(seed=r, **{name: values[r] for name, values in observed.items()})
        d = trace.posterior["d"].values.reshape(-1, len(COMPONENTS), 2)
        low, high = np.quantile(d, [0.05, 0.95], axis=0)
        hits.append((low <= truth[r]) & (truth[r] <= high))
    coverage = np.mean(hits)
    # 60 replications x 10 effects; effects within a replication are correlated, so allow a wide band
    assert 0.84 <= coverage <= 0.96, coverage
    per_effect = np.mean(hits, axis=0)
    assert per_effect.min() >= 0.7, per_effect
