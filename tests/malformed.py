"""A catalogue of malformed inputs: each case breaks a copy of the bundled data in one way.

A case is (id, break_data, expected) where `break_data(data_dir)` edits the copy and returns the line number the
error must name (or None for whole-file problems), and `expected` is (file name, column or None, message text).
"""

from __future__ import annotations

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
