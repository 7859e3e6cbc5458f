"""Stored stage results: re-used only under the same key, with the files they came with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from irsynth import stage_store


@dataclass
class Data:
    y: np.ndarray
    labels: list[str]


def key(y=(0.1, 0.2), labels=("a", "b"), **config):
    return stage_store.stage_key(data=Data(np.array(y), list(labels)), config=config or {"sd": 0.5})


def test_the_key_follows_every_value_that_informs_the_fits():
    assert key() == key()
    assert len({key(), key(y=(0.1, 0.2000001)), key(labels=("a", "c")), key(sd=0.6)}) == 4
    assert key(y=np.array([1, 2])) != key(y=np.array([1.0, 2.0]))  # dtype counts


def test_the_key_follows_the_code(monkeypatch):
    before = key()
    monkeypatch.setattr(stage_store, "code_hash", lambda: "edited")
    assert key() != before


@pytest.fixture
def stored(tmp_path):
    store, made = tmp_path / "store", tmp_path / "posterior.nc"
    made.write_bytes(b"draws")
    values = {"tables": {"t": pd.DataFrame({"x": [1.5, 2.5]})}, "log": "fitted"}
    stage_store.save(store, "k1", values, {"posterior.nc": made})
    return store, values


def test_stored_values_and_files_come_back_under_their_key(stored, tmp_path):
    store, values = stored
    out = tmp_path / "out" / "posterior.nc"
    loaded = stage_store.load(store, "k1", {"posterior.nc": out})
    assert loaded["log"] == "fitted" and loaded["tables"]["t"].equals(values["tables"]["t"])
    assert out.read_bytes() == b"draws"


@pytest.mark.parametrize("change", ["other key", "other files", "no store", "damaged record", "file missing"])
def test_nothing_is_reused_or_written_otherwise(stored, tmp_path, change):
    store, _ = stored
    key, files = "k1", {"posterior.nc": tmp_path / "out.nc"}
    if change == "other key":
        key = "k2"
    elif change == "other files":
        files = {"other.nc": tmp_path / "out.nc"}
    elif change == "no store":
        store = None
    elif change == "damaged record":
        (store / "stage.pkl").write_bytes(b"not a pickle")
    else:
        (store / "stage_files" / "posterior.nc").unlink()
    assert stage_store.load(store, key, files) is None
    assert not (tmp_path / "out.nc").exists()


def test_a_save_killed_midway_leaves_nothing_to_reuse(stored, tmp_path, monkeypatch):
    store, _ = stored
    source = tmp_path / "new.nc"
    source.write_bytes(b"new draws")

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(stage_store.shutil, "copyfile", killed)
    with pytest.raises(KeyboardInterrupt):
        stage_store.save(store, "k2", {}, {"posterior.nc": source})
    monkeypatch.undo()
    assert stage_store.load(store, "k1", {"posterior.nc": tmp_path / "out.nc"}) is None


def test_reused_or_made_makes_once_per_key_and_says_so(tmp_path, capsys):
    store, posterior, made = tmp_path / "store", tmp_path / "posterior.nc", []

    def make() -> dict:
        made.append(1)
        posterior.write_bytes(b"draws %d" % len(made))
        return {"table": len(made)}

    files = {"posterior.nc": posterior}
    assert stage_store.reused_or_made(store, "k1", "a stage", make, files) == {"table": 1}
    assert "re-used" not in capsys.readouterr().out
    posterior.write_bytes(b"overwritten")
    assert stage_store.reused_or_made(store, "k1", "a stage", make, files) == {"table": 1} and len(made) == 1
    assert posterior.read_bytes() == b"draws 1"  # the stored file copied back
    assert "a stage: nothing that informs it changed; stored results re-used (key k1)" in capsys.readouterr().out
    assert stage_store.reused_or_made(store, "k2", "a stage", make, files) == {"table": 2}
    assert stage_store.reused_or_made(None, "k2", "a stage", make, files) == {"table": 3}  # no store: made each time
