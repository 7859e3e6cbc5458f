"""Input safety (issue 12): one error path for the command line, formula-safe CSV writing, vocabularies of the
config schema kept equal to irsynth/vocab.py."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import yaml
from conftest import ROOT, find_row, read_rows, write_rows

from irsynth import vocab
from irsynth.cli import main as cli_main
from irsynth.config import SCHEMA
from irsynth.csvfile import csv_text, neutralise, read_result, restore
from irsynth.provenance import write_table


@pytest.mark.parametrize(
    "cell, written",
    [
        ("=1+2", "'=1+2"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=already quoted", "''=already quoted"),
        ("-1.5", "-1.5"),
        ("+2e-3", "+2e-3"),
        ("plain text", "plain text"),
        ("'quoted but harmless", "'quoted but harmless"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised_and_restored_exactly(cell, written):
    assert neutralise(cell) == written
    assert restore(written) == cell


def test_every_table_written_is_formula_safe_and_numbers_are_untouched(tmp_path):
    frame = pd.DataFrame({"label": ["=cmd()", "@x", "ok", "-3"], "estimate": [-1.25, -0.5, 2.0, 3.0]})
    path = tmp_path / "table.csv"
    write_table(frame, path, {"data_hash": "x"})
    text = path.read_text()
    assert text.splitlines() == ["label,estimate", "'=cmd(),-1.25", "'@x,-0.5", "ok,2", "-3,3"]
    assert text == csv_text(frame)
    pd.testing.assert_frame_equal(read_result(path), frame.astype({"label": object}), check_dtype=False)


def test_config_schema_enumerates_the_vocabulary():
    """Every outcome enum of the schema is vocab.OUTCOMES (or its first two for the evidence model's outcomes and the
    next-trial designs')."""
    schema = yaml.safe_load(SCHEMA.read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "enum" in node and set(node["enum"]) & set(vocab.OUTCOMES):
                found.append(node["enum"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert len(found) == 4 and all(list(enum) == list(vocab.OUTCOMES)[: len(enum)] for enum in found)
    assert set(schema["properties"]["validation"]["properties"]["bounds"]["properties"]) == set(vocab.OUTCOMES)


def test_cli_problems_are_one_message_without_traceback(data_dir, tmp_path, capsys):
    (tmp_path / "empty.yaml").write_text("")
    assert cli_main(["check", str(data_dir), "--config", str(tmp_path / "empty.yaml")]) == 1
    assert "empty.yaml: config is empty" in capsys.readouterr().err
    (tmp_path / "typed.yaml").write_text((ROOT / "config" / "config.yaml").read_text().replace("rho: 0.5", "rho: [1]"))
    assert cli_main(["check", str(data_dir), "--config", str(tmp_path / "typed.yaml")]) == 1
    assert "typed.yaml, key 'harmonise.rho': [1] is not of type 'number'" in capsys.readouterr().err
    assert cli_main(["check", str(data_dir), "--config", str(tmp_path)]) == 1
    assert f"{tmp_path}: is a folder, not a file" in capsys.readouterr().err
    assert cli_main(["check", str(data_dir / "arms.csv")]) == 1  # a file where the data folder should be
    assert "arms.csv/studies.csv: a part of this path is a file, not a folder" in capsys.readouterr().err
    (tmp_path / "latin1.yaml").write_bytes((ROOT / "config" / "config.yaml").read_bytes() + "# µ\n".encode("cp1252"))
    assert cli_main(["check", str(data_dir), "--config", str(tmp_path / "latin1.yaml")]) == 1
    assert "latin1.yaml, line " in capsys.readouterr().err
    (data_dir / "studies.csv").unlink()
    os.mkfifo(data_dir / "studies.csv")
    assert cli_main(["check", str(data_dir)]) == 1
    assert "studies.csv: is not a regular file" in capsys.readouterr().err


def test_cli_other_failures_are_one_line_and_debug_shows_the_traceback(data_dir, tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out"))

    monkeypatch.setattr("irsynth.cli.check_evidence", broken)
    assert cli_main(["check", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "--debug" in err and "Traceback" not in err
    with pytest.raises(OSError):
        cli_main(["check", str(data_dir), "--debug"])
    monkeypatch.setenv("IRSYNTH_DEBUG", "1")
    with pytest.raises(OSError):
        cli_main(["check", str(data_dir)])


def test_cli_warns_of_legal_but_extreme_config(data_dir, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    text = (ROOT / "config" / "config.yaml").read_text().replace("rho: 0.5", "rho: 0.97")
    config.write_text(text.replace("mu_prior: {mean: 0.0, sd: 1.0}", "mu_prior: {mean: 1.0, sd: 1.0}"))
    assert cli_main(["check", str(data_dir), "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert (
        "warning:" in err and "harmonise.rho = 0.97" in err and "mu_prior.mean = 1.0 is on the log ratio scale" in err
    )


def test_a_pooled_row_that_makes_a_config_entry_ambiguous_is_named_with_its_lines(data_dir, capsys):
    path = data_dir / "pooled.csv"
    header, rows = read_rows(path)
    index = find_row(path, source_id="Fatima2023", outcome="homa_ir")
    rows.append({**rows[index], "analysis": "change"})
    write_rows(path, header, rows)
    assert cli_main(["check", str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert f"matches 2 rows of {path} (lines {index + 2}, {len(rows) + 1})" in err and "add `analysis:`" in err
