"""A workflow target run through a real SLURM cluster (profiles/slurm, snakemake-executor-plugin-slurm) goes through
sbatch and gives the same outputs as a local run.

`make test-slurm` starts a single-node cluster on this machine (.ci/slurm/start-slurm.sh, as root) and runs this
module with IRSYNTH_REQUIRE_SLURM=1. Without a cluster the test is skipped, unless that variable requires one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, snakemake_env

pytestmark = pytest.mark.slurm

# target -> (config overrides that keep it small, its rules that the compared runs make again, outputs that must be
# byte-identical to a local run's). A warm-up run makes everything the target needs; the local and the cluster run
# start from copies of its results/ and make the target's own jobs again.
SMALL_FITS = {"sampling": {"draws": 300, "tune": 300, "on_gate_failure": "warn"}}
TARGETS = {
    "calibration": (
        {
            "calibration": {
                "scenarios": ["smd_end"],
                "replications": 3,
                "batch_size": 2,
                "sampling": {"draws": 100, "tune": 100, "chains": 2},
            }
        },
        ["calibration_batch"],
        ["results/calibration/summary.csv"],
    ),
    "next_trial": (
        SMALL_FITS
        | {
            "next_trial": {
                "simulations": 10,
                "batch_size": 5,
                "funnel": {
                    "effects": 5,
                    "standard_errors": 3,
                    "n_per_arm_range": [10, 1000],
                    "max_mcmc": 0,
                    "moment_matching": False,
                },
            }
        },
        ["next_trial_design", "next_trial_batch"],
        ["results/next_trial/summary.csv", "results/next_trial/funnel.csv"],
    ),
}
# what a single-node cluster without slurmdbd needs: no account to guess, job states from squeue (its MinJobAge keeps
# finished jobs there), and a short first wait for a small run
CLUSTER_ARGS = [
    "--slurm-no-account",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "5",
]
TIMEOUT = 3600


def _require(reason: str):
    if os.environ.get("IRSYNTH_REQUIRE_SLURM") == "1":
        pytest.fail(f"{reason}, and IRSYNTH_REQUIRE_SLURM=1 requires it")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def jobcomp_log() -> Path:
    """The cluster's job-completion log (slurm.conf JobCompLoc), once a node is idle or busy."""
    if shutil.which("sinfo") is None:
        _require("no SLURM client (sinfo) on PATH")
    states = subprocess.run(["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True)
    if states.returncode != 0 or not {"idle", "mixed", "allocated"} & set(states.stdout.split()):
        _require(f"no SLURM node is up: {states.stdout.strip() or states.stderr.strip()}")
    plugin = subprocess.run([sys.executable, "-c", "import snakemake_executor_plugin_slurm"], capture_output=True)
    if plugin.returncode != 0:
        _require("snakemake-executor-plugin-slurm is not installed (make slurm-env)")
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"^JobCompLoc\s*=\s*(\S+)", config, flags=re.MULTILINE)
    assert found and "filetxt" in config, "the cluster keeps no job-completion log (JobCompType=jobcomp/filetxt)"
    return Path(found.group(1))


def _workflow_copy(folder: Path, overrides: dict, results: Path | None = None) -> Path:
    folder.mkdir()
    if results is not None:
        shutil.copytree(results, folder / "results", symlinks=True)
        # the forced jobs compute their results, not the stored ones (irsynth.nexttrial_stage.job_key)
        shutil.rmtree(folder / "results" / "cache" / "next_trial", ignore_errors=True)
    shutil.copy(ROOT / "Snakefile", folder)
    for name in ("workflow", "config", "data", "profiles"):
        shutil.copytree(ROOT / name, folder / name)
    (folder / "small.yaml").write_text(yaml.safe_dump(overrides))
    return folder


def _snakemake(work: Path, *args: str) -> tuple[str, float]:
    """Run Snakemake in `work`; its log (stdout and stderr) and wall time in seconds."""
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=work,
        env=snakemake_env(work),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    seconds = time.perf_counter() - started
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout + run.stderr, seconds


def _completed_jobs(log: Path) -> dict[str, dict[str, str]]:
    """JobId -> fields of each record of a jobcomp/filetxt log."""
    records = {}
    for line in log.read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" in fields:
            records[fields["JobId"]] = fields
    return records


@pytest.mark.parametrize("target", TARGETS)
def test_target_goes_through_sbatch_and_equals_a_local_run(target, jobcomp_log, tmp_path):
    overrides, forced, compared = TARGETS[target]
    # the warm-up run makes what the target needs and fills PyTensor's compile cache: a cold-compiled model samples
    # different (equally valid) draws than a cached one (README, Reproducibility), and both compared runs must use it
    warm_up = _workflow_copy(tmp_path / "warm_up", overrides)
    _snakemake(warm_up, "--cores", "2", target, "--configfile", "small.yaml")
    local = _workflow_copy(tmp_path / "local", overrides, results=warm_up / "results")
    cluster = _workflow_copy(tmp_path / "slurm", overrides, results=warm_up / "results")
    again = ["--forcerun", *forced, "--configfile", "small.yaml"]

    _, local_seconds = _snakemake(local, "--cores", "2", target, *again)
    log, slurm_seconds = _snakemake(cluster, "--profile", "profiles/slurm", *CLUSTER_ARGS, target, *again)

    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    remote_jobs = re.findall(r"^rule (\w+):$", log, flags=re.MULTILINE)  # local rules print "localrule"
    assert job_ids and len(job_ids) == len(remote_jobs), log
    completed = _completed_jobs(jobcomp_log)
    for job_id in job_ids:
        assert job_id in completed, f"SLURM job {job_id} is not in {jobcomp_log}"
        assert completed[job_id]["Name"] == run_id and completed[job_id]["JobState"] == "COMPLETED"

    for path in compared:
        assert (cluster / path).read_bytes() == (local / path).read_bytes(), path
    print(
        f"\n{target}: local {local_seconds:.0f} s; SLURM {slurm_seconds:.0f} s, {len(job_ids)} jobs through sbatch "
        f"(ids {', '.join(job_ids)}; {', '.join(sorted(set(remote_jobs)))}), all COMPLETED in {jobcomp_log}"
    )
