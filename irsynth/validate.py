"""Validation of the three input tables (arms, pooled, studies) against their schemas.

Column-wise rules (types, vocabularies, ranges) are pandera schemas; rules that tie several columns or rows
together (a CI's order, one baseline row per arm, an arm's doses agreeing across its rows) are checked here row
by row. Every failure becomes a `Problem` naming file, line, column, value and reason; all are collected and
raised together as one `DataError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from irsynth import vocab
from irsynth.csvfile import LINE, read_table
from irsynth.problems import DataError, Problem
from irsynth.units import to_canonical

ARM_NUMERIC = [
    "mi_mg_day",
    "dci_mg_day",
    "metformin_mg_day",
    "duration_weeks",
    "n",
    "n_allocated",
    "mean",
    "sd",
    "se",
    "ci_low",
    "ci_high",
    "median",
    "q1",
    "q3",
    "min",
    "max",
]
ARM_REQUIRED = [
    "study_id",
    "arm",
    "mi_mg_day",
    "dci_mg_day",
    "metformin_mg_day",
    "lifestyle",
    "control_kind",
    "duration_weeks",
    "outcome",
    "timepoint",
    "n",
    "mean",
    "sd",
    "se",
    "ci_low",
    "ci_high",
    "median",
    "q1",
    "q3",
    "unit",
    "source_url",
    "source_locator",
    "quote",
]
ARM_OPTIONAL = ["arm_label", "other_tx", "min", "max", "n_allocated", "n_quote", "dispersion_label", "flags", "notes"]
ARM_KEY = ["study_id", "arm", "outcome", "timepoint"]
ARM_ATTRIBUTES = ["mi_mg_day", "dci_mg_day", "metformin_mg_day", "lifestyle", "control_kind", "duration_weeks"]

POOLED_NUMERIC = ["estimate", "ci_low", "ci_high", "k_studies", "year"]
POOLED_REQUIRED = [
    "source_id",
    "comparison",
    "outcome",
    "measure",
    "analysis",
    "estimate",
    "ci_low",
    "ci_high",
    "source_url",
    "source_locator",
    "quote",
]
POOLED_OPTIONAL = [
    "authors",
    "year",
    "journal",
    "intervention",
    "comparator",
    "population",
    "p_value",
    "k_studies",
    "n_participants",
    "unit",
    "included_studies",
    "included_study_ids",
    "flags",
    "notes",
    "included_study_ids_quote",
    "included_study_ids_source",
    "included_studies_complete",
    "search_date",
    "search_date_quote",
    "search_date_source",
]
POOLED_KEY = ["source_id", "comparison", "outcome", "measure", "analysis"]

STUDY_NUMERIC = ["year"]
STUDY_REQUIRED = ["study_id", "authors", "year", "design", "randomised", "source_url"]
STUDY_OPTIONAL = [
    "title",
    "journal",
    "doi",
    "pmid",
    "country",
    "blinding",
    "population",
    "n_randomised",
    "lifestyle_background",
    "background_advice",
    "background_advice_quote",
    "dropouts",
    "coi",
    "notes",
]

_positive = {"error": "must be > 0"}


def _vocab(values, label):
    return pa.Check.isin(
        list(values), error=f"not a known {label}; allowed: {', '.join(v or '(blank)' for v in values)}"
    )


def _flag_check(allowed):
    def ok(series: pd.Series) -> pd.Series:
        return series.map(lambda text: all(f.strip() in allowed for f in text.split(";") if f.strip()))

    return pa.Check(ok, element_wise=False, error=f"unknown flag; allowed: {', '.join(allowed)}")


def _text(required=False, checks=None):
    checks = list(checks or [])
    if required:
        checks.append(pa.Check.str_length(min_value=1, error="must not be blank"))
    return pa.Column(str, checks=checks, nullable=False)


def _number(*checks, integer=False):
    checks = list(checks)
    if integer:
        checks.append(pa.Check(lambda s: (s % 1) == 0, element_wise=False, error="must be a whole number"))
    return pa.Column(float, checks=checks, nullable=True)


def _url():
    return _text(required=True, checks=[pa.Check.str_matches(r"^https?://", error="must be an http(s) URL")])


ARMS_SCHEMA = pa.DataFrameSchema(
    {
        "study_id": _text(
            required=True, checks=[pa.Check.str_matches(r"^[A-Za-z0-9_.-]+$", error="use letters, digits, _ . - only")]
        ),
        "arm": _text(required=True),
        "mi_mg_day": _number(pa.Check.ge(0, error="dose must be >= 0")),
        "dci_mg_day": _number(pa.Check.ge(0, error="dose must be >= 0")),
        "metformin_mg_day": _number(pa.Check.ge(0, error="dose must be >= 0")),
        "lifestyle": _text(required=True, checks=[_vocab(vocab.LIFESTYLE, "lifestyle")]),
        "control_kind": _text(checks=[_vocab(("",) + vocab.CONTROL_KINDS, "control kind")]),
        "duration_weeks": _number(pa.Check.gt(0, **_positive), pa.Check.le(520, error="longer than 10 years: check")),
        "outcome": _text(required=True, checks=[_vocab(vocab.OUTCOMES, "outcome")]),
        "timepoint": _text(required=True, checks=[_vocab(vocab.TIMEPOINTS, "timepoint")]),
        "n": _number(pa.Check.ge(1, error="n must be >= 1"), integer=True),
        "n_allocated": _number(pa.Check.ge(1, error="n must be >= 1"), integer=True),
        "sd": _number(pa.Check.gt(0, error="SD must be > 0")),
        "se": _number(pa.Check.gt(0, error="SE must be > 0")),
        "source_url": _url(),
        "quote": _text(required=True),
        "flags": _text(checks=[_flag_check(vocab.ARM_FLAGS)]),
    },
    strict=False,
)

POOLED_SCHEMA = pa.DataFrameSchema(
    {
        "source_id": _text(required=True),
        "outcome": _text(required=True, checks=[_vocab(vocab.OUTCOMES, "outcome")]),
        "measure": _text(required=True, checks=[_vocab(vocab.MEASURES, "measure")]),
        "analysis": _text(required=True, checks=[_vocab(vocab.ANALYSES, "analysis")]),
        "estimate": pa.Column(float, nullable=False),
        "k_studies": _number(pa.Check.ge(1, error="k must be >= 1"), integer=True),
        "source_url": _url(),
        "quote": _text(required=True),
        "flags": _text(checks=[_flag_check(vocab.POOLED_FLAGS)]),
        "included_studies_complete": _text(
            checks=[_vocab(vocab.INCLUDED_COMPLETE, "completeness of the included-trial list")]
        ),
        "search_date": _text(
            checks=[pa.Check.str_matches(vocab.SEARCH_DATE_PATTERN, error="search date must be YYYY-MM or YYYY-MM-DD")]
        ),
    },
    strict=False,
)

STUDIES_SCHEMA = pa.DataFrameSchema(
    {
        "study_id": _text(
            required=True, checks=[pa.Check.str_matches(r"^[A-Za-z0-9_.-]+$", error="use letters, digits, _ . - only")]
        ),
        "year": _number(pa.Check.in_range(1950, 2100, error="year out of range 1950-2100"), integer=True),
        "randomised": _text(required=True, checks=[_vocab(vocab.RANDOMISED, "randomisation status")]),
        "background_advice": _text(checks=[_vocab(vocab.BACKGROUND_ADVICE, "background advice code")]),
        "source_url": pa.Column(
            str, pa.Check.str_matches(r"^(https?://.*)?$", error="must be an http(s) URL or blank")
        ),
    },
    strict=False,
)


@dataclass
class Evidence:
    """The validated input tables, typed, each row keeping its file line in `_line`."""

    arms: pd.DataFrame
    pooled: pd.DataFrame
    studies: pd.DataFrame


def load_evidence(data_dir: Path, config: dict) -> Evidence:
    """Read and validate arms.csv, pooled.csv and studies.csv in `data_dir`; raise DataError listing all problems."""
    data_dir = Path(data_dir)
    problems: list[Problem] = []
    studies = _load(data_dir / "studies.csv", STUDY_REQUIRED, STUDY_OPTIONAL, STUDY_NUMERIC, STUDIES_SCHEMA, problems)
    arms = _load(data_dir / "arms.csv", ARM_REQUIRED, ARM_OPTIONAL, ARM_NUMERIC, ARMS_SCHEMA, problems)
    pooled = _load(data_dir / "pooled.csv", POOLED_REQUIRED, POOLED_OPTIONAL, POOLED_NUMERIC, POOLED_SCHEMA, problems)
    if not studies.empty:
        problems += _duplicates(studies, ["study_id"], data_dir / "studies.csv")
        problems += study_problems(studies, data_dir / "studies.csv")
    if not arms.empty:
        problems += arm_problems(arms, data_dir / "arms.csv", config, studies)
    if not pooled.empty:
        problems += pooled_problems(pooled, data_dir / "pooled.csv", config, studies)
    if problems:
        raise DataError(problems)
    return Evidence(arms=arms, pooled=pooled, studies=studies)


def _load(path, required, optional, numeric, schema, problems) -> pd.DataFrame:
    frame, found = read_table(path, required, optional)
    problems += found
    if found:
        return pd.DataFrame()
    frame, found = _coerce_numbers(frame, numeric, str(path))
    problems += found
    problems += _schema_problems(frame, schema, str(path))
    return frame


def _coerce_numbers(frame: pd.DataFrame, columns: list[str], name: str) -> tuple[pd.DataFrame, list[Problem]]:
    problems = []
    frame = frame.copy()
    for column in columns:
        if column not in frame:
            continue
        text = frame[column].astype(str).str.replace("\u2212", "-", regex=False)
        numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = numbers.isna() & (text != "")
        for index in frame.index[bad]:
            problems.append(Problem(name, int(frame.at[index, LINE]), column, frame.at[index, column], "not a number"))
        frame[column] = numbers.astype(float)
    return frame, problems


def _schema_problems(frame: pd.DataFrame, schema: pa.DataFrameSchema, name: str) -> list[Problem]:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        problems = []
        for case in err.failure_cases.itertuples(index=False):
            line = None if pd.isna(case.index) else int(frame.at[case.index, LINE])
            value = None if case.failure_case is None or pd.isna(case.failure_case) else str(case.failure_case)
            problems.append(Problem(name, line, case.column, value, str(case.check)))
        return problems
    return []


def _duplicates(frame: pd.DataFrame, key: list[str], path: Path) -> list[Problem]:
    dup = frame[frame.duplicated(key, keep=False)]
    problems = []
    for _, group in dup.groupby(key, sort=False):
        lines = group[LINE].tolist()
        ident = ", ".join(f"{k}={group.iloc[0][k]}" for k in key)
        for line in lines[1:]:
            problems.append(Problem(str(path), int(line), key[-1], None, f"duplicate of line {lines[0]} ({ident})"))
    return problems


def _row_problem(path, row, column, reason):
    value = row.get(column) if column else None
    value = None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    return Problem(str(path), int(row[LINE]), column, value, reason)


def study_problems(studies: pd.DataFrame, path: Path) -> list[Problem]:
    """Rules that tie columns of studies.csv together: a yes/no background_advice code needs its verbatim quote."""
    problems = []
    for _, row in studies.iterrows():
        code = str(row.get("background_advice", ""))
        if code in ("yes", "no") and not str(row.get("background_advice_quote", "")).strip():
            problems.append(
                _row_problem(
                    path,
                    row,
                    "background_advice_quote",
                    f"background_advice {code!r} needs the verbatim text that supports it (or code it unclear)",
                )
            )
    return problems


def arm_problems(arms: pd.DataFrame, path: Path, config: dict, studies: pd.DataFrame) -> list[Problem]:
    """Rules that tie columns and rows of arms.csv together."""
    problems = _duplicates(arms, ARM_KEY, path)
    known_studies = set(studies["study_id"]) if not studies.empty else None
    bounds = config["validation"]["bounds"]
    for _, row in arms.iterrows():
        problems += [_row_problem(path, row, col, why) for col, why in _arm_row_rules(row, bounds, config)]
        if known_studies is not None and row["study_id"] not in known_studies:
            problems.append(_row_problem(path, row, "study_id", "study not in studies.csv"))
    problems += _arm_consistency(arms, path)
    if config["validation"]["require_baseline_with_end"]:
        problems += _end_without_baseline(arms, path)
    return problems


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _arm_row_rules(row, bounds, config):
    """Yield (column, reason) for each cross-column rule the row breaks."""
    has = {c: not _missing(row.get(c)) for c in ARM_NUMERIC}
    if not (has["mean"] or has["median"]):
        yield "mean", "no mean or median: the row carries no estimate"
    if has["sd"] and has["se"]:
        yield "se", "both SD and SE given: keep the one the source prints"
    if has["ci_low"] != has["ci_high"]:
        yield ("ci_high" if has["ci_low"] else "ci_low"), "CI needs both bounds"
    if has["ci_low"] and has["ci_high"]:
        if row["ci_low"] >= row["ci_high"]:
            yield "ci_low", f"CI lower bound {row['ci_low']} is not below upper bound {row['ci_high']}"
        elif has["mean"] and not row["ci_low"] <= row["mean"] <= row["ci_high"]:
            yield "mean", f"mean {row['mean']} lies outside its CI [{row['ci_low']}, {row['ci_high']}]"
    quantiles = [(c, row[c]) for c in ("min", "q1", "median", "q3", "max") if has[c]]
    for (c1, v1), (c2, v2) in zip(quantiles, quantiles[1:]):
        if v1 > v2:
            yield c2, f"{c2} {v2} is below {c1} {v1}"
    if has["q1"] != has["q3"]:
        yield ("q3" if has["q1"] else "q1"), "IQR needs both q1 and q3"
    if has["min"] != has["max"]:
        yield ("max" if has["min"] else "min"), "range needs both min and max"
    if has["n_allocated"] and has["n"] and row["n"] > row["n_allocated"]:
        yield "n", f"n analysed {row['n']:g} exceeds n allocated {row['n_allocated']:g}"
    if has["n_allocated"] and not str(row.get("n_quote", "")).strip():
        yield "n_quote", "n_allocated needs the verbatim text that gives it"

    flags = {f.strip() for f in str(row.get("flags", "")).split(";") if f.strip()}
    outcome, unit = row["outcome"], row["unit"]
    if outcome in vocab.UNITS:
        if unit not in vocab.UNITS[outcome]:
            yield (
                "unit",
                f"unknown unit for {outcome}; allowed: {', '.join(u or '(blank)' for u in vocab.UNITS[outcome])}",
            )
        elif unit == "" and outcome == "fasting_insulin" and "unit_not_printed" not in flags:
            yield "unit", "insulin unit is blank: give the unit, or flag the row unit_not_printed"
        elif row["timepoint"] in ("baseline", "end") and "implausible_value" not in flags and outcome in bounds:
            low, high = bounds[outcome]
            for column in ("mean", "median"):
                if has[column]:
                    value = to_canonical(row[column], outcome, unit or vocab.CANONICAL_UNIT[outcome], config)
                    if not low <= value <= high:
                        yield (
                            column,
                            (
                                f"{outcome} {value:g} {vocab.CANONICAL_UNIT[outcome]} is outside the plausible range "
                                f"[{low}, {high}] (config validation.bounds); fix it, or flag the row implausible_value"
                            ),
                        )

    drugs = [row[c] for c in ("mi_mg_day", "dci_mg_day", "metformin_mg_day")]
    receives_drug = any(_missing(d) or d > 0 for d in drugs)
    if row["control_kind"] == "active" and not receives_drug:
        yield "control_kind", "an 'active' comparator must receive a drug (a dose column not 0)"
    if not receives_drug and row["lifestyle"] == "none" and row["control_kind"] == "":
        yield (
            "control_kind",
            "arm receives no drug and no lifestyle change: say which control (placebo, folic_acid, none)",
        )


def _fmt(value) -> str:
    if _missing(value) or value == "":
        return "(blank)"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _arm_consistency(arms: pd.DataFrame, path: Path) -> list[Problem]:
    """An arm's doses, lifestyle, control kind and duration must be the same on all its rows."""
    problems = []
    for (study, arm), group in arms.groupby(["study_id", "arm"], sort=False):
        for column in ARM_ATTRIBUTES:
            shown = group[column].map(_fmt)
            if shown.nunique() == 1:
                continue
            usual = shown.value_counts().index[0]
            for index in group.index[shown != usual]:
                problems.append(
                    _row_problem(
                        path,
                        group.loc[index],
                        column,
                        f"arm {study}/{arm} has {usual} on its other rows: "
                        "an arm's attributes must agree across its rows",
                    )
                )
    return problems


def _end_without_baseline(arms: pd.DataFrame, path: Path) -> list[Problem]:
    problems = []
    for _, group in arms.groupby(["study_id", "arm", "outcome"], sort=False):
        points = set(group["timepoint"])
        if "end" in points and not points & {"baseline", "change"}:
            row = group[group["timepoint"] == "end"].iloc[0]
            problems.append(
                _row_problem(
                    path,
                    row,
                    "timepoint",
                    "end row without a baseline or change row for this arm and outcome: the change from baseline "
                    "cannot be formed (config validation.require_baseline_with_end)",
                )
            )
    return problems


def pooled_problems(pooled: pd.DataFrame, path: Path, config: dict, studies: pd.DataFrame) -> list[Problem]:
    """Rules that tie columns and rows of pooled.csv together."""
    problems = _duplicates(pooled, POOLED_KEY, path)
    comparisons = config["comparisons"]
    known_studies = set(studies["study_id"]) if not studies.empty else set()
    for _, row in pooled.iterrows():
        if row["comparison"] not in comparisons:
            problems.append(
                _row_problem(
                    path, row, "comparison", f"not a comparison defined in config; known: {', '.join(comparisons)}"
                )
            )
        low, high, est = row["ci_low"], row["ci_high"], row["estimate"]
        if not _missing(low) and not _missing(high):
            if low >= high:
                problems.append(
                    _row_problem(path, row, "ci_low", f"CI lower bound {low} is not below upper bound {high}")
                )
            elif not low <= est <= high:
                problems.append(
                    _row_problem(path, row, "estimate", f"estimate {est} lies outside its CI [{low}, {high}]")
                )
        elif "ci_incomplete" not in str(row.get("flags", "")):
            problems.append(
                _row_problem(
                    path,
                    row,
                    "ci_high" if _missing(high) else "ci_low",
                    "CI bound missing: give it, or flag the row ci_incomplete",
                )
            )
        for study in filter(None, (s.strip() for s in str(row.get("included_study_ids", "")).split(";"))):
            if study not in known_studies:
                problems.append(_row_problem(path, row, "included_study_ids", f"study {study!r} not in studies.csv"))
        problems += [_row_problem(path, row, col, why) for col, why in _provenance_rules(row)]
    return problems


def _provenance_rules(row):
    """Yield (column, reason): an included-trial list or its completeness, and a search date, need their quotes."""
    listed = str(row.get("included_study_ids", "")).strip()
    complete = str(row.get("included_studies_complete", "")).strip()
    if listed or complete:
        what = "included_study_ids" if listed else f"included_studies_complete {complete!r}"
        if not str(row.get("included_study_ids_quote", "")).strip():
            yield "included_study_ids_quote", f"{what} needs the verbatim text that lists the included trials"
        if not str(row.get("included_study_ids_source", "")).strip().startswith(("http://", "https://")):
            yield "included_study_ids_source", f"{what} needs the URL (and locator) of that text"
    if str(row.get("search_date", "")).strip() and not str(row.get("search_date_quote", "")).strip():
        yield "search_date_quote", "search_date needs the verbatim text that gives it"
