"""The simulation proof in batches (irsynth.calibration, workflow target `calibration`): batching changes nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, snakemake

from irsynth import calibration
from irsynth import simulation as sim

BENCH = ROOT / "bench" / "simulation_proof_after.md"


def oracle(rep, _config):
    """A posterior that depends only on the replication: centred near the truth, SD 0.1."""
    rng = np.random.default_rng(int(1000 * abs(rep.pooled["estimate"].iloc[0])))
    return {key: rep.truth[key] + rng.normal(0.05, 0.1, 2000) for key in rep.informed}


def test_batches_cover_every_replication_once_in_order():
    assert [list(b) for b in calibration.batches(7, 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [list(b) for b in calibration.batches(2, 5)] == [[0, 1]]
    with pytest.raises(ValueError, match="batch_size"):
        calibration.batches(4, 0)


def test_gathered_batches_equal_the_one_process_run(config, tmp_path):
    name, seed = "md_drift", 5
    files = []
    for i, indices in enumerate(calibration.batches(5, 2)):
        files.append(tmp_path / f"{i}.csv")
        sim.score_replications(name, indices, oracle, seed, config).to_csv(files[-1], index=False)
    out = {key: tmp_path / f"{key}.out" for key in ("scores", "summary", "report")}
    calibration.gather(files, out["scores"], out["summary"], out["report"], seed)

    one = sim.score_replications(name, range(5), oracle, seed, config)
    gathered = pd.read_csv(out["scores"])
    pd.testing.assert_frame_equal(gathered.drop(columns="seconds"), one.drop(columns="seconds"))
    expected = sim.run_scenario(name, 5, oracle, seed, config).drop(columns="seconds_per_replication")
    pd.testing.assert_frame_equal(pd.read_csv(out["summary"]), expected)
    assert expected["replications"].eq(5).all() and (expected["mean_bias"] != 0).all()
    assert out["report"].read_text().startswith("# Simulation proof against today's evidence model\n\n5 replications")


def test_the_report_is_the_bench_report_of_the_same_summaries():
    names = re.findall(r"^## (\w+)$", BENCH.read_text(), flags=re.MULTILINE)
    summary = pd.concat([pd.read_csv(BENCH.with_name(f"{BENCH.stem}_{n}.csv")) for n in names], ignore_index=True)
    assert calibration.markdown(summary, 2026) == BENCH.read_text()


def _workflow_copy(tmp_path: Path, settings: dict) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "Snakefile", work)
    for folder in ("workflow", "config", "data", "profiles"):
        shutil.copytree(ROOT / folder, work / folder)
    (work / "calibration.yaml").write_text(yaml.safe_dump({"calibration": settings}))
    return work


def test_the_target_scatters_scenarios_times_batches_with_their_resources(tmp_path):
    settings = {"scenarios": ["smd_end", "overlap"], "replications": 5, "batch_size": 2}
    work = _workflow_copy(tmp_path, settings)
    run = snakemake(work, "-n", "calibration", "--configfile", "calibration.yaml")
    assert run.returncode == 0, run.stderr
    batches = re.findall(r"output: results/calibration/batches/(\w+)/(\d+)\.csv", run.stdout)
    assert sorted(batches) == sorted((s, str(b)) for s in settings["scenarios"] for b in range(3))
    assert "runtime=11, mem_mb=2000" in run.stdout  # 10 + ceil(2 replications x 10 s / 60 s)
    assert "results/calibration/summary.csv" in run.stdout
    assert "calibration_batch" not in snakemake(work, "-n").stdout  # not part of a default run


@pytest.mark.slow
def test_a_small_workflow_run_gives_the_summary_of_the_one_process_run(config, tmp_path):
    settings = {"scenarios": ["smd_end"], "replications": 3, "batch_size": 2, "seed": 11}
    settings["sampling"] = {"draws": 100, "tune": 100, "chains": 2}
    work = _workflow_copy(tmp_path, settings)
    run = snakemake(work, "calibration", "--configfile", "calibration.yaml")
    assert run.returncode == 0, run.stderr
    config["calibration"] = {**config["calibration"], **settings}
    scores = calibration.run_batch("smd_end", range(3), config)
    expected = sim.summarise_scores(scores).drop(columns="seconds_per_replication")
    pd.testing.assert_frame_equal(pd.read_csv(work / "results/calibration/summary.csv"), expected)
