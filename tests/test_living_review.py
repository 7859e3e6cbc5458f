"""A living review does not stop on its most natural step (issue 12, cause 12): adding a second and a third trial to a
comparison that had one. Its pairwise MCMC cross-check, with 2-3 trials and a weakly identified tau, may diverge; it is
re-fitted with safer settings, and flagged (never fatal) if it still fails, since the exact posterior is the answer."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from conftest import ROOT, snakemake

from irsynth.config import load_config
from irsynth.fitting import retry_ladder
from irsynth.pairwise import fit_pairwise

CONFIG = load_config(ROOT / "config" / "config.yaml")

# Nehra 2017's inositol vs metformin HOMA-IR contrast (log ratio of mean changes and its variance, as in
# results/effects/contrasts.csv) and SYNTHETIC second trials (not evidence). At the configured sampling settings and
# seed, every one of 24 such second trials (log ratio -0.3 to 0.15, SE 0.12 to 0.25) made the pairwise fits diverge
# at target_accept 0.95 (divergences, or too low an ESS); most passed at 0.995, a few half-Cauchy fits still diverged
# at 0.999.
NEHRA = (0.009254, 0.018498)
PASSES_ON_RETRY = (-0.15, 0.18**2)
FAILS_EVERY_ATTEMPT = (0.0, 0.18**2)
PAIRWISE, SAMPLING = CONFIG["models"]["pairwise"], CONFIG["sampling"]


def _effects(*trials: tuple[float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "comparison": "inositol_vs_metformin",
            "outcome": "homa_ir",
            "basis": "change",
            "measure": "ROM",
            "usable": True,
            "study_id": [f"trial{i}" for i in range(len(trials))],
            "yi": [y for y, _ in trials],
            "vi": [v for _, v in trials],
        }
    )


def _fits(diagnostics: pd.DataFrame) -> pd.DataFrame:
    return diagnostics.drop_duplicates("tau_prior").set_index("tau_prior")


def test_a_diverging_pairwise_fit_passes_on_retry_with_the_settings_recorded():
    assert SAMPLING["on_gate_failure"] == "stop" and SAMPLING["target_accept"] == 0.95
    effects = _effects(NEHRA, PASSES_ON_RETRY)
    _, first, flagged, _ = fit_pairwise(effects, PAIRWISE, {**SAMPLING, "retries": []})
    # flagged, not raised (the half-normal fit sits near the edge: a single divergence or none, with the process's
    # compiled code; the half-Cauchy fit diverges well past it)
    assert _fits(first).loc["half_cauchy", "divergences"] > 5
    assert any("half_cauchy: " in message and "divergent transitions" in message for message in flagged)
    summary, diagnostics, messages, traces = fit_pairwise(effects, PAIRWISE, SAMPLING)
    fits = _fits(diagnostics)
    assert messages == [] and len(traces) == 2 and (fits["gate"] == "passed").all()
    ladder = retry_ladder(SAMPLING)
    assert fits.loc["half_cauchy", "attempt"] >= 2
    for prior, fit in fits.iterrows():
        recorded = {key: fit[key] for key in ("target_accept", "tune", "draws")}
        assert recorded == {key: ladder[fit["attempt"] - 1][key] for key in recorded}, prior
    assert set(summary["method"]) == {"exact + MCMC"}


def test_a_pairwise_fit_failing_every_attempt_is_flagged_not_fatal():
    settings = {**PAIRWISE, "tau_priors": {"half_cauchy": PAIRWISE["tau_priors"]["half_cauchy"]}}
    summary, diagnostics, messages, _ = fit_pairwise(_effects(NEHRA, FAILS_EVERY_ATTEMPT), settings, SAMPLING)
    fit = _fits(diagnostics).loc["half_cauchy"]
    assert fit["attempt"] == 3 and fit["target_accept"] == 0.999 and fit["gate"].startswith("failed: ")
    assert len(messages) == 1 and "after 3 attempts" in messages[0] and "exact posterior is reported" in messages[0]
    assert set(summary["method"]) == {"exact; MCMC cross-check failed its gates (flagged, see diagnostics)"}
    assert summary["exact_q0.5"].notna().all()


def _trial_yaml(study: str, year: int, mi: tuple[float, ...], met: tuple[float, ...]) -> str:
    """A SYNTHETIC two-arm inositol vs metformin trial (invented numbers, not evidence), 40 per arm, baseline and end
    HOMA-IR as (baseline mean, SD, end mean, SD) per arm."""
    url = f"https://example.org/{study.lower()}"
    head = f"""# SYNTHETIC trial for tests only: invented numbers, not evidence. Never copy into data/.
studies:
  - {{study_id: {study}, authors: Synthetic B, year: {year}, design: "randomized, open-label, parallel (synthetic)",
     randomised: "yes", blinding: open label, population: PCOS (synthetic), n_randomised: 80,
     background_advice: unclear, source_url: "{url}"}}
arms:
"""
    rows = []
    for arm, doses, values in (("MI", (4000, 0, 0), mi), ("MET", (0, 0, 1500), met)):
        kind = ", control_kind: active" if arm == "MET" else ""
        for timepoint, mean, sd in (("baseline", *values[:2]), ("end", *values[2:])):
            rows.append(
                f"  - {{study_id: {study}, arm: {arm}, mi_mg_day: {doses[0]}, dci_mg_day: {doses[1]}, "
                f"metformin_mg_day: {doses[2]}, lifestyle: none{kind}, duration_weeks: 24, outcome: homa_ir, "
                f'timepoint: {timepoint}, n: 40, mean: {mean}, sd: {sd}, unit: index, source_url: "{url}", '
                f'source_locator: Table 2, quote: "{arm} {timepoint} HOMA-IR {mean} ± {sd} (n = 40)"}}'
            )
    return head + "\n".join(rows) + "\n"


# plausible second and third trials: inositol a little better than, as good as, or a little worse than metformin
TRIALS = [
    ("SyntheticMet2026a", 2026, (4.1, 1.7, 3.0, 1.3), (4.0, 1.6, 3.1, 1.4)),
    ("SyntheticMet2026b", 2026, (3.8, 1.5, 3.1, 1.4), (3.9, 1.6, 2.8, 1.2)),
]


@pytest.mark.slow
def test_adding_a_second_and_a_third_trial_reaches_the_report(workspace, tmp_path):
    from irsynth.cli import main as cli_main

    work = tmp_path / "workflow"
    shutil.copytree(workspace, work, symlinks=True)
    for study, year, mi, met in TRIALS:
        template = tmp_path / f"{study}.yaml"
        template.write_text(_trial_yaml(study, year, mi, met), encoding="utf-8")
        assert cli_main(["add", str(template), "--data", str(work / "data")]) == 0
        run = snakemake(work)
        assert run.returncode == 0, run.stderr[-3000:]
        assert study in (work / "results/report/report.html").read_text(encoding="utf-8")
        summary = pd.read_csv(work / "results/models/pairwise/summary.csv")
        group = summary[(summary["comparison"] == "inositol_vs_metformin") & (summary["outcome"] == "homa_ir")]
        assert set(group["method"]) <= {
            "exact + MCMC",
            "exact; MCMC cross-check failed its gates (flagged, see diagnostics)",
        }
