"""Adding evidence from a filled-in template: validated like the pipeline's input, refused if it duplicates or
overlaps evidence in use, then appended to data/ exactly as a hand edit would be.

A template is YAML with lists under `studies`, `arms` and/or `pooled` (one mapping per row, columns as in
data/README.md), or a CSV with the columns of one table (a `source_id` column: pooled.csv; an `arm` column:
arms.csv; otherwise studies.csv). data/templates/ has blank templates.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from irsynth.csvfile import read_table
from irsynth.effects import match_comparison
from irsynth.evidence_set import LISTED, NONE, overlap_status, select_pooled
from irsynth.harmonise import arm_class
from irsynth.problems import DataError, Problem
from irsynth.provenance import write_atomic
from irsynth.validate import load_evidence

TABLES = ("studies", "arms", "pooled")


def read_template(path: Path) -> dict[str, list[dict[str, str]]]:
    """Rows per table from a YAML or CSV template (cells as text; blank = not reported)."""
    path = Path(path)
    name = str(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            content = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # every cell stays text
        except yaml.YAMLError as err:
            raise DataError([Problem(name, None, None, None, f"not valid YAML: {err}")]) from None
        if not isinstance(content, dict) or not set(content) <= set(TABLES) or not content:
            raise DataError(
                [Problem(name, None, None, None, f"expected a mapping with keys among {', '.join(TABLES)}")]
            )
        rows = {}
        for table, entries in content.items():
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise DataError(
                    [Problem(name, None, table, None, "expected a list of rows (mappings of column: value)")]
                )
            rows[table] = [{str(k): str(v) for k, v in entry.items()} for entry in entries]
        return rows
    frame, problems = read_table(path, required=[], optional=_header(_text(path)))
    if problems:
        raise DataError(problems)
    table = "pooled" if "source_id" in frame else "arms" if "arm" in frame else "studies"
    return {table: frame.drop(columns="_line").to_dict("records")}


def _text(path: Path) -> str:
    return Path(path).read_bytes().decode("utf-8-sig")


def _header(text: str) -> list[str]:
    return [h.strip() for h in next(csv.reader(io.StringIO(text)))]


def add_evidence(template: Path, data_dir: Path, config: dict, dry_run: bool = False) -> list[str]:
    """Validate the template's rows together with `data_dir`, append them; return what was done, with how the
    pipeline will count a trial that is or may be inside a pooled source in use (evidence_set.overlap_status)."""
    data_dir = Path(data_dir)
    additions = read_template(template)
    texts = {t: _text(data_dir / f"{t}.csv") for t in TABLES}
    headers = {t: _header(text) for t, text in texts.items()}
    problems, new_texts, new_lines = [], {}, {}
    for table, rows in additions.items():
        for i, row in enumerate(rows, start=1):
            for column in row:
                if column not in headers[table]:
                    problems.append(
                        Problem(
                            f"{template} ({table} row {i})",
                            None,
                            column,
                            row[column],
                            f"not a column of {table}.csv (data/README.md lists the columns)",
                        )
                    )
        start = texts[table].rstrip("\n").count("\n") + 2
        buffer = io.StringIO()
        csv.DictWriter(buffer, fieldnames=headers[table], lineterminator="\n").writerows(
            [{c: row.get(c, "") for c in headers[table]} for row in rows]
        )
        new_texts[table] = texts[table].rstrip("\n") + "\n" + buffer.getvalue()
        new_lines[table] = (start, start + len(rows) - 1)
    if problems:
        raise DataError(problems)

    with tempfile.TemporaryDirectory() as scratch:
        for table in TABLES:
            Path(scratch, f"{table}.csv").write_text(new_texts.get(table, texts[table]), encoding="utf-8")
        try:
            evidence = load_evidence(Path(scratch), config)
        except DataError as err:
            raise DataError([_locate(p, scratch, data_dir, template, new_lines) for p in err.problems]) from None

    done = [
        f"{data_dir / f'{t}.csv'}: line{f' {a}' if a == b else f's {a}-{b}'} added from {template}"
        for t, (a, b) in new_lines.items()
    ]
    done += overlap_notes(evidence, additions, config)
    done += [
        f"{row['source_id']} ({row['outcome']}) is stored but not used until config evidence_model.pooled names it "
        "(one source per comparison and outcome)"
        for row in additions.get("pooled", [])
    ]
    if not dry_run:
        for table, text in new_texts.items():
            write_atomic(data_dir / f"{table}.csv", text)
        _log_change(data_dir, template, done)
    return done


def _locate(problem: Problem, scratch: str, data_dir: Path, template: Path, new_lines: dict) -> Problem:
    """Name the template row for a problem in an added line, and data/ for a problem in an existing one."""
    table = Path(problem.file).stem
    first_new = new_lines.get(table, (None,))[0]
    if problem.line and first_new and problem.line >= first_new:
        reason = re.sub(
            r"\bline (\d+)",
            lambda m: (
                f"line {m[1]} of {data_dir / f'{table}.csv'}"
                if int(m[1]) < first_new
                else f"{table} row {int(m[1]) - first_new + 1} of the template"
            ),
            problem.reason,
        )
        return Problem(
            f"{template} ({table} row {problem.line - first_new + 1})", None, problem.column, problem.value, reason
        )
    return Problem(
        problem.file.replace(scratch, str(data_dir)), problem.line, problem.column, problem.value, problem.reason
    )


def overlap_notes(evidence, additions: dict, config: dict) -> list[str]:
    """For each new trial's comparison and outcome inside, or possibly inside, a pooled source in use: how the
    pipeline counts it (the rule of evidence_set.overlap_status, which the pipeline applies)."""
    used = select_pooled(evidence.pooled, config)
    years = dict(zip(evidence.studies["study_id"], pd.to_numeric(evidence.studies["year"], errors="coerce")))
    notes = []
    for study in sorted({row["study_id"] for row in additions.get("arms", [])}):
        arms = evidence.arms[evidence.arms["study_id"] == study]
        classes = {arm: arm_class(row) for arm, row in arms.drop_duplicates("arm").set_index("arm").iterrows()}
        pairs = [match_comparison(a, b, config["comparisons"]) for a in classes.values() for b in classes.values()]
        for comparison in sorted({p[0] for p in pairs if p}):
            for outcome in sorted(set(arms["outcome"])):
                status, source = overlap_status(study, years.get(study, float("nan")), comparison, outcome, used)
                if status == NONE:
                    continue
                year = f"{years[study]:.0f}" if pd.notna(years.get(study)) else "year unknown"
                row = used[(used["source_id"] == source) & (used["outcome"] == outcome)].iloc[0]
                if status == LISTED:
                    notes.append(f"note: {study} is listed among the trials of {source} ({comparison}, {outcome}), "
                                 f"which is in use: the pipeline counts it only inside {source}")  # fmt: skip
                else:
                    notes.append(
                        f"check: {study} ({year}) may be among the unlisted trials of {source} ({row['year']:.0f}, "
                        f"{comparison}, {outcome}), which is in use: the primary analysis counts it only inside "
                        f"{source} (evidence_model.overlap.primary), and a sensitivity run counts it on its own too; "
                        "if it is not among them, record that source's complete list in pooled.csv"
                    )
    return notes


def _log_change(data_dir: Path, template: Path, done: list[str]) -> None:
    changes = data_dir / "CHANGES.md"
    if changes.exists():
        entry = (
            f"\n- {date.today().isoformat()}, `irsynth add {Path(template).name}`: "
            + "; ".join(d.replace(f"{data_dir}/", "").replace(f" from {template}", "") for d in done)
            + "\n"
        )
        write_atomic(changes, changes.read_text(encoding="utf-8").rstrip("\n") + "\n" + entry)
