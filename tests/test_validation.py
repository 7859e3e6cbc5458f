"""Validation: every malformed input gets a message naming file, line, column and reason; good variants pass."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import ROOT
from malformed import CASES, CONFIG_CASES

from irsynth.config import load_config
from irsynth.problems import DataError
from irsynth.validate import check_evidence, load_evidence


def test_bundled_data_are_valid(data_dir, config):
    evidence = load_evidence(data_dir, config)
    assert len(evidence.arms) > 0 and len(evidence.pooled) > 0 and len(evidence.studies) > 0


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_reported(case, data_dir, config):
    _, break_data, (file, column, text) = case
    line = break_data(data_dir)
    with pytest.raises(DataError) as err:
        check_evidence(data_dir, config)
    matches = [
        p
        for p in err.value.problems
        if p.file.endswith(file) and p.column == column and text in p.reason and (line is None or p.line == line)
    ]
    assert matches, f"no problem ({file}, line {line}, {column}, {text!r}) in:\n{err.value}"
    assert f"{file}" in str(err.value) and text in str(err.value)


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_mistakes_are_reported_with_their_key(case, tmp_path):
    _, edit, (key, text) = case
    path = tmp_path / "config.yaml"
    path.write_text(edit((ROOT / "config" / "config.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_config(path) if key != "evidence_model.pooled.0" else check_evidence(ROOT / "data", load_config(path))
    matches = [p for p in err.value.problems if (key is None or p.column == key) and text in p.reason]
    assert matches, f"no problem ({key}, {text!r}) in:\n{err.value}"
    assert all(p.file == str(path) or p.file == "config" for p in err.value.problems)


def test_all_problems_in_a_file_are_reported_at_once(data_dir, config):
    from conftest import edit_row

    path = data_dir / "arms.csv"
    edit_row(path, 0, mean="abc")
    edit_row(path, 1, outcome="hba1c")
    edit_row(path, 2, se="-1")
    with pytest.raises(DataError) as err:
        load_evidence(data_dir, config)
    assert {(p.line, p.column) for p in err.value.problems} >= {(2, "mean"), (3, "outcome"), (4, "se")}
    assert str(err.value).startswith(f"{len(err.value.problems)} problems")


def _tables(evidence):
    return [getattr(evidence, name).drop(columns="_line") for name in ("arms", "pooled", "studies")]


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="UTF-8 byte-order mark"),
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="CRLF line endings"),
        pytest.param(lambda b: b + b"\n\n" + b"," * 31 + b"\n\n", id="trailing blank rows"),
    ],
)
def test_harmless_variants_read_as_the_clean_file(variant, data_dir, config):
    clean = _tables(load_evidence(data_dir, config))
    for name in ("arms.csv", "pooled.csv", "studies.csv"):
        path = data_dir / name
        path.write_bytes(variant(path.read_bytes()))
    for got, want in zip(_tables(load_evidence(data_dir, config)), clean):
        pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize(
    "table, match, changes",
    [
        pytest.param(
            "studies",
            {"study_id": "Akhtar2021"},
            {"background_advice": "unclear", "background_advice_quote": ""},
            id="background advice unclear needs no quote",
        ),
        pytest.param(
            "studies",
            {"study_id": "Nehra2017"},
            {"background_advice": "no", "background_advice_quote": "lifestyle left unchanged (test text)"},
            id="background advice no with its quote",
        ),
        pytest.param(
            "studies",
            {"study_id": "Nehra2017"},
            {"background_advice": "yes", "background_advice_quote": "all arms advised (test text)"},
            id="background advice yes with its quote",
        ),
        pytest.param(
            "pooled",
            {"source_id": "Kite2019"},
            {
                "included_study_ids": "",
                "included_study_ids_quote": "",
                "included_study_ids_source": "",
                "included_studies_complete": "",
            },
            id="included trials unknown: all blank",
        ),
        pytest.param(
            "pooled",
            {"source_id": "Unfer2017"},
            {
                "included_study_ids": "",
                "included_studies_complete": "yes",
                "included_study_ids_quote": "Trials A and B were included (test text)",
                "included_study_ids_source": "https://example.org/review (Table 1)",
            },
            id="complete list of trials none of which is in studies.csv",
        ),
        pytest.param(
            "pooled",
            {"source_id": "Unfer2017"},
            {
                "included_study_ids": "Genazzani2008; Costantino2009",
                "included_studies_complete": "no",
                "included_study_ids_quote": "Genazzani 2008 ... Costantino 2009 (test text)",
                "included_study_ids_source": "https://example.org/review (Table 1)",
            },
            id="partial list of trials in studies.csv",
        ),
        pytest.param("pooled", {"source_id": "Kite2019"}, {"search_date": "2017-06-30"}, id="search date YYYY-MM-DD"),
        pytest.param(
            "pooled",
            {"source_id": "Unfer2017"},
            {"search_date": "", "search_date_quote": ""},
            id="search date blank without quote",
        ),
    ],
)
def test_new_provenance_columns_accept_valid_values(table, match, changes, data_dir, config):
    from conftest import edit_row, find_row

    path = data_dir / f"{table}.csv"
    edit_row(path, find_row(path, **match), **changes)
    evidence = load_evidence(data_dir, config)
    frame = getattr(evidence, table)
    row = frame[(frame[list(match)] == pd.Series(match)).all(axis=1)].iloc[0]
    for column, value in changes.items():
        assert row[column] == value


def test_bundled_codes_and_lists_are_quoted():
    """Every yes/no background code and every non-blank included-trial list in data/ has its quote."""
    from conftest import ROOT, read_rows

    _, studies = read_rows(ROOT / "data" / "studies.csv")
    assert {r["background_advice"] for r in studies} <= {"yes", "no", "unclear"}
    assert all(r["background_advice_quote"] for r in studies if r["background_advice"] in ("yes", "no"))
    _, pooled = read_rows(ROOT / "data" / "pooled.csv")
    known = {r["study_id"] for r in studies}
    for row in pooled:
        listed = [s.strip() for s in row["included_study_ids"].split(";") if s.strip()]
        assert set(listed) <= known
        if listed:
            assert row["included_study_ids_quote"] and row["included_study_ids_source"].startswith("http")
