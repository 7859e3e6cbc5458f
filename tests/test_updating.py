"""Updating a stored MCMC fit by Pareto-smoothed importance sampling: closed forms, exact quadrature, fallbacks."""

from __future__ import annotations

import shutil

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from scipy import integrate, stats

from irsynth import updating
from irsynth.fitting import Sampler
from irsynth.updating import (
    NOT_UPDATED,
    IncrementalSampler,
    PosteriorFunctions,
    previous_fit,
    psis_resample,
    take_draws,
)

SAMPLING = {
    "sampler": "nutpie",
    "draws": 2000,
    "tune": 500,
    "chains": 2,
    "cores": 2,
    "target_accept": 0.9,
    "seed": 11,
    "gates": {"r_hat_max": 1.01, "ess_min": 400, "divergences_max": 0, "bfmi_min": 0.3},
}
UPDATE = {"method": "importance_sampling", "pareto_k_max": 0.5, "moment_matching": False}
Z = np.array([0.8, -1.1, 1.5])  # data of the scale parameter (unchanged throughout)


def normal_model(y: list[float], se: list[float]) -> pm.Model:
    """mu ~ N(0, 1), y_i ~ N(mu, se_i): conjugate; scale ~ HalfNormal(1), z_j ~ N(0, scale): one-dimensional."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Deterministic("ratio", pm.math.exp(mu))
        pm.Normal("obs", mu, pm.Data("se", np.array(se)), observed=pm.Data("y", np.array(y)))
        scale = pm.HalfNormal("scale", 1.0)
        pm.Normal("z", 0.0, scale, observed=Z)
    return model


def conjugate(y, se) -> tuple[float, float]:
    precision = 1.0 + np.sum(1.0 / np.square(se))
    return float(np.sum(np.asarray(y) / np.square(se)) / precision), float(precision**-0.5)


def scale_mean() -> float:
    """Posterior mean of `scale`, by quadrature of HalfNormal(1) x prod N(z_j; 0, scale)."""

    def density(s):
        return stats.halfnorm.pdf(s) * np.prod(stats.norm.pdf(Z, 0.0, s))

    return integrate.quad(lambda s: s * density(s), 0, np.inf)[0] / integrate.quad(density, 0, np.inf)[0]


def sampler(model, cache, update=UPDATE, sampling=SAMPLING, label="fit0"):
    return IncrementalSampler(model, sampling, update, cache, ["mu", "scale"], "test model", label)


def summary(fit):
    post = fit.trace.posterior
    return float(post["mu"].mean()), float(post["mu"].std()), float(post["scale"].mean())


Y, SE = [0.3, 0.5], [0.4, 0.5]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A cache holding the MCMC fit of run 'primary' on (Y, SE)."""
    cache = tmp_path_factory.mktemp("cache")
    fit = sampler(normal_model(Y, SE), cache).fit("primary", "stop")
    assert fit.method == "MCMC"
    return cache, fit


@pytest.fixture
def cache(stored, tmp_path):
    shutil.copytree(stored[0], tmp_path / "cache")
    return tmp_path / "cache"


def test_psis_resampling_recovers_a_shifted_narrower_normal():
    draws = np.random.default_rng(0).normal(0.0, 1.0, 8000)
    target = stats.norm(0.3, 0.8)
    update = psis_resample((target.logpdf(draws) - stats.norm.logpdf(draws)).reshape(4, -1), seed=1)
    resampled = draws[update.indices]
    assert update.pareto_k < 0.5 and update.efficiency > 0.5
    assert resampled.mean() == pytest.approx(0.3, abs=0.03) and resampled.std() == pytest.approx(0.8, abs=0.03)


def test_psis_flags_a_target_much_wider_than_the_proposal():
    draws = np.random.default_rng(0).normal(0.0, 1.0, 8000)
    # weights exp(x^2 (1 - 1/9) / 2) have Pareto shape 1 - 1/9 = 0.89: infinite variance
    update = psis_resample((stats.norm.logpdf(draws, 0, 3) - stats.norm.logpdf(draws)).reshape(4, -1), seed=1)
    assert update.pareto_k > 0.7


def test_log_density_and_deterministics_match_pymc():
    model = normal_model(Y, SE)
    posterior = pm.sample_prior_predictive(draws=5, model=model, random_seed=3).prior.to_dataset()[["mu", "scale"]]
    log_density, deterministics = PosteriorFunctions(model)(posterior)
    logp = model.compile_logp(jacobian=False)
    for i in range(5):
        point = {"mu": posterior["mu"].values[0, i], "scale_log__": np.log(posterior["scale"].values[0, i])}
        # compile_logp takes the log-transformed scale but, without the Jacobian, returns the density of scale
        assert log_density[0, i] == pytest.approx(float(logp(point)), rel=1e-10)
    assert np.allclose(deterministics["ratio"].values, np.exp(posterior["mu"].values))


def test_a_new_observation_updates_the_stored_fit_to_the_exact_posterior(cache):
    y, se = [*Y, 0.1], [*SE, 0.6]
    fit = sampler(normal_model(y, se), cache, label="fit1").fit("primary", "stop")
    assert fit.method == "PSIS update" and fit.per_fit["pareto_k"] <= 0.5
    assert fit.description.startswith("PSIS update (Pareto k") and fit.columns["updated_from"] == "fit0"
    mean, sd = conjugate(y, se)
    mu_mean, mu_sd, scale = summary(fit)
    assert mu_mean == pytest.approx(mean, abs=0.02) and mu_sd == pytest.approx(sd, abs=0.02)
    assert scale == pytest.approx(scale_mean(), abs=0.03)
    assert np.allclose(fit.trace.posterior["ratio"], np.exp(fit.trace.posterior["mu"]))
    assert fit.diagnostics_table()["fit"].iloc[0] == fit.description


def test_unchanged_inputs_reuse_the_stored_draws_exactly(stored, cache):
    fit = sampler(normal_model(Y, SE), cache, label="fit1").fit("primary", "stop")
    assert fit.method == "unchanged" and fit.description == "MCMC"
    for name in ("mu", "scale", "ratio"):
        assert np.array_equal(fit.trace.posterior[name].values, stored[1].trace.posterior[name].values)


def test_an_observation_in_conflict_with_the_stored_fit_is_sampled_afresh(cache):
    y, se = [*Y, 3.0], [*SE, 0.05]
    fits = sampler(normal_model(y, se), cache, label="fit1")
    fit = fits.fit("primary", "stop")
    assert fit.method == "MCMC"
    mean, sd = conjugate(y, se)
    assert summary(fit)[:2] == pytest.approx((mean, sd), abs=0.01)
    # the MCMC fit is now the stored base: the same inputs again are unchanged
    assert sampler(normal_model(y, se), cache, label="fit2").fit("primary", "stop").method == "unchanged"


def test_a_run_fitted_without_psis_is_sampled_when_it_changes_and_re_used_when_not(stored, cache):
    y, se = [*Y, 0.1], [*SE, 0.6]  # an observation the stored fit updates reliably (the test above)
    assert sampler(normal_model(Y, SE), cache, label="fit1").fit("primary", "stop", psis=False).method == "unchanged"
    fit = sampler(normal_model(y, se), cache, label="fit1").fit("primary", "stop", psis=False)
    assert fit.method == "MCMC" and fit.description == f"MCMC (update from primary: {NOT_UPDATED})"
    assert summary(fit)[:2] == pytest.approx(conjugate(y, se), abs=0.02)


@pytest.mark.parametrize("matching", [False, True])
def test_the_fit_a_sampled_primary_replaces_stays_a_fallback_of_the_other_runs(stored, cache, matching):
    """Its posterior re-used unchanged comes before any update, moment-matched ones from this run's primary too
    (which the new observation, 1.5 +- 0.2, leaves within reach of moment matching, not of plain PSIS)."""
    y, se = [*Y, 1.5], [*SE, 0.2]  # the primary is sampled again (psis=False)
    fits = sampler(normal_model(y, se), cache, {**UPDATE, "moment_matching": matching}, label="fit1")
    assert fits.fit("primary", "stop", psis=False).method == "MCMC"
    # a run without the new observation: the fit the primary replaced is its posterior
    old = fits.fit("without the third", "stop", fallback_base="primary", y=[*Y, 0.0], se=[*SE, 1e6])
    assert old.method == "unchanged"
    assert old.description == f"MCMC (the stored fit of run '{previous_fit('primary')}', whose posterior this is)"
    assert np.array_equal(old.trace.posterior["mu"].values, stored[1].trace.posterior["mu"].values)
    again = sampler(normal_model(y, se), cache, label="fit2").fit("primary", "stop", psis=False)
    assert again.method == "unchanged"  # the new primary is stored as the primary's own fit


def test_a_run_without_its_own_stored_fit_starts_from_the_primary_fit(stored, cache):
    """From an earlier pipeline run's primary fit, and from the one this run just sampled (PSIS-LOO's setting); a
    run too far from the primary is sampled."""
    y, se = [*Y, 0.1], [*SE, 0.6]
    fit = sampler(normal_model(y, se), cache).fit("without the third", "stop", fallback_base="primary", se=[*SE, 1e6])
    assert fit.method == "unchanged"  # the earlier primary is this run's posterior
    fresh = sampler(normal_model(Y, SE), cache.parent / "empty", label="fit1")
    assert fresh.fit("primary", "stop").method == "MCMC"
    third = fresh.fit("with a third", "stop", fallback_base="primary", y=[*Y, 0.1], se=[*SE, 0.6])
    assert third.method == "PSIS update" and third.columns["updated_from"] == "fit1"
    assert summary(third)[:2] == pytest.approx(conjugate([*Y, 0.1], [*SE, 0.6]), abs=0.02)
    far = fresh.fit("far", "stop", fallback_base="primary", y=[3.0, 3.2], se=[0.05, 0.05])
    assert far.method == "MCMC" and "from primary: Pareto k" in far.per_fit["update_rejected"]
    assert summary(far)[:2] == pytest.approx(conjugate([3.0, 3.2], [0.05, 0.05]), abs=0.01)


def test_runs_other_than_the_primary_are_sampled_with_the_refit_settings(stored, cache):
    """The primary keeps its draws; another run, sampled with fewer, is stored and re-used under its own settings,
    and still starts from the primary fit where that is reliable."""
    refits = {"draws": 700}

    def fresh():
        return IncrementalSampler(normal_model(Y, SE), SAMPLING, UPDATE, cache, ["mu", "scale"], "test", "fit2", refits)

    assert fresh().fit("primary", "stop").method == "unchanged"  # the stored primary, sampled with SAMPLING
    far = fresh().fit("far", "stop", fallback_base="primary", y=[3.0, 3.2], se=[0.05, 0.05])
    assert far.method == "MCMC" and far.trace.posterior.sizes["draw"] == 700
    assert summary(far)[:2] == pytest.approx(conjugate([3.0, 3.2], [0.05, 0.05]), abs=0.01)
    again = fresh().fit("far", "stop", fallback_base="primary", y=[3.0, 3.2], se=[0.05, 0.05])
    assert again.method == "unchanged" and again.trace.posterior.sizes["draw"] == 700
    near = fresh().fit("near", "stop", fallback_base="primary", y=[*Y, 0.1], se=[*SE, 0.6])
    assert near.method == "PSIS update" and near.trace.posterior.sizes["draw"] == SAMPLING["draws"]


def test_an_update_from_this_runs_primary_is_moment_matched_where_plain_psis_is_unreliable(stored, cache):
    """Moment matching needs the base's posterior as a function: the primary fitted (or re-used) in this process has
    one; a stored fit of an earlier process has only its draws, so a run that plain PSIS cannot serve is sampled."""
    update = {**UPDATE, "moment_matching": True}
    y, se = [*Y, 1.5], [*SE, 0.2]
    fits = sampler(normal_model(Y, SE), cache, update, label="fit1")
    assert fits.fit("primary", "stop").method == "unchanged"
    matched = fits.fit("shifted", "stop", fallback_base="primary", y=y, se=se)
    assert matched.method == "PSIS update" and matched.per_fit["pareto_k_plain"] > 0.5
    assert matched.per_fit["pareto_k"] <= 0.5 and matched.per_fit["moment_matching_steps"] >= 1
    assert "moment-matched in" in matched.description and matched.columns["updated_from"] == "fit0"
    mu_mean, mu_sd, scale = summary(matched)
    assert (mu_mean, mu_sd) == pytest.approx(conjugate(y, se), abs=0.02)
    assert scale == pytest.approx(scale_mean(), abs=0.03)
    assert np.allclose(matched.trace.posterior["ratio"], np.exp(matched.trace.posterior["mu"]))
    # without the primary fitted in this process, or with moment matching off: plain PSIS only, then MCMC
    for run, settings in (("shifted, earlier primary", update), ("shifted, moment matching off", UPDATE)):
        fresh = sampler(normal_model(Y, SE), cache, settings, label="fit2")
        if settings is UPDATE:
            fresh.fit("primary", "stop")
        fit = fresh.fit(run, "stop", fallback_base="primary", y=y, se=se)
        assert fit.method == "MCMC" and "moment" not in fit.description


@pytest.mark.parametrize("change", ["method mcmc", "other draws", "damaged cache"])
def test_no_update_without_a_matching_stored_fit(cache, change):
    update, sampling = UPDATE, SAMPLING
    if change == "method mcmc":
        update = {**UPDATE, "method": "mcmc"}
    elif change == "other draws":
        sampling = {**SAMPLING, "draws": 1500}
    else:
        for path in cache.glob("*.npz"):
            path.write_bytes(b"not an npz file")
    fit = sampler(normal_model(Y, SE), cache, update, sampling).fit("primary", "stop")
    assert fit.method == "MCMC"
    assert summary(fit)[:2] == pytest.approx(conjugate(Y, SE), abs=0.02)


def test_resampled_draws_keep_every_variable_aligned():
    rng = np.random.default_rng(2)
    posterior = xr.Dataset(
        {
            "a": (("chain", "draw"), rng.normal(size=(2, 5))),
            "b": (("chain", "draw", "k", "m"), rng.normal(size=(2, 5, 3, 2))),
        },
        coords={"chain": [0, 1], "draw": np.arange(5)},
    )
    indices = np.array([9, 0, 3, 3, 7, 1, 2, 8, 4, 5])
    taken = take_draws(posterior, indices)
    assert taken["b"].dims == ("chain", "draw", "k", "m") and taken["b"].shape == (2, 5, 3, 2)
    assert np.array_equal(taken["a"].values.ravel(), posterior["a"].values.ravel()[indices])
    assert np.array_equal(taken["b"].values.reshape(10, 3, 2), posterior["b"].values.reshape(10, 3, 2)[indices])


@pytest.mark.parametrize("failure", ["no tail fit", "nan k"])
def test_weights_without_a_pareto_fit_mean_mcmc(cache, monkeypatch, failure):
    def broken(log_ratio, seed):
        if failure == "no tail fit":
            raise ValueError("All tail values are the same")
        return updating.Reweighting(np.arange(log_ratio.size), float("nan"), 1.0)

    monkeypatch.setattr(updating, "psis_resample", broken)
    fit = sampler(normal_model([*Y, 0.1], [*SE, 0.6]), cache, label="fit1").fit("primary", "stop")
    assert fit.method == "MCMC" and ("no Pareto fit" in fit.description or "Pareto k nan" in fit.description)


def test_pymc_sampler_leaves_the_model_data_as_it_was():
    model = normal_model(Y, SE)
    settings = {**SAMPLING, "sampler": "pymc", "draws": 100, "tune": 100, "cores": 1}
    Sampler(model, settings).sample(seed=1, se=np.array([0.1, 0.1]))
    assert np.array_equal(model["se"].get_value(), SE)


@pytest.mark.parametrize(
    ("pareto_k", "ess", "why"),
    [
        (0.5, 400.0, ""),
        (0.51, 4000.0, "Pareto k 0.51 > 0.5"),
        (0.2, 399.0, "ESS 399 < 400"),
        (np.nan, 4000.0, "Pareto k nan > 0.5"),
        (0.2, np.nan, "ESS nan < 400"),
    ],
)
def test_an_update_is_reliable_only_at_a_low_pareto_k_and_enough_ess(pareto_k, ess, why):
    """The rule shared by the living review and the next-trial simulations; a missing k or ESS is unreliable."""
    assert updating.unreliable(pareto_k, ess, UPDATE, SAMPLING["gates"]) == why
