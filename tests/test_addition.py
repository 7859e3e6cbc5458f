"""`irsynth add`: a template's rows are validated with the data, duplicates and overlap are refused, and a
successful addition is the same as appending the rows by hand."""

from __future__ import annotations

import os
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


# Issue 12: templates read strictly, problems at the template's own lines, notes only where they apply.


def _refused(path: Path, data_dir: Path, config, text: str) -> str:
    before = snapshot(data_dir)
    with pytest.raises(DataError) as err:
        add_evidence(path, data_dir, config)
    assert text in str(err.value), str(err.value)
    assert snapshot(data_dir) == before
    return str(err.value)


def test_yaml_aliases_and_merge_keys_are_refused_before_expanding(data_dir, config, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb.write_text("\n".join(levels) + "\narms: *a8\n")
    message = _refused(bomb, data_dir, config, "anchors and aliases (& and *) are not allowed")
    assert f"{bomb}, line 1" in message
    merge = tmp_path / "merge.yaml"
    merge.write_text("arms:\n  - {<<: {study_id: X}, arm: A}\n")
    _refused(merge, data_dir, config, "merge keys (<<) are not allowed")


def test_a_duplicate_key_is_refused_at_its_line(data_dir, config, tmp_path):
    text = TRIAL.read_text().replace("n: 40, mean: 2.9,", "n: 40, mean: 2.9, mean: 29,", 1)
    (tmp_path / "dup.yaml").write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), start=1) if "mean: 29" in t)
    message = _refused(tmp_path / "dup.yaml", data_dir, config, "duplicate key 'mean'")
    assert f"dup.yaml, line {line}" in message


def test_null_is_blank_not_the_text_null(data_dir, config, tmp_path):
    path = tmp_path / "null.yaml"
    path.write_text(TRIAL.read_text().replace('quote: "MI week 24 HOMA-IR 2.9 ± 1.3 (n = 40)"', "quote: null"))
    _refused(path, data_dir, config, "(arms row 2), column 'quote'")
    _refused(path, data_dir, config, "must not be blank")
    path.write_text(TRIAL.read_text().replace('quote: "MI week 24 HOMA-IR 2.9 ± 1.3 (n = 40)"', 'quote: "null"'))
    assert add_evidence(path, data_dir, config, dry_run=True)  # quoted, it is the text null


@pytest.mark.parametrize(
    "content",
    ["arms: []\n", "studies:\narms:\n", (ROOT / "data" / "templates" / "trial.yaml").read_text()],
    ids=["empty list", "empty tables", "unfilled blank template"],
)
def test_an_empty_addition_is_refused(content, data_dir, config, tmp_path):
    shutil.copy(ROOT / "data" / "CHANGES.md", data_dir)
    path = tmp_path / "empty.yaml"
    path.write_text(content)
    _refused(path, data_dir, config, "the template adds no rows")


@pytest.mark.parametrize("suffix", [".json", ".xlsx", ".txt", ""])
def test_unsupported_template_types_are_refused_by_extension(suffix, data_dir, config, tmp_path):
    path = tmp_path / f"trial{suffix}"
    path.write_text('{"arms": [{"study_id": "X"}]}')
    _refused(path, data_dir, config, "unsupported template type")


def test_a_template_that_is_a_folder_a_pipe_or_latin1_is_one_message(data_dir, config, tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    _refused(tmp_path / "folder.yaml", data_dir, config, "is a folder, not a file")
    os.mkfifo(tmp_path / "pipe.yaml")
    _refused(tmp_path / "pipe.yaml", data_dir, config, "not a regular file")
    (tmp_path / "latin1.yaml").write_bytes(
        TRIAL.read_text().replace("±", "+/-").encode("utf-8") + "# µ\n".encode("latin-1")
    )
    _refused(tmp_path / "latin1.yaml", data_dir, config, f"line {TRIAL.read_text().count(chr(10)) + 1}: not UTF-8")
    _refused(tmp_path / "missing.yaml", data_dir, config, "file not found")


def test_row_numbers_match_the_template_when_a_quote_spans_lines(data_dir, config, tmp_path):
    content = yaml.load(TRIAL.read_text(), Loader=yaml.BaseLoader)
    rows = content["arms"]
    rows[0]["quote"] = "MI baseline HOMA-IR 3.9 ± 1.6\n(n = 40), printed over two lines"
    rows[2]["sd"] = "-1"
    path = tmp_path / "arms.csv"
    write_rows(path, list(rows[0]) + ["control_kind"], rows)
    message = _refused(path, data_dir, config, "SD must be > 0")
    assert f"{path}, line 5 (arms row 3), column 'sd'" in message  # header 1, row 1 on lines 2-3
    rows[2]["sd"] = "1.5"
    write_rows(path, list(rows[0]) + ["control_kind"], rows)
    studies = tmp_path / "studies.yaml"
    studies.write_text(yaml.safe_dump({"studies": content["studies"]}))
    add_evidence(studies, data_dir, config)
    done = add_evidence(path, data_dir, config)
    assert done[0] == f"{data_dir}/arms.csv: lines 47-51 added from {path}"  # four rows on five lines
    _, added = read_rows(data_dir / "arms.csv")
    assert added[-4]["quote"] == rows[0]["quote"] and len(added) == 49


def test_formula_cells_are_written_neutralised_and_read_back_unchanged(data_dir, config, tmp_path):
    formula = '=HYPERLINK("http://example.org","x") and -2+3'
    path = template(tmp_path, _set_arm(0, notes=formula, arm_label="@label"))
    add_evidence(path, data_dir, config)
    _, rows = read_rows(data_dir / "arms.csv")
    assert rows[-4]["notes"] == "'" + formula and rows[-4]["arm_label"] == "'@label"
    arms = load_evidence(data_dir, config).arms
    assert arms.iloc[-4]["notes"] == formula and arms.iloc[-4]["arm_label"] == "@label"
    assert rows[-4]["mean"] == "3.9"


def _diet_trial(content, control_kind="active", other_tx="matched control diet (test)"):
    for row in content["arms"]:
        row.update(mi_mg_day="0", lifestyle="diet")
        if row["arm"] == "placebo":
            row.update(arm="control_diet", control_kind=control_kind, other_tx=other_tx)
    content["studies"][0]["year"] = "2010"


@pytest.mark.parametrize("other_tx", ["matched control diet (test)", ""])
def test_a_matched_control_diet_is_an_active_comparator(other_tx, data_dir, config, tmp_path):
    path = template(tmp_path, lambda content: _diet_trial(content, other_tx=other_tx))
    done = add_evidence(path, data_dir, config)
    assert not [line for line in done if line.startswith(("check:", "note:"))], done
    arms = load_evidence(data_dir, config).arms
    assert set(arms.loc[arms["study_id"] == "Synthetic2026", "control_kind"]) == {"", "active"}


def test_an_active_comparator_without_any_treatment_is_refused(data_dir, config, tmp_path):
    def nothing(content):
        _diet_trial(content, other_tx="")
        for row in content["arms"]:
            if row["arm"] == "control_diet":
                row["lifestyle"] = "none"

    _refused(template(tmp_path, nothing), data_dir, config, "an 'active' comparator must receive")


def test_the_overlap_note_needs_the_comparison_and_outcome_of_the_source(data_dir, config, tmp_path):
    """An older diet-vs-control trial is no candidate for the inositol sources in use; an older inositol-vs-placebo
    trial is, but only for the outcome its arms report."""

    def diet_vs_control(content):
        content["studies"][0]["year"] = "2010"
        for row in content["arms"]:
            row.update(mi_mg_day="0", lifestyle="diet" if row["arm"] == "MI" else "none")

    done = add_evidence(template(tmp_path, diet_vs_control), data_dir, config, dry_run=True)
    assert not [line for line in done if line.startswith(("check:", "note:"))], done
    done = add_evidence(template(tmp_path, lambda c: c["studies"][0].update(year="2010")), data_dir, config)
    notes = [line for line in done if line.startswith("check:")]
    assert len(notes) == 1 and "inositol_vs_control, homa_ir" in notes[0], done


def test_a_pooled_row_that_makes_a_config_entry_ambiguous_is_refused(data_dir, config, tmp_path):
    header, rows = read_rows(data_dir / "pooled.csv")
    row = dict(rows[find_row(data_dir / "pooled.csv", source_id="Fatima2023", outcome="homa_ir")])
    path = tmp_path / "pooled.yaml"
    path.write_text(yaml.safe_dump({"pooled": [{**row, "analysis": "change"}]}))
    message = _refused(path, data_dir, config, "evidence_model.pooled.2")
    assert f"matches 2 rows of {data_dir}/pooled.csv" in message and "add `analysis:`" in message
