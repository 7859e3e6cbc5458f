"""Re-use of a model stage's stored results where nothing that informs its fits changed.

A stage's results are a function of what informs its fits (the model's data, the config sections it reads, the
code and the package versions), not of the data files as such: a trial that no model uses, or a change of report
config, re-runs the stage in Snakemake but leaves every fit as it was. The stage's outputs are stored under a hash
of those inputs (its key) and written again, unchanged but with fresh provenance, when the key matches: no import
of the modelling libraries, no compile, no sampling, no predictive checks.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np

from irsynth import progress
from irsynth.provenance import atomic_path, package_versions

ROOT = Path(__file__).resolve().parent.parent
CODE = ("irsynth", "models")  # packages whose source is part of every key


def _plain(value):
    """JSON form of what informs a fit (arrays with dtype and shape, dataclasses as dicts)."""
    if isinstance(value, np.ndarray):
        return {"dtype": str(value.dtype), "shape": list(value.shape), "values": value.tolist()}
    if isinstance(value, np.generic):
        return value.item()
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, set | tuple):
        return sorted(value, key=str) if isinstance(value, set) else list(value)
    raise TypeError(f"cannot key a {type(value).__name__}")


def code_hash() -> str:
    """SHA-256 of the source of the packages in CODE."""
    digest = hashlib.sha256()
    for package in CODE:
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def stage_key(**informs) -> str:
    """Hash of what informs a stage's fits, with the code and package versions."""
    everything = {**informs, "code": code_hash(), "packages": package_versions()}
    return hashlib.sha256(json.dumps(everything, sort_keys=True, default=_plain).encode()).hexdigest()


def _paths(store: Path) -> tuple[Path, Path]:
    return store / "stage.pkl", store / "stage_files"


def save(store: Path, key: str, values: dict, files: dict[str, Path]) -> None:
    """Keep `values` (picklable) and copies of `files` (name -> path) as the stage's results for `key`."""
    record, folder = _paths(Path(store))
    record.unlink(missing_ok=True)  # a run killed while the files are replaced leaves no record to match them
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        with atomic_path(folder / name) as tmp:
            shutil.copyfile(path, tmp)
    with atomic_path(record) as tmp:
        tmp.write_bytes(pickle.dumps({"key": key, "values": values, "files": sorted(files)}))


def load(store: Path | None, key: str, files: dict[str, Path]) -> dict | None:
    """The values stored for `key`, with the stored files copied to `files` (name -> path); None (nothing copied)
    if there is no store, nothing stored, something unreadable or a stored key other than `key`."""
    if store is None:
        return None
    record, folder = _paths(Path(store))
    try:
        stored = pickle.loads(record.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    if stored.get("key") != key or stored.get("files") != sorted(files):
        return None
    if not all((folder / name).is_file() for name in files):
        return None
    for name, path in files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(Path(path)) as tmp:
            shutil.copyfile(folder / name, tmp)
    return stored["values"]


def reused_or_made(store: Path | None, key: str, label: str, make, files: dict[str, Path] | None = None) -> dict:
    """The values stored for `key` (and `files` copied back), said on the console under `label`; else `make()`'s
    values, stored with `files` (which `make` wrote) where there is a store."""
    files = files or {}
    stored = load(store, key, files)
    if stored is not None:
        progress.say(f"{label}: nothing that informs it changed; stored results re-used (key {key[:12]})")
        return stored
    made = make()
    if store is not None:
        save(store, key, made, files)
    return made
