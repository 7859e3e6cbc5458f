"""Simulation from the real data-generating process: patients -> trial summaries -> published meta-analyses.

Calibration that simulates from the model itself cannot see a wrong model. Here the data are made the way they are
made in the world, and the evidence model must recover the truth from what papers and meta-analyses print.

Patients (per trial arm, n women): (log G0, log I0) bivariate normal (glucose mmol/L, CV ~10%; insulin uIU/mL, CV ~50%;
correlation `corr_log`), around trial-level means that vary between trials. HOMA-IR = G x I / 22.5 PER PATIENT.
End values, per measured outcome o (glucose, insulin):

    log X1 = log X0 + drift_s[o] + sum_c x[a, c] effect[c, o] + u_{s,a}[o] + e,
    e = (rho_o - 1)(log X0 - m_s[o]) + s_o sqrt(1 - rho_o^2) z_o

so that the end keeps the baseline's log SD s_o, corr(log X0, log X1) = rho_o, and the innovations z_G, z_I are
correlated such that corr(log G1, log I1) = corr(log G0, log I0). drift_s is the control arm's change (regression to
the mean, placebo response), varying between trials; u is trial-level heterogeneity of the effect.

Truth (`true_log_ratios`): since every log SD and correlation is the same at baseline and end, the ratio of mean
end to mean baseline of any product of powers of G and I is exp(its log shift). The log ratio of mean change of
component c versus control is therefore effect[c, insulin] for fasting insulin and effect[c, insulin] +
effect[c, glucose] for HOMA-IR (averaged over trials; u has mean 0). `population_moments` gives the exact
lognormal moments from which the expected SMD and MD of a trial follow (`expected_effect`).

Trial summaries are printed as papers print them (`arm_rows`: arms.csv schema, rounded, insulin sometimes in
pmol/L and glucose in mg/dL, change rows in some trials) and go through harmonise -> arm_changes -> contrasts
like real data. Meta-analyses (`pooled_rows`) pool per trial an escalc effect (SMD of end values or of change
scores with the change SD as the trial reports it, MD of change or end values) by REML or DL and print estimate
and 95% CI rounded, for HOMA-IR and fasting insulin from the same trials.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from irsynth.effects import escalc
from irsynth.reference import random_effects

COMPONENTS = ("inositol", "metformin", "exercise", "diet")
MEASURED = ("fasting_glucose", "fasting_insulin")
OUTCOMES = ("homa_ir", "fasting_insulin")
HOMA_DIVISOR = 22.5
PLACEHOLDER = "simulated"
PLACEHOLDER_URL = "https://simulated.invalid/irsynth"
INSULIN_PMOL_PER_UIU = 6.0
GLUCOSE_MG_DL_PER_MMOL_L = 18.016

ARM_COLUMNS = [
    "study_id", "arm", "arm_label", "mi_mg_day", "dci_mg_day", "metformin_mg_day", "lifestyle", "control_kind",
    "other_tx", "duration_weeks", "outcome", "timepoint", "n", "n_allocated", "mean", "sd", "se", "ci_low", "ci_high",
    "median", "q1", "q3", "min", "max", "unit", "dispersion_label", "flags", "source_url", "source_locator", "quote",
    "n_quote", "notes",
]  # fmt: skip
POOLED_COLUMNS = [
    "source_id", "authors", "year", "journal", "comparison", "intervention", "comparator", "population", "outcome",
    "measure", "analysis", "estimate", "ci_low", "ci_high", "p_value", "k_studies", "n_participants", "unit",
    "included_studies", "source_url", "source_locator", "quote", "notes", "included_study_ids", "flags",
    "included_study_ids_quote", "included_study_ids_source", "included_studies_complete",
]  # fmt: skip
STUDY_COLUMNS = [
    "study_id", "authors", "year", "title", "journal", "doi", "pmid", "country", "design", "randomised", "blinding",
    "population", "n_randomised", "lifestyle_background", "background_advice", "background_advice_quote", "dropouts",
    "notes", "source_url",
    "coi",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Population:
    """Log-scale distribution of baseline glucose (mmol/L) and insulin (uIU/mL), and how trials differ."""

    log_mean: tuple[float, float] = (math.log(5.0) - 0.5 * math.log(1.01), math.log(15.0) - 0.5 * math.log(1.25))
    log_sd: tuple[float, float] = (math.sqrt(math.log(1.01)), math.sqrt(math.log(1.25)))  # CV 10%, 50%
    corr_log: float = 0.3  # corr(log G, log I) between patients
    rho: tuple[float, float] = (0.75, 0.7)  # within-patient corr(log baseline, log end)
    trial_mean_sd: tuple[float, float] = (0.03, 0.15)  # between-trial SD of the log baseline means
    drift_mean: tuple[float, float] = (0.0, 0.0)  # control-arm log change (glucose, insulin)
    drift_sd: tuple[float, float] = (0.01, 0.05)  # its between-trial SD
    tau: tuple[float, float] = (0.02, 0.1)  # between-trial SD of an arm's effect


@dataclass(frozen=True)
class Effects:
    """True component effects on the log ratio of mean end/baseline (vs control), per measured outcome."""

    glucose: dict = field(
        default_factory=lambda: {"inositol": -0.03, "metformin": -0.05, "exercise": -0.02, "diet": -0.02}
    )
    insulin: dict = field(
        default_factory=lambda: {"inositol": -0.25, "metformin": -0.2, "exercise": -0.15, "diet": -0.1}
    )

    def shift(self, components) -> np.ndarray:
        """Summed log effect (glucose, insulin) of an arm's components."""
        return np.array([sum(self.glucose[c] for c in components), sum(self.insulin[c] for c in components)])


def true_log_ratios(effects: Effects) -> dict[tuple[str, str], float]:
    """The truth: per component and outcome, the log ratio of mean change versus control (see module docstring)."""
    truth = {}
    for c in COMPONENTS:
        truth[(c, "fasting_insulin")] = effects.insulin[c]
        truth[(c, "homa_ir")] = effects.insulin[c] + effects.glucose[c]
    return truth


# ---------------------------------------------------------------------------------------------------- arms, trials
@dataclass(frozen=True)
class ArmSpec:
    """An arm: its key, components and arms.csv attributes."""

    key: str
    components: tuple[str, ...] = ()
    mi_mg_day: float = 0.0
    metformin_mg_day: float = 0.0
    lifestyle: str = "none"
    control_kind: str = ""


PLACEBO = ArmSpec("placebo", control_kind="placebo")
NO_TREATMENT = ArmSpec("control", control_kind="none")
INOSITOL = ArmSpec("MI", ("inositol",), mi_mg_day=4000.0)
METFORMIN = ArmSpec("MET", ("metformin",), metformin_mg_day=1500.0)
EXERCISE = ArmSpec("exercise", ("exercise",), lifestyle="exercise")
DIET = ArmSpec("diet", ("diet",), lifestyle="diet")


@dataclass(frozen=True)
class TrialSpec:
    """A two-arm (or more) trial: arms, n per arm range, duration."""

    arms: tuple[ArmSpec, ...]
    n_range: tuple[int, int] = (15, 45)
    duration_weeks: float = 24.0


def patient_baseline(rng, n: int, means: np.ndarray, pop: Population) -> np.ndarray:
    """(n, 2) log baseline (glucose, insulin) around the trial's log means."""
    s = np.array(pop.log_sd)
    cov = np.outer(s, s) * np.array([[1.0, pop.corr_log], [pop.corr_log, 1.0]])
    return rng.multivariate_normal(means, cov, size=n)


def innovation_corr(pop: Population) -> float:
    """Correlation of the end innovations z_G, z_I that keeps corr(log G1, log I1) = corr(log G0, log I0)."""
    rg, ri = pop.rho
    value = pop.corr_log * (1 - rg * ri) / math.sqrt((1 - rg**2) * (1 - ri**2))
    if abs(value) > 1:
        raise ValueError("rho and corr_log are incompatible: no innovation correlation keeps the end correlation")
    return value


def patient_end(rng, log_base: np.ndarray, means: np.ndarray, shift: np.ndarray, pop: Population) -> np.ndarray:
    """(n, 2) log end values: baseline + shift (drift + effect + heterogeneity) + within-patient noise."""
    s, rho, r = np.array(pop.log_sd), np.array(pop.rho), innovation_corr(pop)
    z = rng.multivariate_normal(np.zeros(2), [[1.0, r], [r, 1.0]], size=len(log_base))
    noise = (rho - 1) * (log_base - means) + s * np.sqrt(1 - rho**2) * z
    return log_base + shift + noise


def patient_values(log_values: np.ndarray) -> dict[str, np.ndarray]:
    """Glucose, insulin and HOMA-IR computed per patient from (n, 2) log (glucose, insulin)."""
    glucose, insulin = np.exp(log_values[:, 0]), np.exp(log_values[:, 1])
    return {"fasting_glucose": glucose, "fasting_insulin": insulin, "homa_ir": glucose * insulin / HOMA_DIVISOR}


@dataclass
class TrialDraw:
    """A simulated trial: per arm, n and per-patient baseline and end values of each outcome."""

    study_id: str
    spec: TrialSpec
    n: dict
    baseline: dict  # arm key -> outcome -> values
    end: dict


def simulate_trial(rng, study_id: str, spec: TrialSpec, pop: Population, effects: Effects) -> TrialDraw:
    """Patients of every arm of one trial, with the trial's own baseline means, drift and effect heterogeneity."""
    means = np.array(pop.log_mean) + rng.normal(0.0, pop.trial_mean_sd)
    drift = rng.normal(pop.drift_mean, pop.drift_sd)
    n, baseline, end = {}, {}, {}
    for arm in spec.arms:
        n[arm.key] = int(rng.integers(spec.n_range[0], spec.n_range[1] + 1))
        log_base = patient_baseline(rng, n[arm.key], means, pop)
        heterogeneity = rng.normal(0.0, pop.tau) if arm.components else np.zeros(2)
        shift = drift + effects.shift(arm.components) + heterogeneity
        baseline[arm.key] = patient_values(log_base)
        end[arm.key] = patient_values(patient_end(rng, log_base, means, shift, pop))
    return TrialDraw(study_id, spec, n, baseline, end)


# ---------------------------------------------------------------------------------------------------- summaries
def arm_summary(draw: TrialDraw, arm: str, outcome: str) -> dict[str, tuple[float, float]]:
    """Sample mean and SD (ddof 1) of baseline, end and change, unrounded, canonical units."""
    base, end = draw.baseline[arm][outcome], draw.end[arm][outcome]
    return {
        tp: (float(v.mean()), float(v.std(ddof=1)))
        for tp, v in (("baseline", base), ("end", end), ("change", end - base))
    }


PRINT_DECIMALS = {"homa_ir": 2, "fasting_insulin": 2, "fasting_glucose": 2}
PRINT_UNITS = {
    "homa_ir": {"": 1.0},
    "fasting_insulin": {"uIU/mL": 1.0, "pmol/L": INSULIN_PMOL_PER_UIU},
    "fasting_glucose": {"mmol/L": 1.0, "mg/dL": GLUCOSE_MG_DL_PER_MMOL_L},
}


def _arm_row(draw: TrialDraw, arm: ArmSpec, outcome: str, timepoint: str, mean, sd, unit: str) -> dict:
    row = dict.fromkeys(ARM_COLUMNS, "")
    row.update(
        study_id=draw.study_id, arm=arm.key, arm_label=arm.key, mi_mg_day=arm.mi_mg_day, dci_mg_day=0.0,
        metformin_mg_day=arm.metformin_mg_day, lifestyle=arm.lifestyle, control_kind=arm.control_kind,
        duration_weeks=float(draw.spec.duration_weeks), outcome=outcome, timepoint=timepoint,
        n=float(draw.n[arm.key]), mean=mean, sd=sd, unit=unit, dispersion_label="SD", source_url=PLACEHOLDER_URL,
        source_locator=PLACEHOLDER, quote=PLACEHOLDER,
    )  # fmt: skip
    for column in ("n_allocated", "se", "ci_low", "ci_high", "median", "q1", "q3", "min", "max"):
        row[column] = np.nan
    return row


def arm_rows(draw: TrialDraw, rng, report_change: bool, outcomes=OUTCOMES + ("fasting_glucose",)) -> list[dict]:
    """arms.csv rows of a trial as a paper prints them: rounded means and SDs, each outcome in one printed unit."""
    rows = []
    for outcome in outcomes:
        unit = rng.choice(list(PRINT_UNITS[outcome]))
        factor, decimals = PRINT_UNITS[outcome][unit], PRINT_DECIMALS[outcome]
        timepoints = ("baseline", "end", "change") if report_change else ("baseline", "end")
        for arm in draw.spec.arms:
            summary = arm_summary(draw, arm.key, outcome)
            for tp in timepoints:
                mean, sd = (round(v * factor, decimals) for v in summary[tp])
                rows.append(_arm_row(draw, arm, outcome, tp, mean, sd, unit))
    return rows


def study_row(study_id: str, n_randomised: int) -> dict:
    """studies.csv row of a simulated randomised trial."""
    row = dict.fromkeys(STUDY_COLUMNS, "")
    row.update(
        study_id=study_id, authors=PLACEHOLDER, year=2020.0, design="randomised, parallel", randomised="yes",
        population=PLACEHOLDER, n_randomised=str(n_randomised), background_advice="no",
        background_advice_quote=PLACEHOLDER, source_url=PLACEHOLDER_URL,
    )  # fmt: skip
    return row


# ---------------------------------------------------------------------------------------------------- meta-analyses
def trial_effect(draw: TrialDraw, outcome: str, basis: str, measure: str) -> tuple[float, float]:
    """escalc effect (treatment minus control) of a two-arm trial from its printed (rounded) summaries."""
    treat, control = draw.spec.arms[1].key, draw.spec.arms[0].key
    t, c = (arm_summary(draw, a, outcome)["end" if basis == "post" else "change"] for a in (treat, control))
    d = PRINT_DECIMALS[outcome]
    return escalc(
        measure, round(t[0], d), round(t[1], d), draw.n[treat], round(c[0], d), round(c[1], d), draw.n[control]
    )


@dataclass(frozen=True)
class PooledSpec:
    """A published meta-analysis: its trials, how it pooled them and what it printed."""

    source_id: str
    comparison: str
    trial: TrialSpec  # arms: (control, treatment)
    k: int = 8
    measure: str = "SMD"
    basis: str = "change"  # "change" or "post"; "alternate": post in even replications, change in odd ones
    analysis_label: str = "change"  # what the pooled row says: change, post or unknown
    method: str = "REML"
    list_included: bool = True


def pooled_rows(spec: PooledSpec, draws: list[TrialDraw], basis: str) -> list[dict]:
    """pooled.csv rows (HOMA-IR and fasting insulin, same trials) of one meta-analysis, rounded as printed."""
    if spec.measure == "ROM" and basis != "post":
        raise ValueError("a ROM is pooled on end values (a change score can be negative)")
    rows, decimals = [], 2 if spec.measure == "MD" else 3
    ids = ";".join(d.study_id for d in draws)
    for outcome in OUTCOMES:
        effects = [trial_effect(d, outcome, basis, spec.measure) for d in draws]
        fit = random_effects([e[0] for e in effects], [e[1] for e in effects], spec.method)
        row = dict.fromkeys(POOLED_COLUMNS, "")
        row.update(
            source_id=spec.source_id, authors=PLACEHOLDER, year=2024.0, journal=PLACEHOLDER, comparison=spec.comparison,
            intervention=spec.trial.arms[1].key, comparator=spec.trial.arms[0].key, population=PLACEHOLDER,
            outcome=outcome, measure=spec.measure, analysis=spec.analysis_label, estimate=round(fit.estimate, decimals),
            ci_low=round(fit.ci_low, decimals), ci_high=round(fit.ci_high, decimals), k_studies=float(len(draws)),
            unit="uIU/mL" if spec.measure == "MD" and outcome == "fasting_insulin" else "", included_studies=ids,
            source_url=PLACEHOLDER_URL, source_locator=PLACEHOLDER, quote=PLACEHOLDER,
            notes=f"{spec.method}, {basis}", included_study_ids=ids if spec.list_included else "",
            included_study_ids_quote=PLACEHOLDER if spec.list_included else "",
            included_study_ids_source=PLACEHOLDER_URL if spec.list_included else "",
            included_studies_complete="yes" if spec.list_included else "",
        )  # fmt: skip
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class Scenario:
    """Named evidence set: published meta-analyses, arm-level trials, and the truth that made them."""

    description: str
    pooled: tuple[PooledSpec, ...]
    arm_trials: tuple[TrialSpec, ...]
    overlap: bool = False  # the first pooled meta-analysis' first trial is also reported at arm level
    population: Population = Population()
    effects: Effects = Effects()
    report_change_p: float = 0.5  # probability that an arm-level trial prints change rows

    def informed(self) -> list[tuple[str, str]]:
        """Component x outcome pairs that the evidence informs (the ones the harness scores)."""
        arms = [a for t in self.arm_trials for a in t.arms] + [a for p in self.pooled for a in p.trial.arms]
        return [(c, o) for c in COMPONENTS if any(c in a.components for a in arms) for o in OUTCOMES]


INOSITOL_TRIAL = TrialSpec((PLACEBO, INOSITOL))
OTHER_TRIALS = (
    TrialSpec((PLACEBO, METFORMIN)),
    TrialSpec((PLACEBO, METFORMIN)),
    TrialSpec((NO_TREATMENT, EXERCISE)),
    TrialSpec((NO_TREATMENT, EXERCISE)),
)


def _inositol_ma(**kwargs) -> PooledSpec:
    return PooledSpec("SimMA", "inositol_vs_control", INOSITOL_TRIAL, **kwargs)


SCENARIOS = {
    "smd_change": Scenario(
        "pooled SMD of change scores (inositol vs placebo, REML), plus arm-level metformin and exercise trials",
        (_inositol_ma(measure="SMD", basis="change", analysis_label="change"),),
        OTHER_TRIALS,
    ),
    "smd_end": Scenario(
        "pooled SMD of end values (inositol vs placebo, REML), plus arm-level trials",
        (_inositol_ma(measure="SMD", basis="post", analysis_label="post"),),
        OTHER_TRIALS,
    ),
    "md_drift": Scenario(
        "pooled MD of change (inositol vs placebo, DL) with a control drift of -15% insulin, -2% glucose",
        (_inositol_ma(measure="MD", basis="change", analysis_label="change", method="DL"),),
        OTHER_TRIALS,
        population=Population(drift_mean=(-0.02, -0.15)),
    ),
    "unknown_basis": Scenario(
        "pooled SMD printed with analysis 'unknown': end values in even replications, change scores in odd ones",
        (_inositol_ma(measure="SMD", basis="alternate", analysis_label="unknown"),),
        OTHER_TRIALS,
    ),
    "rom_end": Scenario(
        "positive control: pooled log ratio of end means (ROM, the model's own scale), plus arm-level trials",
        (_inositol_ma(measure="ROM", basis="post", analysis_label="post"),),
        OTHER_TRIALS,
    ),
    "overlap": Scenario(
        "pooled SMD of change scores, included trials not listed; its first trial is also reported at arm level",
        (_inositol_ma(measure="SMD", basis="change", analysis_label="change", list_included=False),),
        OTHER_TRIALS,
        overlap=True,
    ),
}


@dataclass
class Replication:
    """One simulated evidence set: the tables as the pipeline reads them, and the truth."""

    arms: pd.DataFrame
    pooled: pd.DataFrame
    studies: pd.DataFrame
    truth: dict  # (component, outcome) -> log ratio of means
    informed: list
    bases: dict  # pooled source_id -> basis actually pooled


def _basis(spec: PooledSpec, replication: int) -> str:
    return ("post", "change")[replication % 2] if spec.basis == "alternate" else spec.basis


def simulate(scenario: Scenario, seed: int, replication: int = 0) -> Replication:
    """Tables (arms, pooled, studies) and truth of one replication of `scenario`."""
    # separate streams: the arm-level trials of a replication are the same in every scenario (common random numbers)
    rng, arm_rng = np.random.default_rng([seed, replication, 0]), np.random.default_rng([seed, replication, 1])
    pop, effects = scenario.population, scenario.effects
    arm_rows_, pooled_rows_, studies, bases = [], [], [], {}
    for i, spec in enumerate(scenario.pooled):
        draws = [simulate_trial(rng, f"P{i + 1}T{j + 1:02d}", spec.trial, pop, effects) for j in range(spec.k)]
        bases[spec.source_id] = _basis(spec, replication)
        pooled_rows_ += pooled_rows(spec, draws, bases[spec.source_id])
        studies += [study_row(d.study_id, sum(d.n.values())) for d in draws]
        if scenario.overlap and i == 0:
            arm_rows_ += arm_rows(draws[0], rng, rng.random() < scenario.report_change_p)
    for j, spec in enumerate(scenario.arm_trials):
        draw = simulate_trial(arm_rng, f"A{j + 1:02d}", spec, pop, effects)
        arm_rows_ += arm_rows(draw, arm_rng, arm_rng.random() < scenario.report_change_p)
        studies.append(study_row(draw.study_id, sum(draw.n.values())))
    arms = pd.DataFrame(arm_rows_, columns=ARM_COLUMNS)
    arms["_line"] = np.arange(2, len(arms) + 2)
    return Replication(
        arms=arms,
        pooled=pd.DataFrame(pooled_rows_, columns=POOLED_COLUMNS),
        studies=pd.DataFrame(studies, columns=STUDY_COLUMNS),
        truth=true_log_ratios(effects),
        informed=scenario.informed(),
        bases=bases,
    )


# ---------------------------------------------------------------------------------------------------- expectations
def population_moments(pop: Population, shift: np.ndarray, outcome: str) -> dict[str, float]:
    """Exact mean and SD of baseline, end and change of `outcome` in an arm with log `shift` (drift included) and no
    between-trial variation (trial means at the population's)."""
    power = {"fasting_glucose": np.array([1.0, 0.0]), "fasting_insulin": np.array([0.0, 1.0])}.get(outcome, np.ones(2))
    s, rho, r = np.array(pop.log_sd), np.array(pop.rho), pop.corr_log
    cov0 = np.outer(s, s) * np.array([[1.0, r], [r, 1.0]])
    m0 = power @ np.array(pop.log_mean) - (math.log(HOMA_DIVISOR) if outcome == "homa_ir" else 0.0)
    v = power @ cov0 @ power
    c01 = power @ cov0 @ np.diag(rho) @ power  # cov(log X0, log X1): log X1 - m1 = rho (log X0 - m0) + innovation
    m1 = m0 + power @ shift
    e0, e1 = math.exp(m0 + v / 2), math.exp(m1 + v / 2)
    var0, var1 = e0**2 * math.expm1(v), e1**2 * math.expm1(v)
    cov = e0 * e1 * math.expm1(c01)
    return {
        "baseline": (e0, math.sqrt(var0)),
        "end": (e1, math.sqrt(var1)),
        "change": (e1 - e0, math.sqrt(var0 + var1 - 2 * cov)),
    }


def expected_effect(pop: Population, treat_shift, control_shift, outcome: str, basis: str, measure: str) -> float:
    """Population value (n -> infinity, no heterogeneity) of a trial's SMD or MD on end values or change scores, or
    its ROM of end values."""
    key = "end" if basis == "post" else "change"
    t = population_moments(pop, np.asarray(treat_shift), outcome)[key]
    c = population_moments(pop, np.asarray(control_shift), outcome)[key]
    if measure == "ROM":
        return math.log(t[0] / c[0])
    difference = t[0] - c[0]
    return difference if measure == "MD" else difference / math.sqrt((t[1] ** 2 + c[1] ** 2) / 2)


# ---------------------------------------------------------------------------------------------------- harness
def summarise(errors: np.ndarray, sds: np.ndarray, hits: np.ndarray) -> dict:
    """Coverage of the 90% interval, bias, posterior SD and binomial test of coverage against 0.90."""
    n = len(hits)
    return {
        "replications": n,
        "coverage_90": float(np.mean(hits)),
        "p_coverage": float(stats.binomtest(int(np.sum(hits)), n, 0.9).pvalue),
        "mean_bias": float(np.mean(errors)),
        "bias_mc_se": float(np.std(errors, ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
        "mean_posterior_sd": float(np.mean(sds)),
        "bias_over_sd": float(np.mean(errors) / np.mean(sds)),
        "rmse": float(np.sqrt(np.mean(errors**2))),
    }


def score(draws: np.ndarray, truth: float) -> tuple[float, float, bool]:
    """(posterior mean - truth, posterior SD, truth inside the central 90% interval) of one posterior."""
    low, high = np.quantile(draws, [0.05, 0.95])
    return float(np.mean(draws) - truth), float(np.std(draws)), bool(low <= truth <= high)


SCORE_COLUMNS = ["scenario", "replication", "component", "outcome", "error", "posterior_sd", "hit", "seconds"]


def score_replications(name: str, replications, fit, seed: int = 2026, config: dict | None = None) -> pd.DataFrame:
    """Simulate the evidence sets `replications` (an iterable of indices) of scenario `name`, fit each with
    `fit(tables, config)` (a dict (component, outcome) -> 1-D posterior draws on the log ratio scale) and score every
    informed effect: one row per replication and effect (error, posterior SD, hit of the 90% interval, and the
    seconds the fit took). A replication depends only on (seed, index), so batches of indices can run anywhere."""
    from irsynth.config import load_config

    config = config or load_config(Path(__file__).resolve().parent.parent / "config" / "config.yaml")
    scenario = SCENARIOS[name]
    rows = []
    for r in replications:
        started = time.perf_counter()
        rep = simulate(scenario, seed, r)
        posterior = fit(rep, config)
        seconds = time.perf_counter() - started
        for component, outcome in scenario.informed():
            error, sd, hit = score(np.asarray(posterior[(component, outcome)]).ravel(), rep.truth[(component, outcome)])
            row = {"scenario": name, "replication": int(r), "component": component, "outcome": outcome}
            rows.append(row | {"error": error, "posterior_sd": sd, "hit": hit, "seconds": seconds})
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def summarise_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and informed effect (in order of first appearance): the truth and `summarise` of its scores, and
    the mean seconds per replication."""
    rows = []
    for (name, component, outcome), group in scores.groupby(["scenario", "component", "outcome"], sort=False):
        truth = true_log_ratios(SCENARIOS[name].effects)[(component, outcome)]
        row = {"scenario": name, "component": component, "outcome": outcome, "truth": truth}
        errors, sds, hits = (group[c].to_numpy() for c in ("error", "posterior_sd", "hit"))
        seconds = group.drop_duplicates("replication")["seconds"].mean()
        rows.append({**row, **summarise(errors, sds, hits), "seconds_per_replication": seconds})
    return pd.DataFrame(rows)


def run_scenario(name: str, replications: int, fit, seed: int = 2026, config: dict | None = None) -> pd.DataFrame:
    """`summarise_scores` of replications 0 .. replications - 1 of scenario `name` (see `score_replications`)."""
    return summarise_scores(score_replications(name, range(replications), fit, seed, config))


# ---------------------------------------------------------------------------------------------------- today's fit
FIT_SAMPLING = {"sampler": "nutpie", "draws": 500, "tune": 500, "chains": 4, "cores": 2, "target_accept": 0.95}
_SAMPLERS: dict = {}


def evidence_config(tables: Replication, config: dict) -> dict:
    """A copy of `config` whose evidence set (`evidence_model.pooled`) is every simulated pooled row."""
    config = copy.deepcopy(config)
    config["evidence_model"]["pooled"] = [
        {"source_id": r.source_id, "outcome": r.outcome, "analysis": r.analysis, "comparison": r.comparison}
        for r in tables.pooled.itertuples()
    ]
    return config


def simulated_evidence_data(tables: Replication, config: dict):
    """The pipeline's code path from tables to EvidenceData: harmonise -> arm_changes -> contrasts -> evidence_data."""
    from irsynth.effects import contrasts
    from irsynth.evidence_set import evidence_data
    from irsynth.harmonise import arm_changes, harmonise_arms

    config = evidence_config(tables, config)
    changes = arm_changes(harmonise_arms(tables.arms, tables.studies, config), config)
    return evidence_data(tables.pooled, contrasts(changes, config), changes, tables.studies, config)


def _model_data(data) -> dict[str, np.ndarray]:
    """Every pm.Data value of the evidence model for `data` (the primary analysis' masks included)."""
    values = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    values = {k: v for k, v in values.items() if isinstance(v, np.ndarray)}
    return values | data.left_out()


def _sampler(data, evidence_settings: dict, sampling: dict):
    """A compiled evidence model for data of this shape and these sampling settings (compiled once, re-used with new
    pm.Data values)."""
    from irsynth.fitting import Sampler
    from models.evidence import build_evidence_model

    shapes = tuple((k, np.shape(v)) for k, v in sorted(_model_data(data).items()))
    key = (shapes, repr(evidence_settings["priors"]), evidence_settings["outcome_correlation"], repr(sampling))
    if key not in _SAMPLERS:
        model = build_evidence_model(data, evidence_settings["priors"], evidence_settings["outcome_correlation"])
        _SAMPLERS[key] = Sampler(model, sampling, var_names=[rv.name for rv in model.free_RVs])
    return _SAMPLERS[key]


def fit_evidence_model(
    tables: Replication, config: dict, seed: int | None = None, sampling: dict | None = None
) -> dict:
    """Fit the pipeline's evidence model to simulated tables: posterior draws of d per (component, outcome).
    `sampling` overrides entries of FIT_SAMPLING (draws, tune, chains, cores ...)."""
    data = simulated_evidence_data(tables, config)
    low_rank = config["sampling"].get("low_rank_mass_matrix", False)
    sampling = {**FIT_SAMPLING, "low_rank_mass_matrix": low_rank, **(sampling or {})}
    sampler = _sampler(data, config["evidence_model"], sampling)
    values = {k: v for k, v in _model_data(data).items() if k in sampler.model.named_vars}
    trace = sampler.sample(seed=config["sampling"]["seed"] if seed is None else seed, **values)
    d_insulin, d_glucose, d_gap = (trace.posterior[n] for n in ("d_insulin", "d_glucose", "d_gap"))
    homa = d_insulin + d_glucose + d_gap
    return {
        (str(c), o): values.sel(component=c).values.ravel()
        for c in d_insulin.component.values
        for o, values in (("homa_ir", homa), ("fasting_insulin", d_insulin))
    }


__all__ = [
    "SCENARIOS", "Effects", "Population", "Replication", "Scenario", "expected_effect", "fit_evidence_model",
    "population_moments", "run_scenario", "score_replications", "simulate", "summarise_scores", "true_log_ratios",
]  # fmt: skip
