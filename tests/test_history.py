"""Run history and what changed between runs; removal of locks left by a killed Snakemake run."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from irsynth.history import history_entry, latest_entry, record, what_changed
from irsynth.locks import release_stale_locks

HEADLINE = {
    "data_hash": "a" * 64,
    "config_hash": "c" * 64,
    "seed": 1,
    "evidence_set": ["Unfer2017:homa_ir", "Nehra2017:homa_ir"],
    "components": [
        {
            "component": "inositol",
            "outcome": "homa_ir",
            "ratio_median": 0.7,
            "ratio_q0.025": 0.5,
            "ratio_q0.975": 0.9,
            "p_any_reduction": 0.99,
        },
        {
            "component": "metformin",
            "outcome": "homa_ir",
            "ratio_median": 0.6,
            "ratio_q0.025": 0.4,
            "ratio_q0.975": 0.9,
            "p_any_reduction": 0.99,
        },
    ],
    "decision": [
        {"profile": "typical", "scenario": "inositol alone", "p_patient_below_2.5": 0.55},
        {"profile": "other", "scenario": "inositol alone", "p_patient_below_2.5": 0.30},
    ],
}


def _entry(built: str, **changes) -> dict:
    headline = {**HEADLINE, **changes}
    return history_entry(headline, ["Nehra2017"], 2.5, built)


def test_an_entry_keeps_the_headline_quantities_of_the_first_profile():
    entry = _entry("2026-11-25 07:00:00 UTC")
    assert entry["quantities"] == {
        "inositol, HOMA-IR (ratio of means)": {"median": 0.7, "low": 0.5, "high": 0.9, "p": 0.99},
        "P(HOMA-IR < 2.5), typical, inositol alone": {"p": 0.55},
    }


def test_what_changed_lists_evidence_and_shifts():
    before = _entry("2026-11-24 10:00:00 UTC")
    components = [{**HEADLINE["components"][0], "ratio_median": 0.75}]
    after = _entry(
        "2026-11-25 07:00:00 UTC",
        data_hash="b" * 64,
        components=components,
        evidence_set=["Unfer2017:homa_ir", "New2026:homa_ir"],
    )
    changes = what_changed(before, after)
    assert changes["evidence_added"] == ["New2026:homa_ir"] and changes["evidence_removed"] == ["Nehra2017:homa_ir"]
    assert changes["data_changed"] and not changes["config_changed"] and not changes["same_inputs"]
    shifts = {row["quantity"]: row["shift"] for row in changes["rows"]}
    assert shifts["inositol, HOMA-IR (ratio of means)"] == pytest.approx(0.05)
    assert shifts["P(HOMA-IR < 2.5), typical, inositol alone"] == pytest.approx(0.0)
    assert what_changed(None, after) is None


def test_entries_are_kept_in_order_and_the_latest_is_found(tmp_path):
    assert latest_entry(tmp_path) is None
    first = record(tmp_path, _entry("2026-11-24 10:00:00 UTC"))
    second = record(tmp_path, _entry("2026-11-25 07:00:00 UTC", data_hash="b" * 64))
    assert first.name == f"20261124T100000_{'a' * 12}_{'c' * 12}.json" and second.name.startswith("20261125T070000_")
    assert latest_entry(tmp_path)["data_hash"] == "b" * 64


def test_stale_locks_are_removed_only_when_no_snakemake_runs_there(tmp_path):
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("")
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "snakemake"], cwd=tmp_path)
    try:
        time.sleep(0.3)
        assert release_stale_locks(tmp_path) == [] and (locks / "0.input.lock").exists()
    finally:
        running.kill()
        running.wait()
    assert release_stale_locks(tmp_path) == [locks / "0.input.lock"] and not any(locks.iterdir())
