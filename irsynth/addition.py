"""Adding evidence from a filled-in template: validated like the pipeline's input, refused if it duplicates or
overlaps evidence in use, then appended to data/ exactly as a hand edit would be.

A template is YAML with lists under `studies`, `arms` and/or `pooled` (one mapping per row, columns as in
data/README.md), or a CSV with the columns of one table (a `source_id` column: pooled.csv; an `arm` column:
arms.csv; otherwise studies.csv). data/templates/ has blank templates. Problems name the template's line.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import re
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from irsynth.csvfile import LINE, csv_rows_text, read_table, read_text
from irsynth.effects import match_comparison
from irsynth.evidence_set import LISTED, NONE, overlap_status, select_pooled
from irsynth.harmonise import arm_class
from irsynth.problems import DataError, Problem
from irsynth.provenance import write_atomic
from irsynth.validate import check_evidence
from irsynth.yamlfile import StrictTextLoader, error_line, error_text

TABLES = ("studies", "arms", "pooled")
TEMPLATE_TYPES = (".yaml", ".yml", ".csv")


def read_template(path: Path) -> dict[str, list[dict[str, str]]]:
    """Rows per table from a YAML or CSV template (cells as text; blank or null = not reported), each row with the
    template line it starts on under LINE. Rows with every cell blank are dropped; a template with no row left is
    refused. YAML is read strictly (yamlfile: no aliases or merge keys, no duplicate keys)."""
    path = Path(path)
    name = str(path)
    if path.suffix.lower() not in TEMPLATE_TYPES:
        raise DataError(
            [
                Problem(
                    name,
                    None,
                    None,
                    None,
                    f"unsupported template type {path.suffix or '(none)'!r}: fill in a YAML or CSV template "
                    "(data/templates/)",
                )
            ]
        )
    text, problems = read_text(path)
    if problems:
        raise DataError(problems)
    rows = _yaml_rows(name, text) if path.suffix.lower() in (".yaml", ".yml") else _csv_rows(path, text)
    rows = {t: [r for r in entries if any(v.strip() for k, v in r.items() if k != LINE)] for t, entries in rows.items()}
    rows = {t: entries for t, entries in rows.items() if entries}
    if not rows:
        raise DataError([Problem(name, None, None, None, "the template adds no rows: fill in at least one row")])
    return rows


def _yaml_rows(name: str, text: str) -> dict[str, list[dict[str, str]]]:
    loader = StrictTextLoader(text)
    try:
        node = loader.get_single_node()
        content = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        raise DataError([Problem(name, error_line(err), None, None, f"not valid YAML: {error_text(err)}")]) from None
    finally:
        loader.dispose()
    if not isinstance(content, dict) or not set(content) <= set(TABLES) or not content:
        raise DataError([Problem(name, None, None, None, f"expected a mapping with keys among {', '.join(TABLES)}")])
    rows = {}
    for key_node, value_node in node.value:
        table, entries = key_node.value, content[key_node.value]
        if entries == "":
            continue
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            line = value_node.start_mark.line + 1
            raise DataError([Problem(name, line, table, None, "expected a list of rows (mappings of column: value)")])
        rows[table] = []
        for entry, item in zip(entries, value_node.value):
            for column, value in entry.items():
                if not isinstance(value, str):
                    line = item.start_mark.line + 1
                    raise DataError([Problem(name, line, str(column), None, "a cell must be text or a number")])
            rows[table].append({**{str(k): v for k, v in entry.items()}, LINE: item.start_mark.line + 1})
    return rows


def _csv_rows(path: Path, text: str) -> dict[str, list[dict[str, str]]]:
    header = [h.strip() for h in next(csv.reader(io.StringIO(text)), [])]
    frame, problems = read_table(path, required=[], optional=header)
    if problems:
        raise DataError(problems)
    table = "pooled" if "source_id" in frame else "arms" if "arm" in frame else "studies"
    return {table: frame.to_dict("records")}


def _data_text(path: Path) -> str:
    text, problems = read_text(path)
    if problems:
        raise DataError(problems)
    return text


def _header(text: str) -> list[str]:
    return [h.strip() for h in next(csv.reader(io.StringIO(text)))]


def add_evidence(template: Path, data_dir: Path, config: dict, dry_run: bool = False) -> list[str]:
    """Validate the template's rows together with `data_dir`, append them; return what was done, with how the
    pipeline will count a trial that is or may be inside a pooled source in use (evidence_set.overlap_status)."""
    data_dir = Path(data_dir)
    additions = read_template(template)
    texts = {t: _data_text(data_dir / f"{t}.csv") for t in TABLES}
    headers = {t: _header(text) for t, text in texts.items()}
    problems, new_texts, starts = [], {}, {}
    for table, rows in additions.items():
        for index, row in enumerate(rows):
            for column in row:
                if column != LINE and column not in headers[table]:
                    problems.append(
                        Problem(
                            _where(template, table, rows, index),
                            None,
                            column,
                            row[column],
                            f"not a column of {table}.csv (data/README.md lists the columns)",
                        )
                    )
        kept = texts[table].rstrip("\n")
        line = kept.count("\n") + 2
        starts[table] = []
        for row in rows:  # a quoted cell may span lines: each row's first line
            starts[table].append(line)
            line += csv_rows_text(headers[table], [row]).count("\n")
        starts[table].append(line)  # one past the last added line
        new_texts[table] = kept + "\n" + csv_rows_text(headers[table], rows)
    if problems:
        raise DataError(problems)

    with tempfile.TemporaryDirectory() as scratch:
        for table in TABLES:
            Path(scratch, f"{table}.csv").write_text(new_texts.get(table, texts[table]), encoding="utf-8")
        try:
            evidence = check_evidence(Path(scratch), config)
        except DataError as err:
            located = [_locate(p, scratch, data_dir, template, starts, additions) for p in err.problems]
            raise DataError(located) from None

    done = [
        f"{data_dir / f'{t}.csv'}: line{f' {a}' if a == b - 1 else f's {a}-{b - 1}'} added from {template}"
        for t, (a, b) in ((t, (s[0], s[-1])) for t, s in starts.items())
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


def _where(template: Path, table: str, rows: list[dict], index: int) -> str:
    """A template row as messages name it: the template's line and the row's place in its table."""
    return f"{template}, line {rows[index][LINE]} ({table} row {index + 1})"


def _locate(problem: Problem, scratch: str, data_dir: Path, template: Path, starts: dict, additions: dict) -> Problem:
    """Name the template row (and its line in the template) for a problem in an added line, and data/ for a problem
    in an existing one."""
    table = Path(problem.file).stem
    lines = starts.get(table)

    def row_of(line: int) -> int | None:
        if not lines or not lines[0] <= line < lines[-1]:
            return None
        return bisect.bisect_right(lines, line) - 1

    if problem.line and row_of(problem.line) is not None:
        reason = re.sub(
            r"\bline (\d+)",
            lambda m: (
                f"line {m[1]} of {data_dir / f'{table}.csv'}"
                if row_of(int(m[1])) is None
                else _where(template, table, additions[table], row_of(int(m[1])))
            ),
            problem.reason,
        )
        where = _where(template, table, additions[table], row_of(problem.line))
        return Problem(where, None, problem.column, problem.value, reason)
    file, reason = (text.replace(scratch, str(data_dir)) for text in (problem.file, problem.reason))
    return Problem(file, problem.line, problem.column, problem.value, reason)


def overlap_notes(evidence, additions: dict, config: dict) -> list[str]:
    """For each new trial's comparison and outcome inside, or possibly inside, a pooled source in use: how the
    pipeline counts it (the rule of evidence_set.overlap_status, which the pipeline applies)."""
    used = select_pooled(evidence.pooled, config)
    years = dict(zip(evidence.studies["study_id"], pd.to_numeric(evidence.studies["year"], errors="coerce")))
    notes = []
    for study in sorted({row["study_id"] for row in additions.get("arms", [])}):
        for comparison, outcome in _comparisons(evidence.arms[evidence.arms["study_id"] == study], config):
            status, source = overlap_status(study, years.get(study, float("nan")), comparison, outcome, used)
            if status == NONE:
                continue
            year = f"{years[study]:.0f}" if pd.notna(years.get(study)) else "year unknown"
            row = used[(used["source_id"] == source) & (used["outcome"] == outcome)].iloc[0]
            published = f"{row['year']:.0f}, " if pd.notna(row["year"]) else ""
            if status == LISTED:
                notes.append(f"note: {study} is listed among the trials of {source} ({comparison}, {outcome}), "
                             f"which is in use: the pipeline counts it only inside {source}")  # fmt: skip
            else:
                notes.append(
                    f"check: {study} ({year}) may be among the unlisted trials of {source} ({published}"
                    f"{comparison}, {outcome}), which is in use: the primary analysis counts it only inside "
                    f"{source} (evidence_model.overlap.primary), and a sensitivity run counts it on its own too; "
                    "if it is not among them, record that source's complete list in pooled.csv"
                )
    return notes


def _comparisons(arms: pd.DataFrame, config: dict) -> list[tuple[str, str]]:
    """(comparison, outcome) pairs a trial's arms form: two different arms that both report the outcome and whose
    classes make a config comparison (only these can be inside a pooled source of that comparison and outcome)."""
    found = set()
    for outcome, rows in arms.groupby("outcome"):
        classes = [arm_class(row) for _, row in rows.drop_duplicates("arm").iterrows()]
        for a, b in itertools.combinations(classes, 2):
            match = match_comparison(a, b, config["comparisons"])
            if match:
                found.add((match[0], outcome))
    return sorted(found)


def _log_change(data_dir: Path, template: Path, done: list[str]) -> None:
    changes = data_dir / "CHANGES.md"
    if changes.exists():
        entry = (
            f"\n- {date.today().isoformat()}, `irsynth add {Path(template).name}`: "
            + "; ".join(d.replace(f"{data_dir}/", "").replace(f" from {template}", "") for d in done)
            + "\n"
        )
        write_atomic(changes, changes.read_text(encoding="utf-8").rstrip("\n") + "\n" + entry)
