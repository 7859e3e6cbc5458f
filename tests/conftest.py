"""Shared fixtures: a private copy of the bundled data and config, a workflow run of it, and CSV editing helpers."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from irsynth.config import load_config

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NUMBA_OPT", "1")  # as the Snakefile sets it for every job: before numba is first imported


@pytest.fixture
def config():
    return load_config(ROOT / "config" / "config.yaml")


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A writable copy of the bundled data tables."""
    target = tmp_path / "data"
    target.mkdir()
    for name in ("arms.csv", "pooled.csv", "studies.csv"):
        shutil.copy(ROOT / "data" / name, target / name)
    return target


def snakemake_env(workdir: Path) -> dict[str, str]:
    """A minimal environment for the venv's Snakemake (with make's compile cache, and the PYTHONPATH that puts a
    git worktree's irsynth before the installed one, if set)."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(workdir)}
    for name in ("PYTENSOR_FLAGS", "PYTHONPATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *args],
        cwd=workdir,
        env=snakemake_env(workdir),
        capture_output=True,
        text=True,
        timeout=900,
    )


# the stored fits and stage results (results/cache) of the last workspace built here: the next session's run re-uses
# what nothing changed since (the stores' keys: irsynth.updating, irsynth.stage_store), so it samples no model again
STORED_FITS = ROOT / ".cache" / "test-workspace-fits"
# the next-trial stage at smoke size in the workspace: its statistics are tests/test_nexttrial.py's
SMOKE_NEXT_TRIAL = {
    "simulations: 100": "simulations: 10",
    "batch_size: 100": "batch_size: 10",
    "funnel: {effects: 25, standard_errors: 10,": "funnel: {effects: 7, standard_errors: 4,",
}


def smoke_next_trial(config_file: Path) -> None:
    text = config_file.read_text(encoding="utf-8")
    for default, smoke in SMOKE_NEXT_TRIAL.items():
        assert text.count(default) == 1, f"{config_file} no longer holds {default!r} once"
        text = text.replace(default, smoke)
    config_file.write_text(text, encoding="utf-8")


def built_once(tmp_path_factory, name: str, build) -> tuple[Path, object]:
    """A folder that `build(folder)` makes once per test session, whichever pytest-xdist worker needs it first (the
    others wait on a file lock), and this worker's own copy of it, which its tests may edit; with what `build`
    returned (JSON)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the session's folder
    built, record = shared / f"{name}-built", shared / f"{name}-built.json"
    with FileLock(shared / f"{name}.lock"):
        if not record.exists():
            shutil.rmtree(built, ignore_errors=True)
            record.write_text(json.dumps(build(built)))
    copy = tmp_path_factory.mktemp(name) / "workflow"
    shutil.copytree(built, copy, symlinks=True)
    return copy, json.loads(record.read_text())


def build_workspace(work: Path) -> None:
    """The workflow, config (next-trial stage at smoke size) and data, run on the bundled data."""
    work.mkdir(parents=True)
    shutil.copy(ROOT / "Snakefile", work)
    for folder in ("workflow", "config", "data", "profiles"):
        shutil.copytree(ROOT / folder, work / folder)
    smoke_next_trial(work / "config" / "config.yaml")
    if STORED_FITS.is_dir():
        shutil.copytree(STORED_FITS, work / "results" / "cache")
    run = snakemake(work)
    assert run.returncode == 0, run.stderr
    kept = work.parent / "fits-kept"
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(work / "results" / "cache", kept)
    shutil.rmtree(STORED_FITS, ignore_errors=True)
    STORED_FITS.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(kept, STORED_FITS)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """A copy of the workflow with a complete run of the bundled data in results/: one run per test session."""
    return built_once(tmp_path_factory, "workspace", build_workspace)[0]


def pytest_collection_modifyitems(config, items):
    """Order the session for pytest-xdist's workers: one test on the workspace first (its build is the longest step:
    it starts at once), then every test that needs no built folder (the other worker runs them meanwhile), then the
    living-review tests (that build next) and the other workspace tests. Without workers, the same order."""

    def needs(item) -> int:
        names = getattr(item, "fixturenames", ())
        return 2 if "living" in names else 3 if "workspace" in names else 1

    ordered = sorted(items, key=needs)
    first = next((item for item in ordered if needs(item) == 3), None)
    if first is not None:
        ordered.remove(first)
        ordered.insert(0, first)
    items[:] = ordered


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def edit_row(path: Path, index: int, **changes) -> int:
    """Change cells of data row `index` (0-based); return its line number in the file (header = line 1)."""
    header, rows = read_rows(path)
    rows[index].update(changes)
    write_rows(path, header, rows)
    return index + 2


def find_row(path: Path, **match) -> int:
    _, rows = read_rows(path)
    return next(i for i, row in enumerate(rows) if all(row[k] == v for k, v in match.items()))
