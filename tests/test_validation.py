"""Validation: every malformed input gets a message naming file, line, column and reason; good variants pass."""

from __future__ import annotations

import pandas as pd
import pytest
from malformed import CASES

from irsynth.problems import DataError
from irsynth.validate import load_evidence


def test_bundled_data_are_valid(data_dir, config):
    evidence = load_evidence(data_dir, config)
    assert len(evidence.arms) > 0 and len(evidence.pooled) > 0 and len(evidence.studies) > 0


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_reported(case, data_dir, config):
    _, break_data, (file, column, text) = case
    line = break_data(data_dir)
    with pytest.raises(DataError) as err:
        load_evidence(data_dir, config)
    matches = [
        p
        for p in err.value.problems
        if p.file.endswith(file) and p.column == column and text in p.reason and (line is None or p.line == line)
    ]
    assert matches, f"no problem ({file}, line {line}, {column}, {text!r}) in:\n{err.value}"
    assert f"{file}" in str(err.value) and text in str(err.value)


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
