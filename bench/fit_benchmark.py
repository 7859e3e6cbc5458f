"""Benchmark of the fit stage; prints figures, asserts nothing.

    .venv/bin/python bench/fit_benchmark.py [--trials 200]

1. Pairwise model on a synthetic set of `--trials` studies: compile and sampling time, and bulk ESS per second of
   mu and tau, for nutpie and for PyMC's NUTS (ratio nutpie / PyMC in the same run).
2. Exact-vs-MCMC accuracy of the pairwise model (difference of posterior median and 95% quantiles of mu and tau).
3. Network meta-analysis on a synthetic network of `--trials` trials (five treatments, a tenth of them three-arm):
   compile and sampling time, ESS/s of the treatment effects.
4. Evidence model on the bundled data (needs `make run` first for results/): compile and sampling time.
5. Peak resident memory of this process.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from irsynth.config import load_config
from irsynth.exact import exact_posterior
from irsynth.fitting import Sampler
from models.network import build_network, multi_arm_contrasts
from models.pairwise import build_pairwise
from models.priors import tau_logpdf

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"draws": 1000, "tune": 1000, "chains": 4, "cores": 2, "target_accept": 0.95}
TAU_PRIOR = {"family": "half_normal", "scale": 0.5}


def synthetic_trials(k: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    se = rng.uniform(0.08, 0.4, k)
    theta = rng.normal(-0.2, 0.15, k)
    return rng.normal(theta, se), se


def synthetic_network(k: int, seed: int = 2):
    rng = np.random.default_rng(seed)
    treatments = ["control", "MI", "MET", "exercise", "diet_exercise"]
    truth = np.array([0.0, -0.3, -0.35, -0.15, -0.2])
    studies = []
    for i in range(k):
        size = 3 if i % 10 == 0 else 2
        arms = sorted(rng.choice(len(treatments), size=size, replace=False).tolist())
        variances = rng.uniform(0.005, 0.03, size)
        means = rng.normal(truth[arms] + rng.normal(0, 0.1, size) * (np.arange(size) > 0), np.sqrt(variances))
        y, cov = multi_arm_contrasts(means, variances)
        studies.append({"name": f"s{i}", "arms": arms, "y": y, "cov": cov})
    return treatments, studies


def time_pairwise(sampler: str, y, se):
    start = time.perf_counter()
    model = build_pairwise(y, se, [f"s{i}" for i in range(len(y))], {"mean": 0.0, "sd": 1.0}, TAU_PRIOR)
    fitter = Sampler(model, {**SETTINGS, "sampler": sampler})
    if sampler == "pymc":  # PyMC compiles on first use: time a first tiny run as its compile
        Sampler(model, {**SETTINGS, "sampler": sampler, "draws": 100, "tune": 100}).sample(seed=0)
    compiled = time.perf_counter()
    trace = fitter.sample(seed=1)
    sampled = time.perf_counter()
    ess = az.ess(trace, var_names=["mu", "tau"], method="bulk")
    return compiled - start, sampled - compiled, {v: float(ess[v]) for v in ("mu", "tau")}, trace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    y, se = synthetic_trials(args.trials)

    print(f"== pairwise model, {args.trials} synthetic trials, 4 chains x 1000 draws ==")
    rates, traces = {}, {}
    for sampler in ("nutpie", "pymc"):
        compile_s, sample_s, ess, traces[sampler] = time_pairwise(sampler, y, se)
        rates[sampler] = {v: e / sample_s for v, e in ess.items()}
        print(
            f"{sampler:7s} compile {compile_s:6.2f} s  sampling {sample_s:6.2f} s  "
            f"ESS/s mu {rates[sampler]['mu']:8.0f}  tau {rates[sampler]['tau']:8.0f}"
        )
    for v in ("mu", "tau"):
        print(f"ESS/s ratio nutpie / PyMC, {v}: {rates['nutpie'][v] / rates['pymc'][v]:.1f}x")

    print("== exact vs MCMC (nutpie), same data ==")
    exact = exact_posterior(y, se**2, tau_logpdf(TAU_PRIOR), (0.0, 1.0))
    post = traces["nutpie"].posterior
    for q in (0.025, 0.5, 0.975):
        mu = float(np.quantile(post["mu"].values, q)) - exact.mu.quantile(q)
        tau = float(np.quantile(post["tau"].values, q)) - exact.tau_quantile(q)
        print(f"q{q:<5}: MCMC - exact  mu {mu:+.4f}  tau {tau:+.4f}")
    start = time.perf_counter()
    exact_posterior(y, se**2, tau_logpdf(TAU_PRIOR), (0.0, 1.0))
    print(f"exact posterior alone: {1000 * (time.perf_counter() - start):.1f} ms")

    print(f"== network meta-analysis, synthetic network of {args.trials} trials ==")
    treatments, studies = synthetic_network(args.trials)
    start = time.perf_counter()
    fitter = Sampler(build_network(treatments, studies, 0.5, 0.2), {**SETTINGS, "sampler": "nutpie"})
    compiled = time.perf_counter()
    trace = fitter.sample(seed=1)
    sampled = time.perf_counter()
    ess = az.ess(trace, var_names=["d_free"], method="bulk")["d_free"].values
    print(
        f"compile {compiled - start:.2f} s  sampling {sampled - compiled:.2f} s  "
        f"min bulk ESS/s of effects {ess.min() / (sampled - compiled):.0f}"
    )

    results = ROOT / "results"
    if (results / "models/evidence/posterior.nc").exists():
        from irsynth.csvfile import read_effects
        from irsynth.evidence_set import evidence_data
        from models.evidence import build_evidence_model

        config = load_config(ROOT / "config/config.yaml")
        read = lambda p: pd.read_csv(results / p, keep_default_na=False, na_values=[""])  # noqa: E731
        contrasts = read_effects(results / "effects/contrasts.csv")
        data = evidence_data(
            read("validated/pooled.csv"),
            contrasts,
            read("harmonised/arm_changes.csv"),
            read("validated/studies.csv"),
            config,
        )
        settings = config["evidence_model"]
        start = time.perf_counter()
        model = build_evidence_model(data, settings["priors"], settings["outcome_correlation"])
        fitter = Sampler(model, {**SETTINGS, "sampler": "nutpie"})
        compiled = time.perf_counter()
        fitter.sample(seed=1)
        sampled = time.perf_counter()
        print(f"== evidence model, bundled data: compile {compiled - start:.2f} s, sampling {sampled - compiled:.2f} s")
    else:
        print("(run `make run` first to benchmark the evidence model on the bundled data)")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
