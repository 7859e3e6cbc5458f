"""The workflow's up-front check refuses each malformed input of issue 12 (data, config, and config against data)
before any job runs, naming the problem, and leaves every byte of an earlier run's results/ in place. Cheap: the
earlier results are stand-ins, since nothing may reach them (test_workflow checks the same on a real run)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, snakemake
from malformed import CONFIG_CASES, ISSUE_12_CASES

RESULTS = {
    "validated/arms.csv": "study_id\nearlier\n",
    "validated.sha256": "0" * 64 + "\n",
    "models/evidence/components.csv": "component,ratio_median\ninositol,0.8\n",
    "report/report.html": "<p>the last good report</p>\n",
}


def digest(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> Path:
    """A copy of the workflow, config and data with stand-in results of an earlier run."""
    work = tmp_path_factory.mktemp("checked")
    shutil.copy(ROOT / "Snakefile", work)
    for folder in ("workflow", "config", "data", "profiles"):
        shutil.copytree(ROOT / folder, work / folder)
    for name, text in RESULTS.items():
        (work / "results" / name).parent.mkdir(parents=True, exist_ok=True)
        (work / "results" / name).write_text(text)
    return work


@pytest.fixture
def inputs(checked):
    """The workspace's data and config folders, restored after the test (a table may have become a folder or a
    pipe)."""
    yield checked
    for folder in ("data", "config"):
        shutil.rmtree(checked / folder)
        shutil.copytree(ROOT / folder, checked / folder)


# Snakemake itself refuses a config file without top-level keys, in one line, before the workflow's check runs
SNAKEMAKE_REFUSES = "Config file must be given as JSON or YAML with keys at top level"


def _refused(work: Path, expected: list[str]) -> None:
    before = digest(work / "results")
    run = snakemake(work, "results/validated/arms.csv")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    if SNAKEMAKE_REFUSES not in run.stderr:
        for text in expected:
            assert text in run.stderr, run.stderr[-3000:]
        assert "results/ is unchanged" in run.stderr
    assert digest(work / "results") == before


@pytest.mark.parametrize("case", ISSUE_12_CASES, ids=[c[0] for c in ISSUE_12_CASES])
def test_bad_data_stops_before_any_job(case, inputs):
    _, break_data, (file, column, text) = case
    break_data(inputs / "data")
    _refused(inputs, [file, text] + ([column] if column else []))


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_stops_before_any_job(case, inputs):
    _, edit, (key, text) = case
    path = inputs / "config" / "config.yaml"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    _refused(inputs, [text] + ([key] if key else []))


def test_the_check_is_skipped_while_inputs_and_code_are_unchanged(inputs):
    """A passing check records the checksums; a second parse skips it (and says nothing); an edit re-runs it."""
    stamp = inputs / "results" / "validated.sha256"
    stamp.unlink()
    run = snakemake(inputs, "-n")
    assert run.returncode == 0, run.stderr
    recorded = stamp.read_text()
    mtime = stamp.stat().st_mtime_ns
    assert snakemake(inputs, "-n").returncode == 0
    assert stamp.stat().st_mtime_ns == mtime and stamp.read_text() == recorded
    (inputs / "data" / "arms.csv").write_text((inputs / "data" / "arms.csv").read_text() + "x\n")
    run = snakemake(inputs, "-n")
    assert run.returncode != 0 and "expected 32 fields" in run.stderr
    assert stamp.read_text() == recorded
