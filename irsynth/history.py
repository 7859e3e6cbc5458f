"""Run history: a small JSON entry per run under results/history/ (hashes, evidence, headline posterior summaries),
and what changed between the previous entry and the current run."""

from __future__ import annotations

import json
from pathlib import Path

from irsynth.provenance import inputs_label, write_atomic

# (component, outcome) rows of components.csv that a reader follows from run to run
HEADLINE = {
    ("inositol", "homa_ir"): "inositol, HOMA-IR (ratio of means)",
    ("inositol", "fasting_insulin"): "inositol, fasting insulin (ratio of means)",
    ("inositol minus metformin", "homa_ir"): "inositol / metformin, HOMA-IR (ratio of means)",
    ("lifestyle (diet + exercise)", "homa_ir"): "lifestyle, HOMA-IR (ratio of means)",
}


def history_entry(headline: dict, trials: list[str], cutoff: float, built: str) -> dict:
    """The entry of this run: hashes, evidence set, trials in the data, and the headline quantities."""
    quantities = {}
    for row in headline["components"]:
        name = HEADLINE.get((row["component"], row["outcome"]))
        if name:
            quantities[name] = {
                "median": row["ratio_median"],
                "low": row["ratio_q0.025"],
                "high": row["ratio_q0.975"],
                "p": row["p_any_reduction"],
            }
    first = headline["decision"][0]["profile"]
    for row in headline["decision"]:
        if row["profile"] == first:
            quantities[f"P(HOMA-IR < {cutoff:g}), {first}, {row['scenario']}"] = {
                "p": row[f"p_patient_below_{cutoff:g}"]
            }
    return {
        "built": built,
        "data_hash": headline["data_hash"],
        "config_hash": headline["config_hash"],
        "seed": headline["seed"],
        "evidence_set": headline["evidence_set"],
        "trials": sorted(trials),
        "quantities": quantities,
    }


def latest_entry(history_dir: Path) -> dict | None:
    entries = sorted(Path(history_dir).glob("*.json"))
    return json.loads(entries[-1].read_text()) if entries else None


def record(history_dir: Path, entry: dict) -> Path:
    stamp = entry["built"].removesuffix(" UTC").replace("-", "").replace(":", "").replace(" ", "T")
    path = Path(history_dir) / f"{stamp}_{inputs_label(entry)}.json"
    write_atomic(path, json.dumps(entry, indent=2, sort_keys=True) + "\n")
    return path


def what_changed(previous: dict | None, current: dict) -> dict | None:
    """Evidence added and removed, and each headline quantity before and after; None on the first run."""
    if previous is None:
        return None
    rows = []
    for name, after in current["quantities"].items():
        before = previous["quantities"].get(name, {})
        rows.append(
            {
                "quantity": name,
                "before": before,
                "after": after,
                "shift": after.get("median", after["p"]) - before.get("median", before.get("p", float("nan"))),
            }
        )
    return {
        "previous_built": previous["built"],
        "same_inputs": (previous["data_hash"], previous["config_hash"])
        == (current["data_hash"], current["config_hash"]),
        "data_changed": previous["data_hash"] != current["data_hash"],
        "config_changed": previous["config_hash"] != current["config_hash"],
        "evidence_added": sorted(set(current["evidence_set"]) - set(previous["evidence_set"])),
        "evidence_removed": sorted(set(previous["evidence_set"]) - set(current["evidence_set"])),
        "trials_added": sorted(set(current["trials"]) - set(previous["trials"])),
        "trials_removed": sorted(set(previous["trials"]) - set(current["trials"])),
        "rows": rows,
    }
