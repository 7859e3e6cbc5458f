"""Validation of the three input tables (arms, pooled, studies) against their schemas.

Column-wise rules (types, vocabularies, ranges) are pandera schemas; rules that tie several columns or rows
together (a CI's order, one baseline row per arm, an arm's doses agreeing across its rows, the bounds of config
`validation`) are checked here, vectorised over rows (200,000 arm rows validate in seconds). Identifier and code
cells are Unicode-normalised first, numbers must be finite. Every failure becomes a `Problem` naming file, line,
column, value and reason; all are collected and raised together as one `DataError`.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from irsynth import vocab
from irsynth.config import SCHEMA
from irsynth.csvfile import LINE, open_regular, read_table
from irsynth.problems import DataError, Problem
from irsynth.provenance import DATA_FILES, config_hash, write_atomic
from irsynth.units import factor_to_canonical
from irsynth.vocab import suggest

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

# the code of the up-front check (a change to it re-runs the check on unchanged data)
CHECK_MODULES = ("validate.py", "csvfile.py", "config.py", "vocab.py", "units.py", "evidence_set.py", "yamlfile.py")
# identifiers and codes: normalised (NFKC, stripped) before duplicate checks, invisible characters refused
KEY_COLUMNS = [
    "study_id",
    "arm",
    "source_id",
    "outcome",
    "timepoint",
    "comparison",
    "measure",
    "analysis",
    "lifestyle",
    "control_kind",
    "unit",
    "flags",
    "included_study_ids",
    "included_studies_complete",
    "randomised",
    "background_advice",
    "search_date",
]

# columns with a controlled vocabulary: a value outside it gets the closest allowed one as a suggestion
VOCABULARIES = {
    "lifestyle": vocab.LIFESTYLE,
    "control_kind": vocab.CONTROL_KINDS,
    "outcome": vocab.OUTCOMES,
    "timepoint": vocab.TIMEPOINTS,
    "measure": vocab.MEASURES,
    "analysis": vocab.ANALYSES,
    "randomised": vocab.RANDOMISED,
    "background_advice": vocab.BACKGROUND_ADVICE,
}

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
    # no dtype check: the reader gives text only, and pandera's element-wise str check is most of its time
    return pa.Column(None, checks=checks, nullable=False)


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
        "year": _number(integer=True),
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
        "year": _number(integer=True),
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
    files = {name: data_dir / f"{name}.csv" for name in ("arms", "pooled", "studies")}
    studies = _load(files["studies"], STUDY_REQUIRED, STUDY_OPTIONAL, STUDY_NUMERIC, STUDIES_SCHEMA, problems)
    arms = _load(files["arms"], ARM_REQUIRED, ARM_OPTIONAL, ARM_NUMERIC, ARMS_SCHEMA, problems)
    pooled = _load(files["pooled"], POOLED_REQUIRED, POOLED_OPTIONAL, POOLED_NUMERIC, POOLED_SCHEMA, problems)
    if not studies.empty:
        problems += _duplicates(studies, ["study_id"], files["studies"])
        problems += study_problems(studies, files["studies"], config)
    if not arms.empty:
        problems += arm_problems(arms, files["arms"], config, studies)
    if not pooled.empty:
        problems += pooled_problems(pooled, files["pooled"], config, studies)
    if problems:
        raise DataError(problems)
    return Evidence(arms=arms, pooled=pooled, studies=studies)


def check_evidence(data_dir: Path, config: dict, config_name: str = "config") -> Evidence:
    """load_evidence, then every reference of the config (named `config_name` in messages) into the tables, as the
    evidence model will use them (config_data_problems); DataError listing all problems."""
    evidence = load_evidence(data_dir, config)
    problems = config_data_problems(evidence.pooled, Path(data_dir) / "pooled.csv", config, config_name)
    if problems:
        raise DataError(problems)
    return evidence


def config_data_problems(pooled: pd.DataFrame, path: Path, config: dict, config_name: str) -> list[Problem]:
    """The config's references into the data, checked as the evidence model will use them: each
    evidence_model.pooled entry names exactly one pooled row with a complete CI, its comparison's classes code one
    design (or the entry says which), a source's rows in use share one analysis, and no comparison and outcome get
    two sources (evidence_set.check_overlap)."""
    from irsynth.evidence_set import check_overlap, comparison_vector

    problems, used = [], []
    for i, entry in enumerate(config["evidence_model"]["pooled"]):
        key = f"evidence_model.pooled.{i}"
        match = pooled[(pooled["source_id"] == entry["source_id"]) & (pooled["outcome"] == entry["outcome"])]
        for column in ("analysis", "comparison"):
            if column in entry:
                match = match[match[column] == entry[column]]
        described = ", ".join(f"{k}: {v}" for k, v in entry.items())
        if len(match) != 1:
            if match.empty:
                known = pooled.loc[pooled["outcome"] == entry["outcome"], "source_id"].unique()
                reason = f"{{{described}}} names no row of {path}{suggest(entry['source_id'], known)}"
            else:
                lines = ", ".join(str(n) for n in match[LINE])
                reason = (
                    f"{{{described}}} matches {len(match)} rows of {path} (lines {lines}): add `analysis:` or "
                    "`comparison:` to the entry to say which"
                )
            problems.append(Problem(config_name, None, key, None, reason))
            continue
        row = match.iloc[0]
        if _missing(row["ci_low"]) or _missing(row["ci_high"]):
            reason = f"{{{described}}} names line {row[LINE]} of {path}, which has no complete CI: it cannot be used"
            problems.append(Problem(config_name, None, key, None, reason))
            continue
        try:
            comparison_vector(row["comparison"], config, entry)
        except ValueError as err:
            problems.append(Problem(config_name, None, key, None, str(err)))
        used.append(row)
    if problems or not used:
        return problems
    used = pd.DataFrame(used)
    used = used[used["outcome"].isin(config["evidence_model"]["outcomes"])]
    for (source, comparison), rows in used.groupby(["source_id", "comparison"]):
        if rows["analysis"].nunique() > 1:
            reason = (
                f"pooled source {source} ({comparison}): its rows in use (lines {', '.join(map(str, rows[LINE]))}) "
                f"mix analyses {sorted(set(rows['analysis']))}: the model needs one"
            )
            problems.append(Problem(config_name, None, "evidence_model.pooled", None, reason))
    try:
        check_overlap(used)
    except ValueError as err:
        problems.append(Problem(config_name, None, "evidence_model.pooled", None, str(err)))
    return problems


def check_inputs(data_dir: Path, config: dict, config_name: str, stamp: Path) -> bool:
    """The up-front check of a run: the data tables and every reference of the config into them (check_evidence).
    Skipped when the tables, the config and the checking code hash as they did at the last check that passed (their
    SHA-256 digests in `stamp`, written only when they change). Returns whether the check ran; DataError if it
    failed."""
    digest = _input_digest(Path(data_dir), config)
    stamp = Path(stamp)
    if digest is not None and stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == digest:
        return False
    check_evidence(data_dir, config, config_name)
    if digest is not None:
        write_atomic(stamp, digest + "\n")
    return True


def _input_digest(data_dir: Path, config: dict) -> str | None:
    """SHA-256 over the data tables (regular files only), the config and this check's code; None if a table cannot
    be read (the check then runs and says why)."""
    digest = hashlib.sha256(config_hash(config).encode())
    code = Path(__file__).parent
    for path in [*(data_dir / name for name in DATA_FILES), *(code / m for m in CHECK_MODULES), SCHEMA]:
        handle, problems = open_regular(path)
        if problems:
            return None
        with handle:
            digest.update(str(path.name).encode() + b"\0" + handle.read())
    return digest.hexdigest()


def _load(path, required, optional, numeric, schema, problems) -> pd.DataFrame:
    frame, found = read_table(path, required, optional)
    problems += found
    if found:
        return pd.DataFrame()
    problems += _key_problems(frame, [c for c in KEY_COLUMNS if c in frame], str(path))
    frame, found = _coerce_numbers(frame, numeric, str(path))
    problems += found
    problems += _schema_problems(frame, schema, str(path))
    return frame


def _invisible(text: str) -> str | None:
    """The first control, format (zero-width, direction) or separator character of `text`, described."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            return f"U+{ord(char):04X} {unicodedata.name(char, 'control character')}"
    return None


def _key_problems(frame: pd.DataFrame, columns: list[str], name: str) -> list[Problem]:
    """Normalise identifier and code cells in place (Unicode NFKC, outer blanks stripped), so that look-alike keys
    are one key; refuse invisible characters in them (they would make a second, invisible key)."""
    problems = []
    plain = ["".join(cells).isascii() for cells in frame[columns].to_numpy()]
    for index in frame.index[~np.array(plain, dtype=bool)]:
        for column in columns:
            value = frame.at[index, column]
            if value.isascii():
                continue
            bad = _invisible(value)
            if bad:
                reason = f"contains an invisible character ({bad}): retype the value"
                problems.append(Problem(name, int(frame.at[index, LINE]), column, value, reason))
            else:
                frame.at[index, column] = unicodedata.normalize("NFKC", value).strip()
    return problems


def _coerce_numbers(frame: pd.DataFrame, columns: list[str], name: str) -> tuple[pd.DataFrame, list[Problem]]:
    problems = []
    frame = frame.copy()
    for column in columns:
        if column not in frame:
            continue
        text = frame[column]
        numbers = pd.to_numeric(text.where(text != ""), errors="coerce").astype(float)
        retry = numbers.isna() & (text != "")
        if retry.any():  # a minus sign typed as U+2212
            numbers[retry] = pd.to_numeric(text[retry].str.replace("\u2212", "-", regex=False), errors="coerce")
        bad = (numbers.isna() & (text != "")) | np.isinf(numbers)
        for index in frame.index[bad]:
            reason = "not a number" if np.isnan(numbers[index]) else "not a finite number"
            problems.append(Problem(name, int(frame.at[index, LINE]), column, frame.at[index, column], reason))
        frame[column] = numbers.where(~bad)
    return frame, problems


def _schema_problems(frame: pd.DataFrame, schema: pa.DataFrameSchema, name: str) -> list[Problem]:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        problems = []
        for case in err.failure_cases.itertuples(index=False):
            line = None if pd.isna(case.index) else int(frame.at[case.index, LINE])
            value = None if case.failure_case is None or pd.isna(case.failure_case) else str(case.failure_case)
            reason = str(case.check)
            if value and case.column in VOCABULARIES and reason.startswith("not a known"):
                reason = reason.replace(";", vocab.suggest(value, VOCABULARIES[case.column]) + ";", 1)
            problems.append(Problem(name, line, case.column, value, reason))
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


def _fmt(value) -> str:
    if _missing(value) or value == "":
        return "(blank)"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _flagged(frame: pd.DataFrame, mask, column: str, reason, path: Path) -> list[Problem]:
    """A Problem for each row of `frame` where `mask` holds: `reason` is a text, or a function of the row."""
    problems = []
    for index in frame.index[np.asarray(mask, dtype=bool)]:
        row = frame.loc[index]
        why = reason(row) if callable(reason) else reason
        value = None if column is None else row.get(column)
        problems.append(Problem(str(path), int(row[LINE]), column, None if _missing(value) else _fmt(value), why))
    return problems


def _has_flag(frame: pd.DataFrame, flag: str) -> pd.Series:
    maybe = frame["flags"].str.contains(flag, regex=False)
    has = pd.Series(False, index=frame.index)
    has[maybe] = frame.loc[maybe, "flags"].str.contains(rf"(?:^|;)\s*{flag}\s*(?:;|$)", regex=True)
    return has


def _outside(values: pd.Series, low, high) -> pd.Series:
    return values.notna() & ((values < low) | (values > high))


def study_problems(studies: pd.DataFrame, path: Path, config: dict) -> list[Problem]:
    """Rules that tie columns of studies.csv together: a yes/no background_advice code needs its verbatim quote;
    the year lies in config validation.limits.years."""
    low, high = config["validation"]["limits"]["years"]
    coded = studies["background_advice"].isin(["yes", "no"]) & (studies["background_advice_quote"].str.strip() == "")
    return _flagged(
        studies,
        coded,
        "background_advice_quote",
        lambda r: (
            f"background_advice {r['background_advice']!r} needs the verbatim text that supports it "
            "(or code it unclear)"
        ),
        path,
    ) + _flagged(
        studies,
        _outside(studies["year"], low, high),
        "year",
        f"year outside {low}-{high} (config validation.limits.years)",
        path,
    )


def arm_problems(arms: pd.DataFrame, path: Path, config: dict, studies: pd.DataFrame) -> list[Problem]:
    """Rules that tie columns and rows of arms.csv together (vectorised over rows)."""
    problems = _duplicates(arms, ARM_KEY, path)
    for mask, column, reason in _arm_row_rules(arms, config):
        problems += _flagged(arms, mask, column, reason, path)
    if not studies.empty:
        problems += _flagged(
            arms, ~arms["study_id"].isin(studies["study_id"]), "study_id", "study not in studies.csv", path
        )
    problems += _arm_consistency(arms, path)
    if config["validation"]["require_baseline_with_end"]:
        problems += _end_without_baseline(arms, path)
    return problems


def canonical_factor(arms: pd.DataFrame, config: dict) -> pd.Series:
    """Per row, the factor taking its values to the canonical unit of its outcome (NaN for an unknown unit)."""
    factors = {
        (outcome, unit): factor_to_canonical(outcome, unit, config)
        for outcome, units in vocab.UNITS.items()
        for unit in units
    }
    keys = pd.Series(list(zip(arms["outcome"], arms["unit"])), index=arms.index)
    return keys.map(factors).astype(float)


def _arm_row_rules(arms: pd.DataFrame, config: dict):
    """Yield (row mask, column, reason) for each rule that ties the columns of a row together."""
    num = {c: arms[c] for c in ARM_NUMERIC}
    has = {c: v.notna() for c, v in num.items()}
    yield ~(has["mean"] | has["median"]), "mean", "no mean or median: the row carries no estimate"
    yield has["sd"] & has["se"], "se", "both SD and SE given: keep the one the source prints"
    yield has["ci_low"] & ~has["ci_high"], "ci_high", "CI needs both bounds"
    yield ~has["ci_low"] & has["ci_high"], "ci_low", "CI needs both bounds"
    both = has["ci_low"] & has["ci_high"]
    reversed_ci = both & (num["ci_low"] >= num["ci_high"])
    yield (
        reversed_ci,
        "ci_low",
        lambda r: f"CI lower bound {r['ci_low']} is not below upper bound {r['ci_high']}",
    )
    outside = both & ~reversed_ci & has["mean"] & ((num["mean"] < num["ci_low"]) | (num["mean"] > num["ci_high"]))
    yield outside, "mean", lambda r: f"mean {r['mean']} lies outside its CI [{r['ci_low']}, {r['ci_high']}]"
    order = ("min", "q1", "median", "q3", "max")
    for i, c2 in enumerate(order[1:], start=1):
        # the nearest given quantile below c2 (as the row reads left to right)
        previous = pd.Series(np.nan, index=arms.index)
        name = pd.Series("", index=arms.index)
        for c1 in order[:i]:
            previous = num[c1].where(has[c1], previous)
            name = name.where(~has[c1], c1)
        yield (
            has[c2] & previous.notna() & (previous > num[c2]),
            c2,
            lambda r, c2=c2: next(
                f"{c2} {r[c2]} is below {c1} {r[c1]}"
                for c1 in reversed(order[: order.index(c2)])
                if not _missing(r[c1])
            ),
        )
    yield has["q1"] & ~has["q3"], "q3", "IQR needs both q1 and q3"
    yield ~has["q1"] & has["q3"], "q1", "IQR needs both q1 and q3"
    yield has["min"] & ~has["max"], "max", "range needs both min and max"
    yield ~has["min"] & has["max"], "min", "range needs both min and max"
    yield (
        has["n_allocated"] & has["n"] & (num["n"] > num["n_allocated"]),
        "n",
        lambda r: f"n analysed {r['n']:g} exceeds n allocated {r['n_allocated']:g}",
    )
    yield (
        has["n_allocated"] & (arms["n_quote"].str.strip() == ""),
        "n_quote",
        "n_allocated needs the verbatim text that gives it",
    )
    yield from _unit_rules(arms, num, config)
    yield from _limit_rules(arms, num, config)
    drugs = pd.concat([num[c].isna() | (num[c] > 0) for c in ("mi_mg_day", "dci_mg_day", "metformin_mg_day")], axis=1)
    receives_drug = drugs.any(axis=1)
    yield (
        (arms["control_kind"] == "active")
        & ~receives_drug
        & (arms["lifestyle"] == "none")
        & (arms["other_tx"].str.strip() == ""),
        "control_kind",
        "an 'active' comparator must receive something: a drug (a dose column not 0), a lifestyle programme "
        "(a matched control diet: lifestyle diet), or another treatment named in other_tx",
    )
    yield (
        ~receives_drug & (arms["lifestyle"] == "none") & (arms["control_kind"] == ""),
        "control_kind",
        "arm receives no drug and no lifestyle change: say which control (placebo, folic_acid, none, active)",
    )


def _unit_rules(arms: pd.DataFrame, num: dict, config: dict):
    """Units known for the outcome; insulin's unit given or flagged; baseline and end values within the plausible
    range of config validation.bounds (canonical units) unless flagged implausible_value."""
    bounds = config["validation"]["bounds"]
    known = arms["outcome"].isin(list(vocab.UNITS))
    factor = canonical_factor(arms, config)
    yield (
        known & factor.isna(),
        "unit",
        lambda r: (
            f"unknown unit for {r['outcome']}; allowed: " + ", ".join(u or "(blank)" for u in vocab.UNITS[r["outcome"]])
        ),
    )
    yield (
        factor.notna()
        & (arms["unit"] == "")
        & (arms["outcome"] == "fasting_insulin")
        & ~_has_flag(arms, "unit_not_printed"),
        "unit",
        "insulin unit is blank: give the unit, or flag the row unit_not_printed",
    )
    level = factor.notna() & arms["timepoint"].isin(["baseline", "end"]) & ~_has_flag(arms, "implausible_value")
    low = arms["outcome"].map({o: b[0] for o, b in bounds.items()})
    high = arms["outcome"].map({o: b[1] for o, b in bounds.items()})
    for column in ("mean", "median"):
        value = num[column] * factor
        yield (
            level & low.notna() & ((value < low) | (value > high)),
            column,
            lambda r, column=column: (
                f"{r['outcome']} {r[column] * _factor(r, config):g} {vocab.CANONICAL_UNIT[r['outcome']]} is outside "
                f"the plausible range {bounds[r['outcome']]} (config validation.bounds); fix it, or flag the row "
                "implausible_value"
            ),
        )


def _factor(row, config) -> float:
    return factor_to_canonical(row["outcome"], row["unit"] or vocab.CANONICAL_UNIT[row["outcome"]], config)


def _limit_rules(arms: pd.DataFrame, num: dict, config: dict):
    """Bounds of the other numbers (config validation.limits): sample sizes and doses; a change from baseline, and
    any SD or SE, no larger than the width of the outcome's plausible range (validation.bounds)."""
    limits = config["validation"]["limits"]
    for column in ("n", "n_allocated"):
        yield (
            num[column] > limits["n_max"],
            column,
            f"more than {limits['n_max']} participants in one arm (config validation.limits.n_max)",
        )
    for column in ("mi_mg_day", "dci_mg_day", "metformin_mg_day"):
        yield (
            num[column] > limits["dose_mg_day_max"],
            column,
            f"dose above {limits['dose_mg_day_max']} mg/day (config validation.limits.dose_mg_day_max)",
        )
    span = arms["outcome"].map({o: b[1] - b[0] for o, b in config["validation"]["bounds"].items()})
    factor = canonical_factor(arms, config)
    usable = span.notna() & factor.notna() & ~_has_flag(arms, "implausible_value")
    change = usable & (arms["timepoint"] == "change")
    for column in ("mean", "median", "ci_low", "ci_high", "q1", "q3", "min", "max"):
        yield (
            change & (num[column].abs() * factor > span),
            column,
            "a change from baseline larger than the whole plausible range of the outcome "
            "(config validation.bounds): check the value and its unit",
        )
    for column in ("sd", "se"):
        yield (
            usable & (num[column] * factor > span),
            column,
            f"{column.upper()} larger than the whole plausible range of the outcome (config validation.bounds): "
            "check the value, its unit and its label",
        )


def _arm_consistency(arms: pd.DataFrame, path: Path) -> list[Problem]:
    """An arm's doses, lifestyle, control kind and duration must be the same on all its rows."""
    problems = []
    keys = [arms["study_id"], arms["arm"]]
    for column in ARM_ATTRIBUTES:
        shown = arms[column].astype(str)
        varies = shown.groupby(keys, sort=False).transform("nunique") > 1
        for _, group in arms[varies].groupby(["study_id", "arm"], sort=False):
            text = group[column].map(_fmt)
            usual = text.value_counts().index[0]
            study, arm = group.iloc[0][["study_id", "arm"]]
            problems += _flagged(
                group,
                text != usual,
                column,
                f"arm {study}/{arm} has {usual} on its other rows: an arm's attributes must agree across its rows",
                path,
            )
    return problems


def _end_without_baseline(arms: pd.DataFrame, path: Path) -> list[Problem]:
    keys = [arms["study_id"], arms["arm"], arms["outcome"]]
    start = arms["timepoint"].isin(["baseline", "change"]).groupby(keys, sort=False).transform("any")
    end = arms["timepoint"] == "end"
    first_end = end & ~arms[end].duplicated(["study_id", "arm", "outcome"]).reindex(arms.index, fill_value=True)
    return _flagged(
        arms,
        first_end & ~start,
        "timepoint",
        "end row without a baseline or change row for this arm and outcome: the change from baseline "
        "cannot be formed (config validation.require_baseline_with_end)",
        path,
    )


def pooled_problems(pooled: pd.DataFrame, path: Path, config: dict, studies: pd.DataFrame) -> list[Problem]:
    """Rules that tie columns and rows of pooled.csv together, and its numbers' bounds."""
    problems = _duplicates(pooled, POOLED_KEY, path)
    comparisons = config["comparisons"]
    known_studies = set(studies["study_id"]) if not studies.empty else set()
    for _, row in pooled.iterrows():
        if row["comparison"] not in comparisons:
            problems.append(
                _row_problem(
                    path,
                    row,
                    "comparison",
                    f"not a comparison defined in config{suggest(row['comparison'], comparisons)}; "
                    f"known: {', '.join(comparisons)}",
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
        problems += [_row_problem(path, row, col, why) for col, why in _pooled_limits(row, config)]
    return problems


def _row_problem(path, row, column, reason):
    value = row.get(column) if column else None
    return Problem(str(path), int(row[LINE]), column, None if _missing(value) else _fmt(value), reason)


def pooled_scale_limit(measure: str, outcome: str, config: dict) -> tuple[float, str]:
    """The largest absolute value a pooled estimate of `measure` may take, and the config knob that sets it."""
    if measure == "ROM":
        return config["validation"]["limits"]["log_ratio_abs_max"], "validation.limits.log_ratio_abs_max"
    if measure == "SMD":
        return config["validation"]["limits"]["smd_abs_max"], "validation.limits.smd_abs_max"
    low, high = config["validation"]["bounds"][outcome]
    return high - low, f"validation.bounds.{outcome} (its width)"


def _pooled_limits(row, config: dict):
    """Yield (column, reason): estimate and CI within the measure's limit; years and k within config limits; a
    log ratio of means (ROM) that reads like a printed ratio (all positive, symmetric as ratios on the log scale)."""
    limits = config["validation"]["limits"]
    if row["measure"] in vocab.MEASURES and row["outcome"] in vocab.OUTCOMES:
        bound, knob = pooled_scale_limit(row["measure"], row["outcome"], config)
        for column in ("estimate", "ci_low", "ci_high"):
            if not _missing(row[column]) and abs(row[column]) > bound:
                yield column, f"|{column}| above {bound:g} for a {row['measure']} (config {knob}): check scale and sign"
    low, high = limits["years"]
    if not _missing(row["year"]) and not low <= row["year"] <= high:
        yield "year", f"year outside {low}-{high} (config validation.limits.years)"
    if not _missing(row["k_studies"]) and row["k_studies"] > limits["k_studies_max"]:
        yield "k_studies", f"more than {limits['k_studies_max']} studies (config validation.limits.k_studies_max)"
    values = [row[c] for c in ("estimate", "ci_low", "ci_high")]
    if row["measure"] == "ROM" and all(not _missing(v) and v > 0 for v in values):
        est, low_ci, high_ci = values
        log_gap = abs(np.log(est) - (np.log(low_ci) + np.log(high_ci)) / 2)
        if log_gap < abs(est - (low_ci + high_ci) / 2) and log_gap < 0.01 * np.log(high_ci / low_ci):
            yield (
                "estimate",
                f"looks like a printed ratio of means ({est:g} [{low_ci:g}, {high_ci:g}]: its CI is symmetric on the "
                f"log scale): ROM rows hold the natural log of the ratio ({np.log(est):.4g})",
            )


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
