"""Every stage as a function of (named input paths, config) -> named output paths: each Snakemake script passes its
rule's `snakemake.input.*` and `snakemake.output.*` to one function here (the CLI calls them too), so the rule says
what a stage reads and writes, and no code here joins file names of another stage."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from irsynth import progress
from irsynth.csvfile import LINE, read_effects, read_result, text_columns
from irsynth.provenance import inputs_label, stamp, write_table


@contextlib.contextmanager
def log_to(path: str):
    """Send what a stage prints (and any traceback) to the rule's log file; its progress lines (irsynth.progress)
    go to the console as well. On an error the job exits with status 1 and no traceback on the terminal (the
    workflow's onerror hook prints the error's message, irsynth.last_good)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    progress.console = sys.stderr
    with open(path, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            yield
        except BaseException:
            import traceback

            traceback.print_exc()
            raise SystemExit(1) from None
        finally:
            sys.stdout.flush()
            progress.console = None


# Library warnings known to be harmless here (the message's start), filtered from the evidence stage's log:
HARMLESS_WARNINGS = (
    # predictive checks draw from the custom likelihoods' Python random generators (correct, only slower)
    "Numba will use object mode to run CustomDist",
    # posterior predictive draws use the posterior of the fit whose pm.Data values the model holds (the primary)
    "The following trace variables were implicitly frozen",
    # an observed variable with one LOO unit: its pointwise elpd is the sum by definition
    "The point-wise LOO is the same with the sum LOO",
    # LOO units with Pareto k above 0.7: the predictive checks table gives every unit's k and counts them
    "Estimated shape parameter of Pareto distribution is greater than 0.70",
)


@contextlib.contextmanager
def harmless_warnings_filtered():
    import warnings

    with warnings.catch_warnings():
        for message in HARMLESS_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        yield


def validate(data_dir: Path, config: dict, outputs: dict[str, Path]) -> None:
    """Validate the data tables (raises DataError) and write each table named in `outputs` (arms, pooled, studies)
    to its path, typed, with its provenance."""
    from irsynth.validate import load_evidence

    evidence = load_evidence(data_dir, config)
    provenance = stamp(data_dir, config)
    for name, path in outputs.items():
        frame = getattr(evidence, name).rename(columns={LINE: "data_line"})
        write_table(frame, Path(path), provenance)
        print(f"{name}: {len(frame)} rows valid")


def harmonise(arms_csv: Path, studies_csv: Path, data_dir: Path, config: dict, values_csv: Path, changes_csv: Path):
    """Harmonised arm values (with derivations) and per-arm change scores."""
    from irsynth.harmonise import arm_changes, harmonise_arms

    arms = text_columns(read_result(arms_csv)).rename(columns={"data_line": LINE})
    studies = text_columns(read_result(studies_csv))
    values = harmonise_arms(arms, studies, config)
    changes = arm_changes(values, config)
    provenance = stamp(data_dir, config)
    write_table(values, Path(values_csv), provenance)
    write_table(changes, Path(changes_csv), provenance)
    unused = values[~values["usable"]]
    print(f"{len(values)} arm values, {len(values) - len(unused)} usable; not used:")
    for row in unused.itertuples():
        print(f"  data line {row.data_line}: {row.study_id}/{row.arm} {row.outcome} {row.timepoint}: {row.reason}")


def effects(changes_csv: Path, data_dir: Path, config: dict, out_csv: Path) -> None:
    """Between-arm effect sizes (ROM, MD, SMD on end values and change scores)."""
    from irsynth.effects import contrasts

    changes = text_columns(read_result(changes_csv))
    table = contrasts(changes, config)
    write_table(table, Path(out_csv), stamp(data_dir, config))
    print(f"{len(table)} contrast rows, {int(table['usable'].sum())} usable")


def reference(effects_csv: Path, data_dir: Path, config: dict, out_csv: Path) -> None:
    """Frequentist random-effects reference per comparison, outcome, basis and measure."""
    from irsynth.reference import reference_table

    table = read_effects(effects_csv)
    ref = config["reference"]
    write_table(reference_table(table, ref["methods"], ref["tests"]), Path(out_csv), stamp(data_dir, config))


def small_study(effects_csv: Path, data_dir: Path, config: dict, out_csv: Path) -> None:
    """Small-study effects: Egger's test per comparison and outcome where enough trials allow it."""
    from irsynth.smallstudy import small_study_table

    table = small_study_table(read_effects(effects_csv), config["report"]["small_study_min_studies"])
    write_table(table, Path(out_csv), stamp(data_dir, config))
    print(table.to_string(index=False))


def fit_pairwise(
    effects_csv: Path,
    data_dir: Path,
    config: dict,
    summary_csv: Path,
    diagnostics_csv: Path,
    posteriors_dir: Path,
    cache_dir: Path | None = None,
) -> None:
    """Pairwise random-effects posteriors (exact for every group, MCMC where enough studies), gated. With
    `cache_dir`, re-used as stored when the effect sizes it pools and its config are unchanged."""
    from irsynth import stage_store
    from irsynth.effects import usable_effects

    table = read_effects(effects_csv)
    settings = config["models"]["pairwise"]
    key = stage_store.stage_key(
        rows=usable_effects(table, settings["basis"], settings["measure"]).to_csv(index=False),
        config={"pairwise": settings, "sampling": config["sampling"]},
    )

    def fit() -> dict:
        from irsynth.pairwise import fit_pairwise as fit_groups

        summary, diagnostics, warnings, traces = fit_groups(table, settings, config["sampling"])
        return {"summary": summary, "diagnostics": diagnostics, "warnings": warnings, "traces": traces}

    result = stage_store.reused_or_made(cache_dir, key, "pairwise models", fit)
    summary, warnings = result["summary"], result["warnings"]
    provenance = {**stamp(data_dir, config), "seed": config["sampling"]["seed"], "gate_warnings": warnings}
    posteriors_dir = Path(posteriors_dir)
    posteriors_dir.mkdir(parents=True, exist_ok=True)
    for label, trace in result["traces"].items():
        trace.to_netcdf(posteriors_dir / f"{label}.nc", engine="h5netcdf")
    write_table(result["diagnostics"], Path(diagnostics_csv), provenance)
    write_table(summary, Path(summary_csv), provenance)
    for message in warnings:
        print(f"WARNING (on_gate_failure: warn): {message}")
    groups = summary.groupby(["comparison", "outcome"]).ngroups
    print(f"{groups} comparison x outcome groups; {len(result['traces'])} MCMC fits")


def fit_network(
    changes_csv: Path,
    data_dir: Path,
    config: dict,
    summary_csv: Path,
    network_csv: Path,
    node_split_csv: Path,
    diagnostics_csv: Path,
    cache_dir: Path | None = None,
) -> None:
    """Network meta-analysis of arm-level log changes per outcome, with the network's description. With
    `cache_dir`, re-used as stored when the arm changes it reads and its config are unchanged."""
    from irsynth import stage_store

    changes = text_columns(read_result(changes_csv))
    settings = config["models"]["network"]
    key = stage_store.stage_key(
        rows=changes[changes["log_ratio_var"].notna()].to_csv(index=False),
        config={"network": settings, "sampling": config["sampling"]},
    )

    def fit() -> dict:
        from irsynth.network import fit_networks

        tables = dict(zip(("summary", "description", "splits", "diagnostics", "warnings"),
                          fit_networks(changes, settings, config["sampling"])))  # fmt: skip
        return tables

    result = stage_store.reused_or_made(cache_dir, key, "network models", fit)
    warnings = result["warnings"]
    provenance = {**stamp(data_dir, config), "seed": config["sampling"]["seed"], "gate_warnings": warnings}
    for name, path in (
        ("summary", summary_csv),
        ("description", network_csv),
        ("splits", node_split_csv),
        ("diagnostics", diagnostics_csv),
    ):
        write_table(result[name], Path(path), provenance)
    for message in warnings:
        print(f"WARNING (on_gate_failure: warn): {message}")
    print(result["description"].to_string(index=False))


def fit_evidence(inputs, outputs, data_dir: Path, config: dict, cache_dir: Path | None = None) -> None:
    """The inositol/lifestyle evidence model: fit, gates, checks, sensitivity refits, decision table, headline.

    `inputs` and `outputs` are the rule's named files (Snakemake's, or any object with those attributes). With
    `cache_dir`, each run's last MCMC fit is kept there and updated when the evidence changes (irsynth.updating),
    and the stage's results are re-used as they are when nothing that informs its fits changed (irsynth.stage_store).
    """
    import json

    from irsynth import stage_store
    from irsynth.provenance import write_atomic

    pooled = text_columns(read_result(inputs.pooled))
    changes = text_columns(read_result(inputs.changes))
    contrasts = read_effects(inputs.effects)
    studies = text_columns(read_result(inputs.studies))
    hashes = stamp(data_dir, config)
    key = evidence_key(pooled, contrasts, changes, studies, config)

    def fit() -> dict:
        from irsynth.evidence_run import run_evidence_model

        with harmless_warnings_filtered():
            result = run_evidence_model(
                pooled, contrasts, changes, studies, config, cache_dir, fit_label=inputs_label(hashes)
            )
        Path(outputs.posterior).parent.mkdir(parents=True, exist_ok=True)
        result.trace.to_netcdf(outputs.posterior, engine="h5netcdf")
        return {"tables": result.tables, "headline": result.headline, "warnings": result.warnings, "log": result.log}

    posterior = {"posterior.nc": Path(outputs.posterior)}
    stored = stage_store.reused_or_made(cache_dir, key, "evidence model", fit, posterior)

    provenance = {**hashes, "seed": config["sampling"]["seed"], "gate_warnings": stored["warnings"]}
    tables = stored["tables"]
    for name, table in tables.items():
        write_table(table, getattr(outputs, name), provenance)
    headline = {
        "components": json.loads(tables["components"].round(6).to_json(orient="records")),
        "decision": json.loads(tables["decision"].round(6).to_json(orient="records")),
        **stored["headline"],
        "evidence_set": tables["evidence_set"]["label"].tolist(),
        **provenance,
    }
    write_atomic(outputs.headline, json.dumps(headline, indent=2, sort_keys=True) + "\n")
    for message in stored["warnings"]:
        print(f"WARNING (on_gate_failure: warn): {message}")
    print(stored["log"])


def evidence_key(pooled, contrasts, changes, studies, config: dict) -> str:
    """What informs the evidence model's fits and tables (irsynth.stage_store): its data, the trials' durations,
    baselines and years, and the config sections of the stage."""
    from irsynth import stage_store
    from irsynth.evidence_run import decision_ranges
    from irsynth.evidence_set import evidence_data, select_pooled
    from irsynth.refits import evidence_years

    data = evidence_data(pooled, contrasts, changes, studies, config)
    return stage_store.stage_key(
        data=data,
        ranges=decision_ranges(data, changes),
        years=evidence_years(data, select_pooled(pooled, config), studies),
        config={k: config[k] for k in ("evidence_model", "decision", "sampling", "comparisons")},
    )


def report(inputs: dict[str, Path], config: dict, out_html: Path, history_dir: Path, command: str,
           figure_dir: Path | None = None) -> None:  # fmt: skip
    """The self-contained HTML report from the tables in `inputs` (irsynth.report.build_report names them), with
    what changed since the run recorded last in `history_dir`; then this run's history entry. With `figure_dir`,
    figures drawn from the same inputs by the same code are read from there (irsynth.figure_cache)."""
    import json
    from contextlib import nullcontext

    from irsynth.figure_cache import cached_in
    from irsynth.history import history_entry, latest_entry, record, what_changed
    from irsynth.provenance import write_atomic
    from irsynth.report import build_report, now

    headline = json.loads(Path(inputs["headline"]).read_text())
    trials = sorted(set(read_result(inputs["arms"])["study_id"]))
    entry = history_entry(headline, trials, config["decision"]["cutoff"], now())
    changes = what_changed(latest_entry(Path(history_dir)), entry)
    with cached_in(Path(figure_dir)) if figure_dir is not None else nullcontext():
        html = build_report(inputs, config, command, changes, entry["built"])
    write_atomic(Path(out_html), html)
    print(f"wrote {out_html}")
    print(f"history entry {record(Path(history_dir), entry)}")
