"""A catalogue of malformed inputs: each case breaks a copy of the bundled data in one way.

A case is (id, break_data, expected) where `break_data(data_dir)` edits the copy and returns the line number the
error must name (or None for whole-file problems), and `expected` is (file name, column or None, message text).
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import edit_row, find_row, read_rows, write_rows

VIZZA_INSULIN_BASE = {"study_id": "Vizza2016", "arm": "PRT", "outcome": "fasting_insulin", "timepoint": "baseline"}
VIZZA_INSULIN_END = {**VIZZA_INSULIN_BASE, "timepoint": "end"}


def _arms(data: Path) -> Path:
    return data / "arms.csv"


def _edit_vizza(changes: dict, match=VIZZA_INSULIN_BASE):
    def apply(data: Path):
        return edit_row(_arms(data), find_row(_arms(data), **match), **changes)

    return apply


def _drop_column(name: str, table: str = "arms"):
    def apply(data: Path):
        path = data / f"{table}.csv"
        header, rows = read_rows(path)
        header.remove(name)
        for row in rows:
            del row[name]
        write_rows(path, header, rows)
        return 1

    return apply


def _rename_column(old: str, new: str):
    def apply(data: Path):
        path = _arms(data)
        text = path.read_text(encoding="utf-8").split("\n", 1)
        path.write_text(text[0].replace(old, new, 1) + "\n" + text[1], encoding="utf-8")
        return 1

    return apply


def _duplicate_row(data: Path):
    path = _arms(data)
    header, rows = read_rows(path)
    index = find_row(path, **VIZZA_INSULIN_BASE)
    rows.append(dict(rows[index]))
    write_rows(path, header, rows)
    return len(rows) + 1


def _drop_baseline(data: Path):
    path = _arms(data)
    header, rows = read_rows(path)
    index = find_row(path, **VIZZA_INSULIN_BASE)
    del rows[index]
    write_rows(path, header, rows)
    return find_row(path, **VIZZA_INSULIN_END) + 2


def _empty(data: Path):
    _arms(data).write_bytes(b"")


def _header_only(data: Path):
    path = _arms(data)
    path.write_text(path.read_text(encoding="utf-8").split("\n", 1)[0] + "\n", encoding="utf-8")


def _short_row(data: Path):
    path = _arms(data)
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    lines.append("Vizza2016,PRT,too,few,fields")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def _latin1(data: Path):
    path = _arms(data)
    path.write_bytes(path.read_bytes().replace(b"mU/L", "µU/L".encode("latin-1"), 1))


def _edit_pooled(changes: dict, source_id="Kite2019"):
    def apply(data: Path):
        return edit_row(data / "pooled.csv", find_row(data / "pooled.csv", source_id=source_id), **changes)

    return apply


def _edit_study(changes: dict, study_id: str):
    def apply(data: Path):
        return edit_row(data / "studies.csv", find_row(data / "studies.csv", study_id=study_id), **changes)

    return apply


def _duplicate_study(data: Path):
    path = data / "studies.csv"
    header, rows = read_rows(path)
    rows.append(dict(rows[0]))
    write_rows(path, header, rows)
    return len(rows) + 1


CASES = [
    ("missing column", _drop_column("sd"), ("arms.csv", "sd", "required column is missing")),
    ("unknown column (typo)", _rename_column("quote", "qoute"), ("arms.csv", "qoute", "unknown column")),
    ("SD of zero", _edit_vizza({"sd": "0"}), ("arms.csv", "sd", "SD must be > 0")),
    ("negative SD", _edit_vizza({"sd": "-11"}), ("arms.csv", "sd", "SD must be > 0")),
    ("negative SE", _edit_vizza({"sd": "", "se": "-1"}), ("arms.csv", "se", "SE must be > 0")),
    ("negative n", _edit_vizza({"n": "-7"}), ("arms.csv", "n", "n must be >= 1")),
    ("fractional n", _edit_vizza({"n": "7.5"}), ("arms.csv", "n", "whole number")),
    ("text in a numeric cell", _edit_vizza({"mean": "twenty-one"}), ("arms.csv", "mean", "not a number")),
    ("unknown unit", _edit_vizza({"unit": "ng/mL"}), ("arms.csv", "unit", "unknown unit for fasting_insulin")),
    ("unknown outcome", _edit_vizza({"outcome": "hba1c"}), ("arms.csv", "outcome", "not a known outcome")),
    ("unknown timepoint", _edit_vizza({"timepoint": "week12"}), ("arms.csv", "timepoint", "not a known timepoint")),
    ("duplicate arm row", _duplicate_row, ("arms.csv", "timepoint", "duplicate of line")),
    ("end row without baseline", _drop_baseline, ("arms.csv", "timepoint", "end row without a baseline")),
    (
        "CI low above high",
        _edit_vizza({"sd": "", "ci_low": "30", "ci_high": "12"}),
        ("arms.csv", "ci_low", "is not below upper bound"),
    ),
    (
        "mean outside its CI",
        _edit_vizza({"sd": "", "ci_low": "1", "ci_high": "5"}),
        ("arms.csv", "mean", "outside its CI"),
    ),
    ("one CI bound only", _edit_vizza({"sd": "", "ci_low": "12"}), ("arms.csv", "ci_high", "CI needs both bounds")),
    ("both SD and SE", _edit_vizza({"se": "4"}), ("arms.csv", "se", "both SD and SE given")),
    (
        "quartiles out of order",
        _edit_vizza({"mean": "", "sd": "", "median": "20", "q1": "25", "q3": "30"}),
        ("arms.csv", "median", "is below q1"),
    ),
    (
        "HOMA-IR out of physiological range",
        _edit_vizza({"mean": "45"}, {**VIZZA_INSULIN_BASE, "outcome": "homa_ir"}),
        ("arms.csv", "mean", "outside the plausible range"),
    ),
    (
        "glucose out of physiological range",
        _edit_vizza({"mean": "45"}, {**VIZZA_INSULIN_BASE, "outcome": "fasting_glucose"}),
        ("arms.csv", "mean", "outside the plausible range"),
    ),
    ("no estimate", _edit_vizza({"mean": ""}), ("arms.csv", "mean", "no mean or median")),
    ("blank quote", _edit_vizza({"quote": ""}), ("arms.csv", "quote", "must not be blank")),
    ("source not a URL", _edit_vizza({"source_url": "Table 2"}), ("arms.csv", "source_url", "http(s) URL")),
    ("unknown flag", _edit_vizza({"flags": "looks_odd"}), ("arms.csv", "flags", "unknown flag")),
    (
        "study missing from studies.csv",
        _edit_vizza({"study_id": "Nobody2020"}),
        ("arms.csv", "study_id", "not in studies.csv"),
    ),
    (
        "arm doses disagree across rows",
        _edit_vizza({"metformin_mg_day": "1500", "control_kind": "active"}),
        ("arms.csv", "metformin_mg_day", "must agree across its rows"),
    ),
    ("empty file", _empty, ("arms.csv", None, "file is empty")),
    ("header but no rows", _header_only, ("arms.csv", None, "no data rows")),
    ("row with too few fields", _short_row, ("arms.csv", None, "expected")),
    ("not UTF-8", _latin1, ("arms.csv", None, "not UTF-8")),
    (
        "pooled CI reversed",
        _edit_pooled({"ci_low": "0.5", "ci_high": "-3"}),
        ("pooled.csv", "ci_low", "is not below upper bound"),
    ),
    ("pooled estimate outside CI", _edit_pooled({"estimate": "-9"}), ("pooled.csv", "estimate", "outside its CI")),
    (
        "pooled unknown comparison",
        _edit_pooled({"comparison": "yoga_vs_tea"}),
        ("pooled.csv", "comparison", "not a comparison defined in config"),
    ),
    ("pooled unknown measure", _edit_pooled({"measure": "RR"}), ("pooled.csv", "measure", "not a known measure")),
    ("duplicate study", _duplicate_study, ("studies.csv", "study_id", "duplicate of line")),
    (
        "pooled included trial missing from studies.csv",
        _edit_pooled({"included_study_ids": "Almenning2015;Nobody2020"}),
        ("pooled.csv", "included_study_ids", "'Nobody2020' not in studies.csv"),
    ),
    (
        "pooled included trials without their quote",
        _edit_pooled({"included_study_ids_quote": ""}),
        ("pooled.csv", "included_study_ids_quote", "included_study_ids needs the verbatim text"),
    ),
    (
        "pooled included trials without a source URL",
        _edit_pooled({"included_study_ids_source": "Table 3"}),
        ("pooled.csv", "included_study_ids_source", "needs the URL"),
    ),
    (
        "pooled completeness coded without a quote",
        _edit_pooled({"included_studies_complete": "yes"}, source_id="Unfer2017"),
        ("pooled.csv", "included_study_ids_quote", "included_studies_complete 'yes' needs the verbatim text"),
    ),
    (
        "pooled unknown completeness code",
        _edit_pooled({"included_studies_complete": "partly"}),
        ("pooled.csv", "included_studies_complete", "not a known completeness of the included-trial list"),
    ),
    (
        "pooled search date not YYYY-MM",
        _edit_pooled({"search_date": "June 2017"}),
        ("pooled.csv", "search_date", "YYYY-MM or YYYY-MM-DD"),
    ),
    (
        "pooled search date without its quote",
        _edit_pooled({"search_date_quote": ""}),
        ("pooled.csv", "search_date_quote", "search_date needs the verbatim text"),
    ),
    (
        "background advice 'none stated' instead of a code",
        _edit_study({"background_advice": "none stated"}, "Nehra2017"),
        ("studies.csv", "background_advice", "not a known background advice code"),
    ),
    (
        "background advice left blank",
        _edit_study({"background_advice": ""}, "Nehra2017"),
        ("studies.csv", "background_advice", "not a known background advice code"),
    ),
    (
        "background advice yes without its quote",
        _edit_study({"background_advice_quote": ""}, "Akhtar2021"),
        ("studies.csv", "background_advice_quote", "background_advice 'yes' needs the verbatim text"),
    ),
    (
        "background advice no without its quote",
        _edit_study({"background_advice_quote": ""}, "Faryadian2019"),
        ("studies.csv", "background_advice_quote", "background_advice 'no' needs the verbatim text"),
    ),
]


# Issue 12: hostile and careless input (one or more cases per cause).


def _replace_arms(make):
    """Replace arms.csv by what `make(path)` creates there (a folder, a pipe, ...)."""

    def apply(data: Path):
        path = _arms(data)
        path.unlink()
        make(path)

    return apply


def _append_raw(text: str, table: str = "arms"):
    """Append raw text to a table; return the line it starts on."""

    def apply(data: Path):
        path = data / f"{table}.csv"
        content = path.read_text(encoding="utf-8")
        path.write_text(content + text, encoding="utf-8")
        return content.count("\n") + 1

    return apply


def _rewrite_arms(change):
    def apply(data: Path):
        path = _arms(data)
        path.write_bytes(change(path.read_bytes()))
        return 1

    return apply


def _copy_vizza_row(**changes):
    """Append a copy of Vizza's insulin baseline row with `changes`; return its line."""

    def apply(data: Path):
        path = _arms(data)
        header, rows = read_rows(path)
        rows.append({**rows[find_row(path, **VIZZA_INSULIN_BASE)], **changes})
        write_rows(path, header, rows)
        return len(rows) + 1

    return apply


def _copy_pooled_row(match: dict, **changes):
    def apply(data: Path):
        path = data / "pooled.csv"
        header, rows = read_rows(path)
        rows.append({**rows[find_row(path, **match)], **changes})
        write_rows(path, header, rows)
        return None

    return apply


def _no_line(break_data):
    """The same edit, for a problem the config carries (it has no line)."""

    def apply(data: Path):
        break_data(data)

    return apply


def _nul_byte(data: Path):
    path = _arms(data)
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"Vizza2016", b"Vizza\x002016", 1) if b"Vizza2016" in lines[3] else lines[3] + b"\x00"
    path.write_bytes(b"\n".join(lines))
    return 4


ISSUE_12_CASES = [
    # 1. tracebacks became messages
    (
        "over-long field",
        _copy_vizza_row(quote="x" * 200_000),
        ("arms.csv", None, "a field longer than"),
    ),
    ("folder where a table should be", _replace_arms(lambda p: p.mkdir()), ("arms.csv", None, "is a folder")),
    (
        "pooled row that makes a config entry ambiguous",
        _copy_pooled_row({"source_id": "Fatima2023", "outcome": "homa_ir"}, analysis="change"),
        ("config", "evidence_model.pooled.2", "matches 2 rows"),
    ),
    # 2. non-finite and absurd numbers
    ("infinite mean", _edit_vizza({"mean": "inf"}), ("arms.csv", "mean", "not a finite number")),
    ("Infinity SD", _edit_vizza({"sd": "Infinity"}), ("arms.csv", "sd", "not a finite number")),
    ("overflow to infinity", _edit_vizza({"sd": "1e999"}), ("arms.csv", "sd", "not a finite number")),
    ("NaN as a number", _edit_vizza({"mean": "nan"}), ("arms.csv", "mean", "not a number")),
    (
        "pooled estimate infinite",
        _edit_pooled({"estimate": "-Infinity"}),
        ("pooled.csv", "estimate", "not a finite number"),
    ),
    (
        "absurd change from baseline",
        _edit_vizza({"timepoint": "change", "mean": "-400"}, VIZZA_INSULIN_END),
        ("arms.csv", "mean", "a change from baseline larger than the whole plausible range"),
    ),
    ("absurd sample size", _edit_vizza({"n": "5000000"}), ("arms.csv", "n", "more than 100000 participants")),
    (
        "absurd pooled SMD",
        _edit_pooled({"estimate": "-40", "ci_low": "-50", "ci_high": "-30"}, source_id="Unfer2017"),
        ("pooled.csv", "estimate", "above 10 for a SMD"),
    ),
    ("pooled year 1850", _edit_pooled({"year": "1850"}), ("pooled.csv", "year", "year outside 1950-2100")),
    ("study year 3020", _edit_study({"year": "3020"}, "Nehra2017"), ("studies.csv", "year", "year outside")),
    # 3. invisible duplicates
    (
        "zero-width space in an arm key",
        _edit_vizza({"arm": "PRT\u200b"}),
        ("arms.csv", "arm", "invisible character (U+200B ZERO WIDTH SPACE)"),
    ),
    (
        "look-alike arm key (full-width letters) is a duplicate",
        _copy_vizza_row(arm="\uff30\uff32\uff34"),
        ("arms.csv", "timepoint", "duplicate of line"),
    ),
    (
        "no-break space around a study id is a duplicate",
        _copy_vizza_row(study_id="Vizza2016\u00a0"),
        ("arms.csv", "timepoint", "duplicate of line"),
    ),
    ("NUL byte", _nul_byte, ("arms.csv", None, "NUL byte")),
    ("control character in a quote", _edit_vizza({"quote": "bell \x07 here"}), ("arms.csv", None, "control character")),
    # 4. config and data checked against each other before any job
    (
        "pooled row in use loses its CI",
        _no_line(_edit_pooled({"ci_high": "", "flags": "ci_incomplete"}, source_id="Unfer2017")),
        ("config", "evidence_model.pooled.1", "no complete CI"),
    ),
    (
        "two pooled sources for one comparison and outcome",
        _no_line(_edit_pooled({"comparison": "inositol_vs_control"}, source_id="Fatima2023")),
        ("config", "evidence_model.pooled", "counts trials twice"),
    ),
    (
        "a source's rows in use mix analyses",
        _no_line(_edit_pooled({"analysis": "post"}, source_id="Unfer2017")),
        ("config", "evidence_model.pooled", "mix analyses"),
    ),
    # 5. typos in data vocabularies get a suggestion
    (
        "outcome typed with a hyphen",
        _edit_vizza({"outcome": "fasting-insulin"}),
        ("arms.csv", "outcome", "not a known outcome (did you mean 'fasting_insulin'?)"),
    ),
    # 9. a pipe is refused, never waited on
    ("FIFO in place of a table", _replace_arms(os.mkfifo), ("arms.csv", None, "not a regular file")),
    # 10. unclear layouts get one clear line
    (
        "semicolon-separated file",
        _rewrite_arms(lambda b: b.replace(b",", b";")),
        ("arms.csv", None, "separated by semicolons"),
    ),
    ("tab-separated file", _rewrite_arms(lambda b: b.replace(b",", b"\t")), ("arms.csv", None, "separated by tabs")),
    ("blank first line", _rewrite_arms(lambda b: b"\n" + b), ("arms.csv", None, "line 1 is blank")),
    (
        "unclosed quote",
        _append_raw('Nabi2018,"MI,MI,2000,0,0,none\nNabi2018,MI,MI,2000\n'),
        ("arms.csv", None, "a quote opened on this line is not closed until line"),
    ),
    (
        "stray quote inside a line",
        _append_raw('Nabi2018,"MI,MI",2000,0,0,none\n'),
        ("arms.csv", None, "a stray or unclosed quote on this line?"),
    ),
    # 11. a printed ratio where a log ratio belongs
    (
        "printed ratio in a ROM row",
        _edit_pooled({"measure": "ROM", "estimate": "0.85", "ci_low": "0.70", "ci_high": "1.03"}),
        ("pooled.csv", "estimate", "looks like a printed ratio"),
    ),
]
CASES += ISSUE_12_CASES


def _config_edit(old: str, new: str):
    def apply(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return apply


# Config mistakes: (id, edit of config.yaml's text, (key or None, message text)).
CONFIG_CASES = [
    ("empty config", lambda text: "", (None, "config is empty")),
    ("config not a mapping", lambda text: "- a\n- b\n", (None, "config must be a mapping")),
    ("wrongly typed value", _config_edit("rho: 0.5", "rho: high"), ("harmonise.rho", "is not of type 'number'")),
    (
        "unknown key",
        _config_edit("  rho: 0.5", "  rhoo: 0.5"),
        ("harmonise", "unknown key 'rhoo' (did you mean 'rho'?)"),
    ),
    ("duplicate key", _config_edit("  rho: 0.5", "  rho: 0.5\n  rho: 0.8"), (None, "duplicate key 'rho'")),
    ("YAML alias", _config_edit("data_dir: data", "data_dir: &d data\nx: *d"), (None, "anchors and aliases")),
    (
        "unknown flag in exclude_flags",
        _config_edit("exclude_flags: [implausible_value,", "exclude_flags: [implausible_valu,"),
        ("evidence.exclude_flags", "unknown flag 'implausible_valu' (did you mean 'implausible_value'?)"),
    ),
    (
        "unknown arm class in a comparison",
        _config_edit("comparator: [MET]", "comparator: [Met]"),
        ("comparisons.inositol_vs_metformin.comparator", "unknown arm class 'Met' (did you mean 'MET'?)"),
    ),
    (
        "unknown outcome",
        _config_edit("{source_id: Unfer2017, outcome: homa_ir}", "{source_id: Unfer2017, outcome: homa-ir}"),
        ("evidence_model.pooled.0.outcome", "(did you mean 'homa_ir'?)"),
    ),
    (
        "config entry naming no pooled row",
        _config_edit("{source_id: Unfer2017, outcome: homa_ir}", "{source_id: Unfer2071, outcome: homa_ir}"),
        ("evidence_model.pooled.0", "names no row of"),
    ),
    ("rho of 1", _config_edit("rho: 0.5", "rho: 1"), ("harmonise.rho", "greater than or equal to the maximum of 1")),
    (
        "reversed bounds",
        _config_edit("homa_ir: [0.2, 20.0]", "homa_ir: [20.0, 0.2]"),
        ("validation.bounds.homa_ir", "reversed or empty range"),
    ),
    (
        "infinite prior scale",
        _config_edit("effect_sd: 0.5", "effect_sd: .inf"),
        ("models.network.effect_sd", "not a finite number"),
    ),
]
