"""Provenance stamps: hashes of the data and config a result came from, package versions, atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

import pandas as pd

from irsynth.csvfile import csv_text

DATA_FILES = ("arms.csv", "pooled.csv", "studies.csv")
PACKAGES = ("irsynth", "numpy", "scipy", "pandas", "pandera", "pymare", "pymc", "arviz", "nutpie", "snakemake")


def data_hash(data_dir: Path) -> str:
    """SHA-256 over the bytes of the data tables, in a fixed order."""
    digest = hashlib.sha256()
    for name in DATA_FILES:
        digest.update(name.encode())
        digest.update(Path(data_dir, name).read_bytes())
    return digest.hexdigest()


def config_hash(config: dict) -> str:
    """SHA-256 of the config as canonical JSON (key order and YAML formatting do not matter)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def stamp(data_dir: Path, config: dict) -> dict:
    return {"data_hash": data_hash(data_dir), "config_hash": config_hash(config), "packages": package_versions()}


def inputs_label(stamp: dict) -> str:
    """Short name of a run's inputs: data and config hash prefixes (history entries and stored fits use it)."""
    return f"{stamp['data_hash'][:12]}_{stamp['config_hash'][:12]}"


@contextlib.contextmanager
def atomic_path(path: Path):
    """A temporary path beside `path`, renamed to it when the block ends without error (removed otherwise), so a
    killed run leaves no partial file. The file gets the permissions of a newly created one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (atomic_path)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


def write_table(frame: pd.DataFrame, path: Path, provenance: dict) -> None:
    """Write a CSV (csvfile.csv_text: formula cells neutralised) and, beside it, `<name>.provenance.json` with the
    hashes it came from."""
    write_atomic(path, csv_text(frame))
    meta = {"file": Path(path).name, "rows": len(frame), **provenance}
    write_atomic(Path(path).with_suffix(".provenance.json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")
