"""`irsynth add`: a template's rows are validated with the data, duplicates and overlap are refused, and a
successful addition is the same as appending the rows by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, edit_row, find_row, read_rows, write_rows

from irsynth.addition import add_evidence
from irsynth.cli import main as cli_main
from irsynth.problems import DataError
from irsynth.validate import load_evidence

TRIAL = ROOT / "tests" / "fixtures" / "synthetic_trial.yaml"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def template(tmp_path: Path, edit=None, name="trial.yaml") -> Path:
    content = yaml.load(TRIAL.read_text(), Loader=yaml.BaseLoader)
    if edit:
        edit(content)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def test_adding_a_trial_equals_appending_its_rows_by_hand(data_dir, config, tmp_path):
    shutil.copy(ROOT / "data" / "CHANGES.md", data_dir)
    by_hand = tmp_path / "by_hand"
    shutil.copytree(data_dir, by_hand)
    content = yaml.load(TRIAL.read_text(), Loader=yaml.BaseLoader)
    for table in ("studies", "arms"):
        header, rows = read_rows(by_hand / f"{table}.csv")
        write_rows(
            by_hand / f"{table}.csv", header, rows + [{c: row.get(c, "") for c in header} for row in content[table]]
        )

    done = add_evidence(TRIAL, data_dir, config)
    assert done[:2] == [
        f"{data_dir}/studies.csv: line 57 added from {TRIAL}",
        f"{data_dir}/arms.csv: lines 47-50 added from {TRIAL}",
    ]
    for table in ("studies", "arms", "pooled"):
        assert (data_dir / f"{table}.csv").read_bytes() == (by_hand / f"{table}.csv").read_bytes(), table
    arms = load_evidence(data_dir, config).arms
    assert sorted(arms.loc[arms["study_id"] == "Synthetic2026", "arm"]) == ["MI", "MI", "placebo", "placebo"]
    assert (
        "`irsynth add synthetic_trial.yaml`: studies.csv: line 57 added; arms.csv: lines 47-50 added"
        in (data_dir / "CHANGES.md").read_text()
    )


def test_a_csv_template_adds_the_same_rows(data_dir, config, tmp_path):
    content = yaml.load(TRIAL.read_text(), Loader=yaml.BaseLoader)
    csv_template = tmp_path / "studies.csv"
    write_rows(csv_template, list(content["studies"][0]), content["studies"])
    add_evidence(csv_template, data_dir, config)
    assert load_evidence(data_dir, config).studies["study_id"].iloc[-1] == "Synthetic2026"


def test_dry_run_changes_nothing(data_dir, config):
    before = snapshot(data_dir)
    assert len(add_evidence(TRIAL, data_dir, config, dry_run=True)) == 2
    assert snapshot(data_dir) == before


def _set_arm(row: int, **cells):
    return lambda content: content["arms"][row].update(cells)


@pytest.mark.parametrize(
    "edit, where, reason",
    [
        (_set_arm(1, sd="-1.3"), "(arms row 2), column 'sd'", "SD must be > 0"),
        (_set_arm(0, mean="3,9"), "(arms row 1), column 'mean'", "not a number"),
        (_set_arm(2, unit="mU/dL"), "(arms row 3), column 'unit'", "unit"),
        (_set_arm(3, dose_mg="4"), "(arms row 4), column 'dose_mg'", "not a column of arms.csv"),
        (lambda c: c["arms"][0].pop("study_id"), "(arms row 1)", "study_id"),
    ],
)
def test_bad_rows_are_refused_with_the_template_row_and_column(data_dir, config, tmp_path, edit, where, reason):
    before = snapshot(data_dir)
    with pytest.raises(DataError) as err:
        add_evidence(template(tmp_path, edit), data_dir, config)
    message = str(err.value)
    assert where in message and reason in message, message
    assert snapshot(data_dir) == before


def test_malformed_yaml_is_refused(data_dir, config, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("arms: [unclosed\n")
    with pytest.raises(DataError, match="not valid YAML"):
        add_evidence(bad, data_dir, config)
    bad.write_text("trials: []\n")
    with pytest.raises(DataError, match="keys among studies, arms, pooled"):
        add_evidence(bad, data_dir, config)


def test_adding_the_same_trial_twice_is_refused(data_dir, config):
    add_evidence(TRIAL, data_dir, config)
    before = snapshot(data_dir)
    with pytest.raises(DataError, match=r"\(studies row 1\), column 'study_id'.*duplicate of line 57 of .*studies.csv"):
        add_evidence(TRIAL, data_dir, config)
    assert snapshot(data_dir) == before


def test_a_trial_listed_inside_a_pooled_source_in_use_is_said_to_count_only_there(data_dir, config):
    for outcome in ("homa_ir", "fasting_insulin"):
        edit_row(
            data_dir / "pooled.csv",
            find_row(data_dir / "pooled.csv", source_id="Unfer2017", outcome=outcome),
            included_study_ids="Synthetic2026",
            included_study_ids_quote="Synthetic 2026 (test)",
            included_study_ids_source="https://example.org/test",
        )
    done = add_evidence(TRIAL, data_dir, config)
    assert any(
        "Synthetic2026 is listed among the trials of Unfer2017" in line and "counts it only inside" in line
        for line in done
    ), done


def test_a_pooled_estimate_is_stored_and_its_use_left_to_the_config(data_dir, config, tmp_path):
    header, rows = read_rows(data_dir / "pooled.csv")
    row = dict(rows[find_row(data_dir / "pooled.csv", source_id="Fatima2023", outcome="homa_ir")])
    row.update(source_id="NewReview2026", year="2026")
    path = tmp_path / "pooled.yaml"
    path.write_text(yaml.safe_dump({"pooled": [row]}))
    done = add_evidence(path, data_dir, config)
    assert done[-1].startswith(
        "NewReview2026 (homa_ir) is stored but not used until config evidence_model.pooled names it"
    )
    assert load_evidence(data_dir, config).pooled["source_id"].iloc[-1] == "NewReview2026"


def test_an_older_trial_is_flagged_as_possibly_inside_a_pooled_source(data_dir, config, tmp_path):
    done = add_evidence(template(tmp_path, lambda c: c["studies"][0].update(year="2015")), data_dir, config)
    assert any("Synthetic2026 (2015) may be among the unlisted trials of Unfer2017" in line for line in done), done


def test_cli_add_exits_1_and_says_nothing_changed(data_dir, tmp_path, capsys):
    bad = template(tmp_path, _set_arm(1, sd="-1.3"))
    assert cli_main(["add", str(bad), "--data", str(data_dir)]) == 1
    assert "Nothing was changed." in capsys.readouterr().err
    assert cli_main(["add", str(TRIAL), "--data", str(data_dir)]) == 0
    assert "lines 47-50 added" in capsys.readouterr().out
