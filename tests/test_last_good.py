"""The last good report and model tables survive a run that fails after a good one (issue 12, cause 4), and a failed
run says which step failed, why (no traceback), and where the last good outputs are."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from conftest import snakemake

from irsynth.last_good import LINK, failure_message, keep_last_good, last_error, read_manifest

TRACEBACK = """fitting...
Traceback (most recent call last):
  File "/x/irsynth/evidence_run.py", line 66, in run_evidence_model
    primary = fits.fit("primary", sampling["on_gate_failure"])
              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
irsynth.fitting.ConvergenceError: convergence gate failed:
  evidence model: 3 divergent transitions (gate <= 0)
"""


def _results(tmp_path: Path, report: str = "<html>good</html>") -> Path:
    results = tmp_path / "results"
    for name, text in {
        "models/evidence/decision.csv": "a,b\n1,2\n",
        "models/evidence/headline.json": json.dumps({"data_hash": "d" * 64, "config_hash": "c" * 64}),
        "models/evidence/posterior.nc": "draws",
        "models/pairwise/diagnostics.csv": "gate\npassed\n",
        "validated/arms.csv": "x\n",
        "report/report.html": report,
    }.items():
        (results / name).parent.mkdir(parents=True, exist_ok=True)
        (results / name).write_text(text)
    return results


def test_a_good_run_keeps_its_report_and_model_tables_with_a_manifest(tmp_path):
    results = _results(tmp_path)
    folder = keep_last_good(results)
    kept = results / LINK
    assert kept.is_symlink() and kept.resolve() == folder.resolve()
    assert (kept / "report/report.html").read_text() == "<html>good</html>"
    assert sorted(read_manifest(results)["files"]) == [
        "models/evidence/decision.csv",
        "models/evidence/headline.json",
        "models/pairwise/diagnostics.csv",
        "report/report.html",
    ]
    assert read_manifest(results)["data_hash"] == "d" * 64
    assert keep_last_good(results) is None  # unchanged: no new copy


def test_a_new_good_run_replaces_the_copy_and_removes_the_old_one(tmp_path):
    results = _results(tmp_path)
    old = keep_last_good(results)
    (results / "report/report.html").write_text("<html>new</html>")
    new = keep_last_good(results)
    assert new != old and not old.exists()
    assert (results / LINK / "report/report.html").read_text() == "<html>new</html>"


def test_a_stale_or_missing_report_is_not_kept(tmp_path):
    results = _results(tmp_path)
    table = results / "models/evidence/decision.csv"
    later = (results / "report/report.html").stat().st_mtime + 10
    os.utime(table, (later, later))
    assert keep_last_good(results) is None
    (results / "report/report.html").unlink()
    assert keep_last_good(results) is None and not (results / LINK).exists()


def test_last_error_is_the_message_without_the_traceback():
    assert last_error(TRACEBACK) == "convergence gate failed:\n  evidence model: 3 divergent transitions (gate <= 0)"
    assert last_error("all went well\n") == ""


def test_a_failed_run_names_the_step_its_error_and_the_last_good_outputs(tmp_path):
    results = _results(tmp_path)
    keep_last_good(results)
    (results / "logs").mkdir()
    (results / "logs/fit_evidence.log").write_text(TRACEBACK)
    (results / "logs/old.log").write_text(TRACEBACK)
    os.utime(results / "logs/old.log", (0, 0))
    message = failure_message(results, since=1.0)
    assert "Step fit_evidence" in message and "3 divergent transitions" in message and "Step old" not in message
    assert "Traceback" not in message and str(results / LINK / "report/report.html") in message
    (results / LINK).unlink()
    assert "no earlier good outputs" in failure_message(results, since=1.0)


def test_a_report_job_failing_after_a_good_run_leaves_the_last_good_report_readable(workspace, tmp_path):
    work = tmp_path / "workflow"
    shutil.copytree(workspace, work, symlinks=True)
    kept = work / "results" / LINK
    before = {p: (kept / p).read_bytes() for p in read_manifest(work / "results")["files"]}
    assert "report/report.html" in before and "models/evidence/decision.csv" in before
    # a damaged file, not an input error: its time stamp kept, so that only the forced report job reads it
    posterior = work / "results/models/evidence/posterior.nc"
    stamp = posterior.stat()
    posterior.write_text("not netCDF")
    os.utime(posterior, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    run = snakemake(work, "--forcerun", "report")
    assert run.returncode != 0 and not (work / "results/report/report.html").exists()
    assert {p: (kept / p).read_bytes() for p in before} == before
    assert "Step report" in run.stderr and "Traceback" not in run.stderr
    assert "results/last_good/report/report.html" in run.stderr
