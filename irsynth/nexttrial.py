"""Next-trial design: which new trial would settle the question, from the posterior itself.

For a candidate design (a comparison, an outcome, n per arm, a duration) future trials are simulated from the
posterior predictive (Sutton, Cooper, Jones, Lambert, Thompson & Abrams 2007, Stat Med 26:2479, "updated
meta-analysis" sample size): a posterior draw theta_i gives the design's mean contrast m_i (the evidence model's own
contrast mean for a trial of that design: component effects and the meta-regression at its duration), the trial's
own effect theta_new ~ Normal(m_i, tau_i) and its estimate y ~ Normal(theta_new, v_i), v_i = 2 s_i^2 / n, s_i the
patients' SD of the log change the model estimates from its scale anchors (patient_sd_log). The trial enters the
evidence as one more arm-level contrast with that variance, and the posterior is updated exactly as the living review
updates it (irsynth.updating): the stored primary fit reweighted by Pareto-smoothed importance sampling when that is
reliable (Pareto k <= evidence_model.update.pareto_k_max and the weights' ESS >= sampling.gates.ess_min), its draws
moved by moment matching where that makes the weights reliable (irsynth.moment_matching), a fresh MCMC fit
otherwise. Study effects are integrated out, so the log weight of a draw is the new trial's log likelihood.
The primary posterior is always an MCMC fit (the evidence stage samples it whenever what informs it changes): a PSIS
update's repeated draws and reduced ESS would send most simulated trials to MCMC one by one.

The question is the decision layer's: P(meaningful reduction) = P(ratio of means < 1 - decision.meaningful_reduction)
of the design's effect. The answer is conclusive when it is above `conclusive.above` or below `conclusive.below`; the
decision for the typical patient is whether a meaningful reduction is more likely than not (P > 0.5). Per design and
n: the assurance (probability that the updated answer is conclusive), the expected width of the updated 95%
interval of the ratio, and the probability that the decision changes, each with its Monte Carlo standard error.

The extended funnel plot (Langan, Higgins, Gregory & Sutton 2012, J Clin Epidemiol 65:511) maps the plane of a new
trial's (estimate, standard error) to the conclusion the evidence would reach with that trial added.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from irsynth.evidence_set import class_vector, covariates
from models.evidence_data import CONTRAST, OUTCOMES, EvidenceData

DECISION_THRESHOLD = 0.5  # the typical patient's decision: a meaningful reduction more likely than not
CONCLUSIONS = ("no meaningful reduction", "inconclusive", "meaningful reduction")
MOMENT_MATCHED = "PSIS update, moment-matched"
UNRESOLVED = "unresolved (PSIS unreliable, MCMC budget used up)"


def conclusion(p_meaningful, conclusive: dict):
    """-1 (conclusively no meaningful reduction), 0 (inconclusive) or 1 (conclusively a meaningful reduction)."""
    p = np.asarray(p_meaningful)
    return np.where(p > conclusive["above"], 1, np.where(p < conclusive["below"], -1, 0))


def batch_seed(seed: int, design: str, batch: int) -> np.random.SeedSequence:
    """The random stream of one batch of one design: the same wherever and in whatever order the batches run."""
    return np.random.SeedSequence([seed, zlib.crc32(design.encode()), batch])


@dataclass
class Update:
    """The design's effect (log ratio draws) after adding a trial, and how that posterior was obtained."""

    effect: np.ndarray
    method: str  # "PSIS update", MOMENT_MATCHED or "MCMC"
    pareto_k: float
    gates: str = "passed"


class TrialUpdater:
    """Posteriors of a model after adding one new trial, updated from a stored fit as the living review does.

    `overrides(y, var)` gives the pm.Data values that add a trial with estimate y and sampling variance var (None:
    the stored evidence alone); `effect(posterior)` the design's effect draws from a posterior with deterministics;
    `refit` the sampling settings (draws, tune) of the MCMC fits where PSIS is unreliable, over `sampling`."""

    def __init__(self, model, posterior: xr.Dataset, ess: float, sampling: dict, update: dict, overrides, effect,
                 refit: dict | None = None):  # fmt: skip
        from irsynth.updating import PosteriorFunctions

        self.model, self.sampling, self.update_settings = model, sampling, update
        self.refit_sampling = {**sampling, **(refit or {})}
        self.overrides, self.effect_of = overrides, effect
        self.functions = PosteriorFunctions(model)
        self._sampler = None
        self.posterior, self.ess = posterior[self.functions.free], ess
        self.log_density, extra = self.functions(self.posterior, **self.overrides(None, None))
        self.stored = xr.merge([self.posterior, extra])
        self.effect = self.effect_of(self.stored)
        self.log_likelihood = None  # closed form of the new trial's log likelihood (use_closed_form)

    def use_closed_form(self, log_likelihood, tolerance: float = 1e-6) -> bool:
        """Take the log weights of adding a trial from `log_likelihood` ((y, var) -> the trial's log likelihood at
        each stored draw, flattened, up to a constant) instead of evaluating the model, where the two agree within
        `tolerance` at three trials (a typical one, a small far one, a large precise one); whether they do."""
        centre, spread = float(np.median(self.effect)), float(np.std(self.effect))
        trials = [(centre, 0.05), (centre - 4 * spread, 0.5), (centre + 2 * spread, 0.001)]
        differences = [self._model_log_ratio(y, var).ravel() - log_likelihood(y, var) for y, var in trials]
        agrees = all(np.ptp(d) < tolerance for d in differences)
        self.log_likelihood = log_likelihood if agrees else None
        return agrees

    def log_ratio(self, y: float, var: float) -> np.ndarray:
        """The log importance weights (chain x draw, up to a constant) of adding a trial (estimate y, sampling
        variance var) to the stored fit: its closed form where one was taken (use_closed_form), else the model's."""
        if self.log_likelihood is not None:
            return self.log_likelihood(y, var).reshape(self.log_density.shape)
        return self._model_log_ratio(y, var)

    def _model_log_ratio(self, y: float, var: float) -> np.ndarray:
        log_density, _ = self.functions(self.posterior, **self.overrides(y, var))
        return log_density - self.log_density

    def draws(self, name: str) -> np.ndarray:
        """Draws of a stored variable, flattened over chains (draws x ...)."""
        values = self.stored[name].values
        return values.reshape(-1, *values.shape[2:])

    def add(self, y: float, var: float, seed: int) -> Update:
        """The posterior with a trial (estimate y, sampling variance var) added: PSIS where reliable, else MCMC."""
        update, pareto_k = self.psis(y, var, seed)
        return update or self.mcmc(y, var, seed, pareto_k)

    def psis(self, y: float, var: float, seed: int, matching: bool = True) -> tuple[Update | None, float]:
        """The PSIS update of the stored fit, moment-matched where plain PSIS is unreliable (irsynth.moment_matching;
        with `matching` and evidence_model.update.moment_matching), or None where the living review's rule
        (irsynth.updating.unreliable) finds it unreliable; and the Pareto k of the weights tried last."""
        from irsynth.updating import matched_update, psis_resample, unreliable

        try:
            weights = psis_resample(self.log_ratio(y, var), seed)
        except ValueError:
            return None, np.nan
        settings, gates = self.update_settings, self.sampling["gates"]
        if not unreliable(weights.pareto_k, self.ess * weights.efficiency, settings, gates):
            return Update(self.effect[weights.indices], "PSIS update", weights.pareto_k), weights.pareto_k
        if not (matching and settings["moment_matching"]):
            return None, weights.pareto_k
        try:
            target = self.overrides(y, var)
            draws, matched = matched_update(
                self.functions, self.posterior, self.overrides(None, None), target, settings["pareto_k_max"],
                gates["ess_min"] / self.ess, seed,
            )  # fmt: skip
        except ValueError:
            return None, weights.pareto_k
        if unreliable(matched.pareto_k, self.ess * matched.efficiency, settings, gates):
            return None, matched.pareto_k
        effect = self.effect_of(xr.merge([draws, self.functions(draws, **target)[1]]))
        return Update(effect, MOMENT_MATCHED, matched.pareto_k), matched.pareto_k

    def mcmc(self, y: float, var: float, seed: int, pareto_k: float = np.nan) -> Update:
        """A fresh MCMC fit with the trial added; the gates its last attempt fails are recorded."""
        overrides = self.overrides(y, var)
        gated = self._fit(overrides, seed, "next-trial refit", self.refit_sampling)
        posterior = gated.trace.posterior.to_dataset()[self.functions.free]
        _, extra = self.functions(posterior, **overrides)
        gates = "; ".join(f.split(": ", 1)[1] for f in gated.failures) or "passed"
        return Update(self.effect_of(xr.merge([posterior, extra])), "MCMC", pareto_k, gates)

    def _fit(self, overrides: dict, seed: int, name: str, sampling: dict):
        """An MCMC fit under pm.Data `overrides` with `sampling`'s settings, through the retry ladder as every fit
        (irsynth.fitting.fit_gated)."""
        from irsynth.fitting import Sampler, fit_gated, sample_with

        if self._sampler is None:
            self._sampler = Sampler(self.model, sampling, var_names=self.functions.free)
        return fit_gated(sample_with(self._sampler, seed, **overrides), sampling, self.functions.free, name)


def summarise(effect: np.ndarray, meaningful: float) -> tuple[float, float]:
    """P(meaningful reduction) and the width of the 95% interval of the ratio of means, from log-ratio draws."""
    low, high = np.quantile(effect, [0.025, 0.975])
    return float(np.mean(effect < np.log(1 - meaningful))), float(np.exp(high) - np.exp(low))


def simulate(updater: TrialUpdater, predictive, ns: list[int], replicates: int, seed_sequence, config: dict):
    """Simulated trials of one batch, each at every n (common random numbers across n: one posterior draw and the
    same standard normal deviates), added to the evidence one at a time. `predictive`: draws (mean contrast m,
    heterogeneity tau, patients' SD s). One row per simulated trial and n."""
    settings = config["next_trial"]
    meaningful = config["decision"]["meaningful_reduction"]
    p0, width0 = summarise(updater.effect, meaningful)
    rng = np.random.default_rng(seed_sequence)
    m, tau, s = predictive
    rows = []
    for replicate in range(replicates):
        i = int(rng.integers(len(m)))
        z_effect, z_error = rng.standard_normal(2)
        fit_seed = int(rng.integers(2**31))
        theta = m[i] + tau[i] * z_effect
        for n in ns:
            var = 2 * s[i] ** 2 / n
            y = theta + np.sqrt(var) * z_error
            result = updater.add(y, var, fit_seed)
            p, width = summarise(result.effect, meaningful)
            rows.append({
                "replicate": replicate, "n_per_arm": n, "draw": i, "true_effect": theta, "estimate": y,
                "se": np.sqrt(var), "p_meaningful": p, "width": width,
                "conclusive": bool(conclusion(p, settings["conclusive"]) != 0),
                "decision_changed": bool((p > DECISION_THRESHOLD) != (p0 > DECISION_THRESHOLD)),
                "method": result.method, "pareto_k": result.pareto_k, "gates": result.gates,
            })  # fmt: skip
    return pd.DataFrame(rows)


def summary_table(simulations: pd.DataFrame) -> pd.DataFrame:
    """Per design and n: assurance, expected 95% interval width, P(decision changes), their Monte Carlo SEs, and
    the share of updates obtained by PSIS (and of those moment-matched) and by MCMC."""
    rows = []
    for (design, n), group in simulations.groupby(["design", "n_per_arm"], sort=False):
        k = len(group)
        assurance = group["conclusive"].mean()
        changed = group["decision_changed"].mean()
        rows.append({
            "design": design, "n_per_arm": n, "simulated_trials": k,
            "assurance": assurance, "assurance_mc_se": np.sqrt(assurance * (1 - assurance) / k),
            "expected_width": group["width"].mean(), "expected_width_mc_se": group["width"].std(ddof=1) / np.sqrt(k),
            "p_decision_changes": changed, "p_decision_changes_mc_se": np.sqrt(changed * (1 - changed) / k),
            "share_psis": group["method"].str.startswith("PSIS update").mean(),
            "share_moment_matched": (group["method"] == MOMENT_MATCHED).mean(),
            "share_mcmc": (group["method"] == "MCMC").mean(),
            "mcmc_gate_failures": int((group["gates"] != "passed").sum()),
        })  # fmt: skip
    return pd.DataFrame(rows)


# --- the evidence model's adaptor ---------------------------------------------------------------------------------


def design_vector(design: dict) -> np.ndarray:
    """Treatment-minus-comparator design over the model's terms."""
    return class_vector(design["treatment"]) - class_vector(design["comparator"])


def with_new_trial(data: EvidenceData, design: dict, regression: dict) -> EvidenceData:
    """The evidence with one more arm-level block, left out until a trial is added (evidence_overrides): its slot 0
    is a contrast of `design` on the design's outcome at the design's duration (baseline HOMA-IR not known: 0)."""
    k = data.arm_kind.shape[1]

    def append(name: str, slot0=None) -> np.ndarray:
        old = np.asarray(getattr(data, name))
        block = np.zeros((1, k, *old.shape[2:]), dtype=old.dtype)
        if slot0 is not None:
            block[0, 0] = slot0
        return np.concatenate([old, block])

    own = np.zeros(k)
    own[0] = 1.0  # the new contrast's own random effect and a placeholder variance (the block is left out)
    return replace(
        data,
        arm_study=[*data.arm_study, "new trial"],
        arm_slot_label=append("arm_slot_label", f"new trial: {design['name']}"),
        arm_comparison=append("arm_comparison", design["name"]),
        arm_overlap=append("arm_overlap", ""),
        arm_kind=append("arm_kind", CONTRAST),
        arm_outcome=append("arm_outcome", OUTCOMES.index(design["outcome"])),
        arm_x=append("arm_x", design_vector(design)),
        arm_covariates=append("arm_covariates", covariates(design["duration_weeks"], None, regression)),
        arm_y=append("arm_y"),
        arm_cov_sampling=append("arm_cov_sampling", own),
        arm_cov_cross=append("arm_cov_cross"),
        arm_re_contrast=append("arm_re_contrast", own),
        arm_re_control=append("arm_re_control"),
        arm_advice=append("arm_advice"),
        arm_left_out=append("arm_left_out", 1.0),
    )


def evidence_overrides(data: EvidenceData):
    """(y, var) -> pm.Data values of the padded evidence (with_new_trial) with the new trial in (None: left out)."""

    def overrides(y, var) -> dict:
        arm_y, cov, left_out = data.arm_y.copy(), data.arm_cov_sampling.copy(), data.arm_left_out.copy()
        if y is not None:
            arm_y[-1, 0], cov[-1, 0, 0], left_out[-1, 0] = y, var, 0.0
        return {"arm_y": arm_y, "arm_cov_sampling": cov, "arm_left_out": left_out}

    return overrides


def new_trial_effect(posterior: xr.Dataset) -> np.ndarray:
    """The design's mean contrast: the model's mean of the new trial's slot (log ratio of means), flattened."""
    return posterior["arm_mean"].values[..., -1, 0].ravel()


def evidence_updater(data: EvidenceData, design: dict, posterior: xr.Dataset, ess: float, config: dict):
    """A TrialUpdater of the evidence model for `design` from its MCMC fit `posterior` (smallest ESS `ess`), and its
    predictive draws (m, tau, s) of a new trial."""
    from models.evidence import build_evidence_model

    settings = config["evidence_model"]
    padded = with_new_trial(data, design, settings["regression"])
    model = build_evidence_model(padded, settings["priors"], settings["outcome_correlation"])
    sampling = {**config["sampling"], "target_accept": settings["target_accept"]}
    updater = TrialUpdater(
        model, posterior, ess, sampling, settings["update"], evidence_overrides(padded), new_trial_effect,
        {**settings["refit_sampling"], **config["next_trial"]["refit_sampling"]},
    )  # fmt: skip
    o = OUTCOMES.index(design["outcome"])
    mean, tau = updater.effect, updater.draws("tau")[:, o]
    # the trial's study effect is integrated out: y ~ Normal(m_i, tau_i^2 + var), each draw's design mean and tau
    if not updater.use_closed_form(lambda y, var: normal_log_pdf(y, mean, tau**2 + var)):
        print("WARNING: the new trial's log likelihood is not Normal(y; m, tau^2 + var) in this model: each update "
              "evaluates the model (slower, the same weights)")  # fmt: skip
    return updater, (mean, tau, updater.draws("patient_sd_log")[:, o])


def normal_log_pdf(x, mean, variance):
    """log Normal(x; mean, variance), elementwise."""
    return -0.5 * (np.log(2 * np.pi * variance) + (x - mean) ** 2 / variance)


def funnel_grid(updater: TrialUpdater, predictive, config: dict) -> pd.DataFrame:
    """The extended funnel plot's plane: per (estimate, standard error) of a new trial, P(meaningful reduction) of
    the evidence with that trial added and the conclusion it reaches. Estimates span the central 99% of the
    posterior predictive of the smallest trial's estimate; SEs those of trials of n_per_arm_range patients per arm
    (two arms, the patients' SD at its posterior median)."""
    settings = config["next_trial"]
    grid = settings["funnel"]
    meaningful = config["decision"]["meaningful_reduction"]
    m, tau, s = predictive
    low_n, high_n = grid["n_per_arm_range"]
    spread = np.sqrt(tau**2 + 2 * s**2 / low_n)
    rng = np.random.default_rng(settings["seed"])
    predicted = m + spread * rng.standard_normal(len(m))
    estimates = np.linspace(*np.quantile(predicted, [0.005, 0.995]), grid["effects"])
    sd = float(np.median(s))
    ses = np.geomspace(np.sqrt(2 * sd**2 / high_n), np.sqrt(2 * sd**2 / low_n), grid["standard_errors"])
    p0, _ = summarise(updater.effect, meaningful)
    low, median, high = np.exp(np.quantile(updater.effect, [0.025, 0.5, 0.975]))
    current = {"current_p_meaningful": p0, "current_conclusion": int(conclusion(p0, settings["conclusive"])),
               "current_ratio_median": median, "current_ratio_q0.025": low, "current_ratio_q0.975": high}  # fmt: skip
    rows, budget = [], grid["max_mcmc"]
    centre = int(np.argmin(np.abs(estimates - np.median(m))))
    for se in ses[::-1]:  # small trials first: their updates are the most often reliable
        # outward from the centre: past an update that is conclusive away from the centre, every estimate further
        # out is too (P(meaningful reduction) falls as the estimate rises) and needs no MCMC fit; other cells where
        # PSIS is unreliable get an MCMC fit while the budget lasts, and stay unresolved after it
        for step, order in ((1, range(centre, len(estimates))), (-1, range(centre - 1, -1, -1))):
            beyond = None
            for j in order:
                y = float(estimates[j])
                result, pareto_k = updater.psis(y, float(se**2), settings["seed"], grid["moment_matching"])
                row = {"estimate": y, "se": se, "p_meaningful": np.nan, "conclusion": beyond, "pareto_k": pareto_k,
                       "gates": "", **current}  # fmt: skip
                if result is None and (beyond is not None or budget == 0):
                    method = "implied (monotone in the estimate)" if beyond is not None else UNRESOLVED
                    rows.append({**row, "method": method})
                    continue
                if result is None:
                    result, budget = updater.mcmc(y, float(se**2), settings["seed"], pareto_k), budget - 1
                p, _ = summarise(result.effect, meaningful)
                code = int(conclusion(p, settings["conclusive"]))
                beyond = code if code == -step else beyond
                rows.append({**row, "p_meaningful": p, "conclusion": code, "method": result.method,
                             "gates": result.gates})  # fmt: skip
    return pd.DataFrame(rows).sort_values(["se", "estimate"], ignore_index=True)
