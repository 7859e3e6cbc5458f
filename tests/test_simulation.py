"""The simulator of the real data-generating process (patients -> trial summaries -> meta-analyses) and the proof
that the evidence model recovers the truth from such summaries."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from irsynth import simulation as sim
from irsynth.effects import contrasts, usable_effects
from irsynth.harmonise import arm_changes, harmonise_arms
from irsynth.validate import load_evidence

# no between-trial variation: a large trial then shows the population values
FIXED = dataclasses.replace(
    sim.Population(), trial_mean_sd=(0.0, 0.0), drift_mean=(-0.02, -0.12), drift_sd=(0.0, 0.0), tau=(0.0, 0.0)
)
BIG = (100_000, 100_000)


def _big_trial(seed, treatment=sim.INOSITOL, pop=FIXED, study_id="T"):
    spec = sim.TrialSpec((sim.PLACEBO, treatment), n_range=BIG)
    return sim.simulate_trial(np.random.default_rng(seed), study_id, spec, pop, sim.Effects())


@pytest.mark.parametrize("treatment", [sim.INOSITOL, sim.METFORMIN, sim.EXERCISE, sim.DIET])
def test_truth_is_the_log_ratio_of_mean_change_by_monte_carlo(treatment):
    trial = _big_trial(1, treatment)
    truth = sim.true_log_ratios(sim.Effects())
    for outcome in sim.OUTCOMES:

        def log_change(arm, outcome=outcome):
            return np.log(trial.end[arm][outcome].mean() / trial.baseline[arm][outcome].mean())

        observed = log_change(treatment.key) - log_change("placebo")
        assert observed == pytest.approx(truth[(treatment.components[0], outcome)], abs=0.012)


def test_the_end_keeps_the_baseline_spread_and_the_within_patient_correlation():
    trial = _big_trial(2)
    glucose, insulin = (np.log(trial.baseline["placebo"][o]) for o in sim.MEASURED)
    glucose1, insulin1 = (np.log(trial.end["placebo"][o]) for o in sim.MEASURED)
    assert np.corrcoef(glucose, glucose1)[0, 1] == pytest.approx(FIXED.rho[0], abs=0.01)
    assert np.corrcoef(insulin, insulin1)[0, 1] == pytest.approx(FIXED.rho[1], abs=0.01)
    assert np.corrcoef(glucose1, insulin1)[0, 1] == pytest.approx(np.corrcoef(glucose, insulin)[0, 1], abs=0.01)
    assert insulin1.std() == pytest.approx(insulin.std(), rel=0.01)


def test_homa_ir_is_computed_per_patient_not_from_means():
    trial = _big_trial(3)
    base = trial.baseline["MI"]
    np.testing.assert_allclose(base["homa_ir"], base["fasting_glucose"] * base["fasting_insulin"] / 22.5)
    from_means = base["fasting_glucose"].mean() * base["fasting_insulin"].mean() / 22.5
    assert abs(base["homa_ir"].mean() / from_means - 1) > 0.01  # glucose and insulin are correlated


@pytest.mark.parametrize("outcome", sim.OUTCOMES)
def test_population_moments_match_a_large_arm(outcome):
    trial = _big_trial(4)
    shift = np.array(FIXED.drift_mean) + sim.Effects().shift(("inositol",))
    moments = sim.population_moments(FIXED, shift, outcome)
    base, end = trial.baseline["MI"][outcome], trial.end["MI"][outcome]
    for key, values in (("baseline", base), ("end", end), ("change", end - base)):
        assert values.mean() == pytest.approx(moments[key][0], abs=0.01 * moments["baseline"][0])
        assert values.std() == pytest.approx(moments[key][1], rel=0.03)


@pytest.mark.parametrize(
    "measure, basis", [("SMD", "post"), ("SMD", "change"), ("MD", "post"), ("MD", "change"), ("ROM", "post")]
)
def test_pooled_estimate_at_large_n_equals_its_analytic_expectation(measure, basis):
    spec = sim.PooledSpec("MA", "inositol_vs_control", sim.TrialSpec((sim.PLACEBO, sim.INOSITOL), n_range=BIG), k=3)
    spec = dataclasses.replace(spec, measure=measure, basis=basis)
    rng = np.random.default_rng(5)
    draws = [sim.simulate_trial(rng, f"T{j}", spec.trial, FIXED, sim.Effects()) for j in range(spec.k)]
    rows = {row["outcome"]: row for row in sim.pooled_rows(spec, draws, basis)}
    control = np.array(FIXED.drift_mean)
    treat = control + sim.Effects().shift(("inositol",))
    for outcome in sim.OUTCOMES:
        expected = sim.expected_effect(FIXED, treat, control, outcome, basis, measure)
        assert rows[outcome]["estimate"] == pytest.approx(expected, rel=0.03, abs=0.01)
        assert rows[outcome]["ci_low"] <= rows[outcome]["estimate"] <= rows[outcome]["ci_high"]


def test_an_smd_of_change_scores_is_larger_than_one_of_end_values():
    control = np.array(FIXED.drift_mean)
    treat = control + sim.Effects().shift(("inositol",))
    end = sim.expected_effect(FIXED, treat, control, "homa_ir", "post", "SMD")
    change = sim.expected_effect(FIXED, treat, control, "homa_ir", "change", "SMD")
    assert change < end < 0


def _write(rep, folder):
    folder.mkdir()
    rep.arms.drop(columns="_line").to_csv(folder / "arms.csv", index=False)
    rep.pooled.to_csv(folder / "pooled.csv", index=False)
    rep.studies.to_csv(folder / "studies.csv", index=False)


@pytest.mark.parametrize("name", sorted(sim.SCENARIOS))
def test_simulated_tables_pass_validation_and_harmonisation(name, config, tmp_path):
    rep = sim.simulate(sim.SCENARIOS[name], seed=7, replication=1)
    _write(rep, tmp_path / "data")
    evidence = load_evidence(tmp_path / "data", config)  # raises DataError listing every problem
    harmonised = harmonise_arms(evidence.arms, evidence.studies, config)
    assert harmonised["usable"].all(), harmonised.loc[~harmonised["usable"], "reason"].tolist()
    changes = arm_changes(harmonised, config)
    effects = usable_effects(contrasts(changes, config))
    trials = sorted(set(rep.arms["study_id"]))
    assert set(effects["study_id"]) == set(trials)
    assert len(effects) == 3 * len(trials)  # HOMA-IR, insulin, glucose: one ROM of change each
    assert len(rep.pooled) == 2 and set(rep.pooled["outcome"]) == set(sim.OUTCOMES)


def test_printed_units_are_harmonised_back_to_the_canonical_values(config):
    rep = sim.simulate(sim.SCENARIOS["smd_change"], seed=8)
    assert {"pmol/L", "mg/dL"} <= set(rep.arms["unit"])
    harmonised = harmonise_arms(rep.arms, rep.studies, config)
    baseline = harmonised[harmonised["timepoint"] == "baseline"].groupby("outcome")["mean"]
    assert baseline.min()["fasting_insulin"] > 7 and baseline.max()["fasting_insulin"] < 30
    assert baseline.min()["fasting_glucose"] > 4 and baseline.max()["fasting_glucose"] < 6.5


def test_scenarios_say_what_they_inform_and_how_they_pooled():
    unknown = sim.SCENARIOS["unknown_basis"]
    assert [sim.simulate(unknown, 1, r).bases["SimMA"] for r in range(4)] == ["post", "change"] * 2
    assert set(sim.simulate(unknown, 1, 0).pooled["analysis"]) == {"unknown"}
    overlap = sim.simulate(sim.SCENARIOS["overlap"], 1, 0)
    assert "P1T01" in overlap.arms["study_id"].tolist()
    assert (overlap.pooled["included_study_ids"] == "").all() and "P1T01" in overlap.pooled["included_studies"][0]
    assert (sim.simulate(sim.SCENARIOS["smd_change"], 1, 0).pooled["included_study_ids"] != "").all()
    informed = sim.SCENARIOS["smd_change"].informed()
    assert ("inositol", "homa_ir") in informed and ("diet", "homa_ir") not in informed


def test_harness_scores_coverage_and_bias_of_each_informed_effect(config):
    def oracle(rep, _config):  # a posterior centred on the truth with SD 0.1: covers, no bias
        rng = np.random.default_rng(0)
        return {key: rep.truth[key] + rng.normal(0.0, 0.1, 4000) for key in rep.informed}

    table = sim.run_scenario("md_drift", 4, oracle, seed=1, config=config)
    assert len(table) == len(sim.SCENARIOS["md_drift"].informed())
    assert (table["coverage_90"] == 1.0).all()
    assert table["mean_posterior_sd"].to_numpy() == pytest.approx(0.1, rel=0.05)


def test_smoke_run_of_todays_model_on_one_scenario(config):
    table = sim.run_scenario("smd_change", 2, sim.fit_evidence_model, seed=3, config=config)
    assert np.isfinite(table[["mean_bias", "mean_posterior_sd"]].to_numpy()).all()
    assert (table["mean_posterior_sd"] < 0.5).all()  # the evidence informs every scored effect


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(sim.SCENARIOS))
def test_the_evidence_model_recovers_the_truth_from_published_summaries(name, config):
    table = sim.run_scenario(name, 100, sim.fit_evidence_model, seed=2026, config=config)
    # coverage consistent with 90%, and a mean bias not detectably above 10% of the posterior SD: at 100
    # replications the Monte Carlo SE of the mean bias is itself about 0.1 SD, so 3 MC SEs are allowed beyond it
    allowed = 0.1 * table["mean_posterior_sd"] + 3 * table["bias_mc_se"]
    failing = table[(table["p_coverage"] <= 0.01) | (table["mean_bias"].abs() >= allowed)]
    assert failing.empty, failing.to_string()


def test_both_outcomes_of_one_meta_analysis_share_their_errors():
    """HOMA-IR and fasting insulin pooled from the same trials: their errors are almost perfectly correlated."""
    errors = []
    for r in range(40):
        rep = sim.simulate(sim.SCENARIOS["rom_end"], 11, r)
        pooled = rep.pooled.set_index("outcome")["estimate"]
        errors.append([pooled[o] - rep.truth[("inositol", o)] for o in sim.OUTCOMES])
    assert np.corrcoef(np.array(errors).T)[0, 1] > 0.9
