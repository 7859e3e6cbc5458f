"""The last good outputs: a copy of the report and the model tables of the last successful run, and the message of a
failed run that says where they are.

Snakemake removes the outputs of a job before it runs and after it fails, so a run that fails in a fitting or report
job (for any reason other than bad input, which stops before any job) would leave no readable report or model table.
After every successful run that built the report, the workflow's `onsuccess` hook copies `report/` and the tables
of `models/` (CSV and JSON: every summary, diagnostics and provenance file, not the posterior draws) into
`last_good/` under `results/`, with `manifest.json` naming the run (when, data and config hashes, each file's
SHA-256). No rule writes there, so Snakemake never deletes it. The copy is made in a new folder and `last_good` is a
symbolic link switched to it in one atomic rename: a reader (or a run killed meanwhile) sees the old copy or the new,
never a mixture. The `onerror` hook prints which step failed, its error message (not the traceback, which stays in
the step's log) and where the last good outputs are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

LINK = "last_good"
MANIFEST = "manifest.json"
REPORT = Path("report/report.html")
KEPT = {"report": (".html",), "models": (".csv", ".json")}  # folders under results/ and the files kept from them


def kept_files(results: Path) -> list[Path]:
    """The files a snapshot keeps, relative to `results`."""
    return sorted(
        path.relative_to(results)
        for folder, suffixes in KEPT.items()
        for path in (results / folder).rglob("*")
        if path.is_file() and path.suffix in suffixes and not path.name.startswith(".")
    )


def keep_last_good(results: Path) -> Path | None:
    """Snapshot the report and model tables into `results/last_good` if this run built a current report (at least
    as new as every model table) that differs from the last snapshot; return the snapshot's folder or None."""
    results = Path(results)
    files = kept_files(results)
    report = results / REPORT
    if REPORT not in files or any((results / f).stat().st_mtime > report.stat().st_mtime for f in files):
        return None
    digests = {str(f): _sha256(results / f) for f in files}
    previous = read_manifest(results)
    if previous and previous["files"] == digests:
        return None
    built = datetime.now(UTC)
    folder = results / f".{LINK}-{built.strftime('%Y%m%dT%H%M%S%f')}"
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(results / name, folder / name)
    headline = _json(results / "models/evidence/headline.json") or {}
    manifest = {
        "built": built.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "data_hash": headline.get("data_hash", ""),
        "config_hash": headline.get("config_hash", ""),
        "report": str(REPORT),
        "files": digests,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    link, tmp = results / LINK, results / f".{LINK}.{os.getpid()}.link"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(folder.name, target_is_directory=True)
    os.replace(tmp, link)
    for old in results.glob(f".{LINK}-*"):
        if old.name != folder.name:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def read_manifest(results: Path) -> dict | None:
    """The manifest of the last good outputs under `results`, or None if there are none."""
    return _json(Path(results) / LINK / MANIFEST)


def failure_message(results: Path, since: float) -> str:
    """What a failed run tells the user: each step whose log (results/logs/, written since `since`) ends in an
    error, with the error's message, and where the last good report and model tables are."""
    results = Path(results)
    lines = ["", "irsynth: the run failed (Snakemake's messages above name the step; its log has the details)."]
    for log in sorted((results / "logs").glob("*.log")):
        message = log.stat().st_mtime >= since and last_error(log.read_text(encoding="utf-8", errors="replace"))
        if message:
            lines += [f"Step {log.stem} ({log}):", *(f"  {line}" for line in message.splitlines())]
    manifest = read_manifest(results)
    if manifest:
        lines.append(
            f"The last good report and model tables (run of {manifest['built']}, data {manifest['data_hash'][:12]}, "
            f"config {manifest['config_hash'][:12]}) are in {results / LINK}/; the report: {results / LINK / REPORT}."
        )
    else:
        lines.append(f"There are no earlier good outputs to fall back on ({results / LINK}/ is made by a good run).")
    return "\n".join(lines) + "\n"


def last_error(log: str) -> str:
    """The message of the last Python exception printed in a log (without its type and traceback), or ''."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last):")]
    if not starts:
        return ""
    block = lines[starts[-1] + 1 :]
    first = next((i for i, line in enumerate(block) if line and not line[0].isspace()), None)
    if first is None:
        return ""
    kind, _, message = block[first].partition(": ")
    return "\n".join([message or kind, *block[first + 1 :]]).strip()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
