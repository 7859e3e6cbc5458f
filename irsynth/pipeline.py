"""The foundation stages as functions of (input paths, config) -> files; Snakemake scripts and the CLI call these."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pandas as pd

from irsynth.csvfile import LINE
from irsynth.effects import contrasts
from irsynth.harmonise import arm_changes, harmonise_arms
from irsynth.provenance import inputs_label, stamp, write_table
from irsynth.reference import reference_table
from irsynth.validate import load_evidence


@contextlib.contextmanager
def log_to(path: str):
    """Send what a stage prints (and any traceback) to the rule's log file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            yield
        except BaseException:
            import traceback

            traceback.print_exc()
            raise
        finally:
            sys.stdout.flush()


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def read_effects(path: Path) -> pd.DataFrame:
    """The effect-size table (results/effects/contrasts.csv) with its `usable` column as booleans."""
    table = text_columns(_read(path))
    table["usable"] = table["usable"].astype(bool)
    return table


def text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Validated tables are re-read from CSV: restore blank text cells to '' (not NaN)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype).startswith("str"):
            frame[column] = frame[column].fillna("")
    return frame


def validate(data_dir: Path, config: dict, out_dir: Path, tables=("arms", "pooled", "studies")) -> None:
    """Validate the data tables (raises DataError) and write `tables`, typed, with their provenance."""
    evidence = load_evidence(data_dir, config)
    provenance = stamp(data_dir, config)
    for name in tables:
        frame = getattr(evidence, name).rename(columns={LINE: "data_line"})
        write_table(frame, Path(out_dir, f"{name}.csv"), provenance)
        print(f"{name}: {len(frame)} rows valid")


def harmonise(validated_dir: Path, data_dir: Path, config: dict, out_dir: Path) -> None:
    """Harmonised arm values (with derivations) and per-arm change scores."""
    arms = text_columns(_read(Path(validated_dir, "arms.csv"))).rename(columns={"data_line": LINE})
    studies = text_columns(_read(Path(validated_dir, "studies.csv")))
    values = harmonise_arms(arms, studies, config)
    changes = arm_changes(values, config)
    provenance = stamp(data_dir, config)
    write_table(values, Path(out_dir, "arm_values.csv"), provenance)
    write_table(changes, Path(out_dir, "arm_changes.csv"), provenance)
    unused = values[~values["usable"]]
    print(f"{len(values)} arm values, {len(values) - len(unused)} usable; not used:")
    for row in unused.itertuples():
        print(f"  data line {row.data_line}: {row.study_id}/{row.arm} {row.outcome} {row.timepoint}: {row.reason}")


def effects(changes_csv: Path, data_dir: Path, config: dict, out_csv: Path) -> None:
    """Between-arm effect sizes (ROM, MD, SMD on end values and change scores)."""
    changes = text_columns(_read(changes_csv))
    table = contrasts(changes, config)
    write_table(table, out_csv, stamp(data_dir, config))
    print(f"{len(table)} contrast rows, {int(table['usable'].sum())} usable")


def reference(effects_csv: Path, data_dir: Path, config: dict, out_csv: Path) -> None:
    """Frequentist random-effects reference per comparison, outcome, basis and measure."""
    table = read_effects(effects_csv)
    ref = config["reference"]
    write_table(reference_table(table, ref["methods"], ref["tests"]), out_csv, stamp(data_dir, config))


def fit_pairwise(effects_csv: Path, data_dir: Path, config: dict, out_dir: Path) -> None:
    """Pairwise random-effects posteriors (exact for every group, MCMC where enough studies), gated."""
    from irsynth.pairwise import fit_pairwise as fit

    table = read_effects(effects_csv)
    summary, diagnostics, warnings, traces = fit(table, config["models"]["pairwise"], config["sampling"])
    provenance = {**stamp(data_dir, config), "seed": config["sampling"]["seed"], "gate_warnings": warnings}
    out_dir = Path(out_dir)
    posteriors = out_dir / "posteriors"
    posteriors.mkdir(parents=True, exist_ok=True)
    for label, trace in traces.items():
        trace.to_netcdf(posteriors / f"{label}.nc", engine="h5netcdf")
    write_table(diagnostics, out_dir / "diagnostics.csv", provenance)
    write_table(summary, out_dir / "summary.csv", provenance)
    for message in warnings:
        print(f"WARNING (on_gate_failure: warn): {message}")
    print(f"{summary.groupby(['comparison', 'outcome']).ngroups} comparison x outcome groups; {len(traces)} MCMC fits")


def fit_network(changes_csv: Path, data_dir: Path, config: dict, out_dir: Path) -> None:
    """Network meta-analysis of arm-level log changes per outcome, with the network's description."""
    from irsynth.network import fit_networks

    changes = text_columns(_read(changes_csv))
    summary, description, splits, diagnostics, warnings = fit_networks(
        changes, config["models"]["network"], config["sampling"]
    )
    provenance = {**stamp(data_dir, config), "seed": config["sampling"]["seed"], "gate_warnings": warnings}
    for name, table in (
        ("summary", summary),
        ("network", description),
        ("node_split", splits),
        ("diagnostics", diagnostics),
    ):
        write_table(table, Path(out_dir, f"{name}.csv"), provenance)
    for message in warnings:
        print(f"WARNING (on_gate_failure: warn): {message}")
    print(description.to_string(index=False))


def fit_evidence(
    validated_dir: Path,
    changes_csv: Path,
    effects_csv: Path,
    data_dir: Path,
    config: dict,
    out_dir: Path,
    cache_dir: Path | None = None,
) -> None:
    """The inositol/lifestyle evidence model: fit, gates, checks, sensitivity refits, decision table, headline.

    With `cache_dir`, each run's last MCMC fit is kept there and updated when the evidence changes (irsynth.updating)."""
    import json

    from irsynth.evidence import run_evidence_model
    from irsynth.provenance import write_atomic

    pooled = text_columns(_read(Path(validated_dir, "pooled.csv")))
    changes = text_columns(_read(changes_csv))
    contrasts = read_effects(effects_csv)
    studies = text_columns(_read(Path(validated_dir, "studies.csv")))
    hashes = stamp(data_dir, config)
    result = run_evidence_model(pooled, contrasts, changes, config, studies, cache_dir, fit_label=inputs_label(hashes))

    provenance = {**hashes, "seed": config["sampling"]["seed"], "gate_warnings": result["warnings"]}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result["trace"].to_netcdf(out_dir / "posterior.nc", engine="h5netcdf")
    for name in (
        "diagnostics",
        "components",
        "regression",
        "decision",
        "evidence_set",
        "checks",
        "loo",
        "sensitivity",
        "cumulative",
        "forest",
    ):
        write_table(result[name], out_dir / f"{name}.csv", provenance)
    headline = {
        "components": json.loads(result["components"].round(6).to_json(orient="records")),
        "decision": json.loads(result["decision"].round(6).to_json(orient="records")),
        **{key: result[key] for key in ("individual_sd_log", "longest_trial_weeks", "fit", "fits")},
        "evidence_set": result["evidence_set"]["label"].tolist(),
        **provenance,
    }
    write_atomic(out_dir / "headline.json", json.dumps(headline, indent=2, sort_keys=True) + "\n")
    for message in result["warnings"]:
        print(f"WARNING (on_gate_failure: warn): {message}")
    print(result["log"])


def report(results_dir: Path, config: dict, out_html: Path, command: str) -> None:
    """The self-contained HTML report, with what changed since the run recorded last in results/history/; then
    this run's history entry."""
    import json

    from irsynth.history import history_entry, latest_entry, record, what_changed
    from irsynth.provenance import write_atomic
    from irsynth.report import build_report, now

    results_dir = Path(results_dir)
    headline = json.loads((results_dir / "models" / "evidence" / "headline.json").read_text())
    trials = sorted(set(_read(results_dir / "validated" / "arms.csv")["study_id"]))
    entry = history_entry(headline, trials, config["decision"]["cutoff"], now())
    changes = what_changed(latest_entry(results_dir / "history"), entry)
    write_atomic(out_html, build_report(results_dir, config, command, changes, entry["built"]))
    print(f"wrote {out_html}")
    print(f"history entry {record(results_dir / 'history', entry)}")
