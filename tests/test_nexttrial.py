"""Next-trial design: assurance, interval width and decision change against the closed forms of a known-variance
normal-normal meta-analysis; the extended funnel plot's regions against the closed form and, for the evidence model,
against direct MCMC re-fits on both sides of its contour; simulated updates against MCMC re-fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest
import xarray as xr
from evidence_tables import arm, tables
from scipy import stats

from irsynth.evidence_set import evidence_data
from irsynth.nexttrial import (
    MOMENT_MATCHED,
    UNRESOLVED,
    TrialUpdater,
    batch_seed,
    conclusion,
    design_vector,
    funnel_grid,
    normal_log_pdf,
    simulate,
    summarise,
    summary_table,
    with_new_trial,
)
from models.evidence_data import CONTRAST, TERMS

M0, S0, TAU, SD = -0.2, 0.15, 0.1, 0.5  # existing posterior of mu, known heterogeneity and patients' SD
MEANINGFUL = 0.1
C = np.log(1 - MEANINGFUL)
CONCLUSIVE = {"above": 0.95, "below": 0.05}
DRAWS = 8000
SAMPLING = {
    "sampler": "nutpie",
    "draws": 1000,
    "tune": 500,
    "chains": 2,
    "cores": 1,
    "target_accept": 0.9,
    "seed": 3,
    "gates": {"r_hat_max": 1.01, "ess_min": 400, "divergences_max": 0, "bfmi_min": 0.3},
}
CONFIG = {
    "decision": {"meaningful_reduction": MEANINGFUL},
    "next_trial": {
        "conclusive": CONCLUSIVE,
        "seed": 5,
        "funnel": {
            "effects": 15,
            "standard_errors": 4,
            "n_per_arm_range": [20, 500],
            "max_mcmc": 2,
            "moment_matching": False,
        },
    },
}


def conjugate_updater() -> TrialUpdater:
    """mu ~ Normal(M0, S0) (the stored posterior: exact draws), a new trial y ~ Normal(mu, sqrt(TAU^2 + v))."""
    with pm.Model() as model:
        mu = pm.Normal("mu", M0, S0)
        y, v, out = pm.Data("y", 0.0), pm.Data("v", 1.0), pm.Data("left_out", 1.0)
        pm.Normal("obs", mu, pt.sqrt(TAU**2 + v + out * 1e12), observed=y)
    draws = np.random.default_rng(1).normal(M0, S0, DRAWS).reshape(4, -1)
    posterior = xr.Dataset({"mu": (("chain", "draw"), draws)}, coords={"chain": range(4), "draw": range(DRAWS // 4)})

    def overrides(y, var):
        return {"y": 0.0, "v": 1.0, "left_out": 1.0} if y is None else {"y": y, "v": var, "left_out": 0.0}

    update = {"method": "importance_sampling", "pareto_k_max": 0.5, "moment_matching": False}
    return TrialUpdater(model, posterior, DRAWS, SAMPLING, update, overrides, lambda p: p["mu"].values.ravel())


def closed_form(n: int) -> dict:
    """Assurance, expected width of the ratio's 95% interval and P(decision changes) of a trial of 2 x n."""
    v = 2 * SD**2 / n
    precision = 1 / S0**2 + 1 / (TAU**2 + v)
    s1 = precision**-0.5
    a, b = M0 / S0**2 / precision, 1 / (TAU**2 + v) / precision  # posterior mean a + b y
    sd_y = np.sqrt(S0**2 + TAU**2 + v)  # prior predictive of y
    z = stats.norm.ppf(CONCLUSIVE["above"])
    y_reduction = (C - z * s1 - a) / b  # below it: P(mu < C) > 0.95
    y_none = (C + z * s1 - a) / b  # above it: P(mu < C) < 0.05
    y_flip = (C - a) / b  # P(mu < C) = 0.5 (now above 0.5: M0 < C)
    q = stats.norm.ppf(0.975)
    return {
        "assurance": stats.norm.cdf(y_reduction, M0, sd_y) + stats.norm.sf(y_none, M0, sd_y),
        "expected_width": np.exp(M0 + (b * sd_y) ** 2 / 2) * (np.exp(q * s1) - np.exp(-q * s1)),
        "p_decision_changes": stats.norm.sf(y_flip, M0, sd_y),
    }


@pytest.fixture(scope="module")
def updater():
    return conjugate_updater()


def predictive(updater):
    draws = len(updater.effect)
    return updater.effect, np.full(draws, TAU), np.full(draws, SD)


def test_assurance_width_and_decision_change_match_the_conjugate_closed_form(updater):
    ns = [20, 100, 400]
    table = simulate(updater, predictive(updater), ns, 400, batch_seed(7, "conjugate", 0), CONFIG)
    summary = summary_table(table.assign(design="conjugate")).set_index("n_per_arm")
    assert (summary["share_psis"] + summary["share_mcmc"] == 1).all()
    for n in ns:
        exact, row = closed_form(n), summary.loc[n]
        for name in ("assurance", "expected_width", "p_decision_changes"):
            assert abs(row[name] - exact[name]) < 4 * row[f"{name}_mc_se"] + 0.01, (n, name, row[name], exact[name])
    # assurance grows with n (common random numbers across n)
    assert summary["assurance"].is_monotonic_increasing


def test_an_mcmc_refit_goes_through_the_retry_ladder_and_finds_the_conjugate_posterior(updater, monkeypatch):
    from irsynth import fitting

    names, fit_gated = [], fitting.fit_gated
    monkeypatch.setattr(fitting, "fit_gated", lambda *args: names.append(args[3]) or fit_gated(*args))
    y, var = 0.3, 0.05
    refit = updater.mcmc(y, var, seed=5, pareto_k=0.9)
    precision = 1 / S0**2 + 1 / (TAU**2 + var)
    mean = (M0 / S0**2 + y / (TAU**2 + var)) / precision
    assert names == ["next-trial refit"] and refit.method == "MCMC" and refit.gates == "passed"
    assert refit.pareto_k == 0.9
    assert np.mean(refit.effect) == pytest.approx(mean, abs=4 * precision**-0.5 / np.sqrt(400))
    assert np.std(refit.effect) == pytest.approx(precision**-0.5, rel=0.1)


def test_a_closed_form_log_likelihood_gives_the_models_updates_and_a_wrong_one_is_refused():
    base = conjugate_updater()
    mu = base.draws("mu")
    assert not base.use_closed_form(lambda y, var: normal_log_pdf(y, mu, TAU**2))  # ignores the trial's variance
    assert base.log_likelihood is None
    evaluated = [base.psis(y, var, seed=2) for y, var in ((-0.3, 0.02), (0.0, 0.2), (0.4, 0.001))]
    assert base.use_closed_form(lambda y, var: normal_log_pdf(y, mu, TAU**2 + var))
    closed = [base.psis(y, var, seed=2) for y, var in ((-0.3, 0.02), (0.0, 0.2), (0.4, 0.001))]
    assert [k for _, k in closed] == pytest.approx([k for _, k in evaluated], abs=1e-9)
    for (a, _), (b, _) in zip(evaluated, closed):
        assert (a is None and b is None) or np.array_equal(a.effect, b.effect)
    assert sum(update is not None for update, _ in closed) >= 2


def test_a_trial_plain_psis_cannot_add_is_added_by_moment_matching_to_the_conjugate_posterior():
    base = conjugate_updater()
    y, var = 0.4, 0.002  # far above the stored posterior, and precise
    assert base.psis(y, var, seed=2)[0] is None
    settings = {**base.update_settings, "moment_matching": True}
    updater = TrialUpdater(base.model, base.posterior, DRAWS, SAMPLING, settings, base.overrides, base.effect_of)
    update, pareto_k = updater.psis(y, var, seed=2)
    assert update.method == MOMENT_MATCHED and update.pareto_k == pareto_k <= 0.5
    precision = 1 / S0**2 + 1 / (TAU**2 + var)
    mean = (M0 / S0**2 + y / (TAU**2 + var)) / precision
    assert update.effect.mean() == pytest.approx(mean, abs=0.01)
    assert update.effect.std() == pytest.approx(precision**-0.5, rel=0.05)


def test_refits_where_psis_is_unreliable_use_the_refit_settings():
    base = conjugate_updater()
    updater = TrialUpdater(base.model, base.posterior, DRAWS, SAMPLING, base.update_settings, base.overrides,
                           base.effect_of, refit={"draws": 600, "tune": 400})  # fmt: skip
    refit = updater.mcmc(0.3, 0.05, seed=5)
    assert refit.effect.size == 600 * SAMPLING["chains"] and refit.gates == "passed"


def test_a_batch_is_reproducible_from_its_seed_alone(updater):
    first = simulate(updater, predictive(updater), [50], 5, batch_seed(7, "conjugate", 1), CONFIG)
    again = simulate(updater, predictive(updater), [50], 5, batch_seed(7, "conjugate", 1), CONFIG)
    other = simulate(updater, predictive(updater), [50], 5, batch_seed(7, "conjugate", 2), CONFIG)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["estimate"], other["estimate"])


@pytest.mark.parametrize("matching", [False, True])
def test_extended_funnel_regions_match_the_closed_form(updater, matching):
    """With moment matching (funnel and update settings on), cells plain PSIS cannot resolve are moment-matched."""
    config = CONFIG
    if matching:
        settings = {**updater.update_settings, "moment_matching": True}
        updater = TrialUpdater(updater.model, updater.posterior, DRAWS, SAMPLING, settings, updater.overrides,
                               updater.effect_of)  # fmt: skip
        funnel = {**CONFIG["next_trial"]["funnel"], "moment_matching": True}
        config = {**CONFIG, "next_trial": {**CONFIG["next_trial"], "funnel": funnel}}
    grid = funnel_grid(updater, predictive(updater), config)
    assert (grid["method"] == MOMENT_MATCHED).any() == matching
    assert set(grid["conclusion"]) == {-1, 0, 1}  # the plane holds every conclusion
    var = TAU**2 + grid["se"] ** 2
    precision = 1 / S0**2 + 1 / var
    mean = (M0 / S0**2 + grid["estimate"] / var) / precision
    exact = stats.norm.cdf(C, mean, precision**-0.5)
    clear = (np.abs(exact - CONCLUSIVE["above"]) > 0.01) & (np.abs(exact - CONCLUSIVE["below"]) > 0.01)
    resolved = clear & (grid["method"] != UNRESOLVED)
    assert (grid.loc[resolved, "conclusion"] == conclusion(exact[resolved], CONCLUSIVE)).all()
    assert resolved.mean() > 0.8 and (grid["method"] == "MCMC").sum() <= 2  # the MCMC budget
    assert np.nanmax(np.abs(grid["p_meaningful"] - exact)) < 0.03
    # the current state: P(mu < C) of the stored posterior
    assert grid["current_p_meaningful"].iloc[0] == pytest.approx(stats.norm.cdf(C, M0, S0), abs=0.01)


def test_summaries_of_draws():
    draws = np.random.default_rng(0).normal(-0.2, 0.1, 200_000)
    p, width = summarise(draws, MEANINGFUL)
    assert p == pytest.approx(stats.norm.cdf(C, -0.2, 0.1), abs=0.005)
    q = stats.norm.ppf(0.975)
    assert width == pytest.approx(np.exp(-0.2 + q * 0.1) - np.exp(-0.2 - q * 0.1), rel=0.01)
    assert list(conclusion([0.96, 0.5, 0.04], CONCLUSIVE)) == [1, 0, -1]


def test_the_new_trial_block_is_a_left_out_contrast_of_the_design(config):
    arms = [arm("S1", "a", "MI", "homa_ir", -0.3, 0.01), arm("S1", "b", "control", "homa_ir", -0.1, 0.01)]
    config["evidence_model"]["pooled"] = []
    data = evidence_data(*tables(arms, [("S1", "inositol_vs_control", "a", "b", "homa_ir")]), config)
    design = {"name": "d", "treatment": "MI+diet_exercise", "comparator": "diet_exercise", "outcome": "homa_ir",
              "duration_weeks": 12}  # fmt: skip
    padded = with_new_trial(data, design, config["evidence_model"]["regression"])
    assert padded.arm_study[:-1] == data.arm_study and np.array_equal(padded.arm_y[:-1], data.arm_y)
    assert padded.arm_kind[-1, 0] == CONTRAST and padded.arm_left_out[-1, 0] == 1
    assert dict(zip(TERMS, design_vector(design))) == {
        "inositol": 1, "metformin": 0, "exercise": 0, "diet": 0, "advice": 0, "interaction": 1
    }  # fmt: skip
    assert padded.arm_covariates[-1, 0, 0] == pytest.approx(np.log(12 / 24))


def workspace_inputs(results):
    """The next-trial stage's named inputs in a built workspace (workflow/rules/next_trial.smk)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        pooled=results / "validated/pooled.csv",
        studies=results / "validated/studies.csv",
        changes=results / "harmonised/arm_changes.csv",
        effects=results / "effects/contrasts.csv",
        posterior=results / "models/evidence/posterior.nc",
        diagnostics=results / "models/evidence/diagnostics.csv",
    )


@pytest.mark.slow
def test_updates_and_the_funnel_contour_agree_with_mcmc_refits(workspace, config):
    """Simulated trials added by PSIS give the P(meaningful reduction) and interval width of an MCMC re-fit with the
    trial added; on both sides of the extended funnel plot's contour, an MCMC re-fit reaches the grid's conclusion."""
    from irsynth.nexttrial_stage import _updater, design_named

    design = design_named(config, "placebo")
    updater, (m, tau, s) = _updater(workspace_inputs(workspace / "results"), design, config, 2)
    assert updater.log_likelihood is not None  # the updates below take the closed form
    rng = np.random.default_rng(11)
    compared = 0
    for i in rng.choice(len(m), 10, replace=False):
        var = 2 * s[i] ** 2 / 150
        y = m[i] + tau[i] * rng.standard_normal() + np.sqrt(var) * rng.standard_normal()
        update, _ = updater.psis(y, var, seed=1)
        if update is None or compared == 3:
            continue
        refit = updater.mcmc(y, var, seed=2)
        assert refit.gates == "passed"
        (p, width), (p_mcmc, width_mcmc) = summarise(update.effect, 0.1), summarise(refit.effect, 0.1)
        assert p == pytest.approx(p_mcmc, abs=0.03) and width == pytest.approx(width_mcmc, rel=0.06), (y, var)
        compared += 1
    assert compared == 3

    settings = {**config, "next_trial": {**config["next_trial"], "funnel": {
        "effects": 21, "standard_errors": 2, "n_per_arm_range": [30, 300], "max_mcmc": 0, "moment_matching": False,
    }}}  # fmt: skip
    grid = funnel_grid(updater, (m, tau, s), settings)
    row = grid[grid["se"] == grid["se"].min()].reset_index(drop=True)
    changes = np.flatnonzero(np.diff(row["conclusion"]) != 0)
    assert len(changes), "the row of the largest trial crosses no contour"
    j = changes[0]
    sides = row.iloc[[max(j - 1, 0), j + 2 if j + 2 < len(row) else j + 1]]  # one cell off the contour each side
    assert (sides["method"] == "PSIS update").all()
    for cell in sides.itertuples():
        refit = updater.mcmc(cell.estimate, cell.se**2, seed=3)
        p_refit, _ = summarise(refit.effect, 0.1)
        assert conclusion(p_refit, config["next_trial"]["conclusive"]) == cell.conclusion, (cell, p_refit)


def test_report_pieces_say_the_assurance_and_draw_the_plane(updater):
    from irsynth.nexttrial_figures import assurance_figure, extended_funnel_figure, region_names
    from irsynth.report import design_sentence

    design = {"name": "placebo", "label": "placebo-controlled trial", "duration_weeks": 24}
    rows = pd.DataFrame({"design": "placebo", "n_per_arm": [50, 150], "assurance": [0.4, 0.71],
                         "assurance_mc_se": [0.05, 0.032]})  # fmt: skip
    assert design_sentence(design, rows) == (
        "A placebo-controlled trial of 24 weeks has a probability of a conclusive answer of 0.40 (Monte Carlo SE "
        "0.05) with 2 x 50 women, 0.71 (Monte Carlo SE 0.03) with 2 x 150 women."
    )
    assert assurance_figure(rows, [design]).startswith("<svg")
    grid = funnel_grid(updater, predictive(updater), CONFIG)
    evidence = pd.DataFrame({"label": ["S1"], "kind": ["trial"], "log_ratio": [-0.2], "se": [0.1]})
    current = {"median": 0.8, "low": 0.6, "high": 1.1, "conclusion": 0}
    svg = extended_funnel_figure(grid, evidence, current, design, MEANINGFUL)
    assert svg.startswith("<svg") and "makes it conclusive: meaningful reduction" in svg
    assert region_names(1) == ["reverses it: no meaningful reduction", "makes it inconclusive",
                               "leaves the conclusion: meaningful reduction"]  # fmt: skip


def test_a_design_must_name_arm_classes_of_its_comparison(config):
    from irsynth.nexttrial_stage import batch_count, design_named

    assert design_named(config, "placebo")["treatment"] == "MI"
    config["next_trial"]["designs"][0]["comparator"] = "MET"
    with pytest.raises(ValueError, match="comparator MET is not among the comparator classes of inositol_vs_control"):
        design_named(config, "placebo")
    config["next_trial"].update(simulations=250, batch_size=100)
    assert batch_count(config) == 3


def test_a_next_trial_job_is_keyed_by_its_posterior_diagnostics_and_settings(workspace, tmp_path):
    """The key under which a job's results are re-used (nexttrial_stage.job_key) changes with the posterior file,
    the diagnostics and the job."""
    from pathlib import Path

    from irsynth.config import load_config
    from irsynth.nexttrial_stage import job_key

    config = load_config(workspace / "config/config.yaml")
    inputs = workspace_inputs(workspace / "results")
    job = {"design": "placebo", "batch": 0, "simulations": 10}
    key = job_key(inputs, config, job)
    assert job_key(inputs, config, dict(job)) == key
    assert job_key(inputs, config, {**job, "simulations": 20}) != key
    assert job_key(inputs, config, {**job, "batch": 1}) != key
    for name, old, new in (("posterior", b"HDF", b"HDF"), ("posterior", b"\0", b"\1"), ("diagnostics", b"0.9", b"0.8")):
        source = Path(getattr(inputs, name))
        changed = tmp_path / f"{name}{source.suffix}"
        changed.write_bytes(source.read_bytes().replace(old, new, 1))
        edited = type(inputs)(**{**vars(inputs), name: changed})
        assert (job_key(edited, config, job) == key) == (old == new), (name, old, new)
