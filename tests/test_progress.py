"""The progress store: attempts recorded and restored, status, reset, and files it must refuse."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tutor.progress import FILE_NAME, SCHEMA_VERSION, ProgressError, ProgressStore, default_path

WRONG_DW = {"loss": {"verdict": "correct"}, "dw": {"verdict": "incorrect", "diagnosis": "sign_flipped", "message": "sign"}}
RIGHT = {"loss": {"verdict": "correct"}, "dw": {"verdict": "correct"}}


def test_tutor_home_overrides_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / FILE_NAME
    monkeypatch.delenv("TUTOR_HOME")
    assert default_path().name == FILE_NAME and "home" not in default_path().parts[-2:]


def test_attempts_are_recorded_and_survive_reopening(tmp_path):
    path = tmp_path / "p.sqlite3"
    with ProgressStore.open(path) as store:
        a = store.record_attempt("lin", {"loss": "np.mean(e)", "dw": "2 * g"}, WRONG_DW, elapsed=0.4)
        assert (a.passed, a.correct, a.total) == (False, 1, 2)
    with ProgressStore.open(path) as store:
        (got,) = store.attempts("lin")
        assert got.answers == {"loss": "np.mean(e)", "dw": "2 * g"}
        assert got.verdicts["dw"] == {"verdict": "incorrect", "diagnosis": "sign_flipped", "message": "sign"}
        assert got.elapsed == pytest.approx(0.4)
        assert store.lesson_state("lin").answers == {"loss": "np.mean(e)", "dw": "2 * g"}
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_status_new_started_done_and_done_stays(tmp_path):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    assert store.progress("lin", 2).status == "new"
    store.save_answers("lin", {"loss": "x"})
    assert store.progress("lin", 2).status == "started"
    store.record_attempt("lin", {"loss": "x", "dw": "y"}, WRONG_DW)
    p = store.progress("lin", 2)
    assert (p.status, p.correct, p.total, p.attempts) == ("started", 1, 2, 1)
    store.record_attempt("lin", {"loss": "x", "dw": "z"}, RIGHT)
    assert store.progress("lin", 2).status == "done"
    store.record_attempt("lin", {"loss": "x", "dw": "y"}, WRONG_DW)
    p = store.progress("lin", 2)
    assert (p.status, p.correct) == ("done", 1)


def test_reset_clears_answers_and_status_but_keeps_history(tmp_path):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    store.record_attempt("lin", {"loss": "x", "dw": "z"}, RIGHT, state={"hints": {"dw": 1}})
    store.record_attempt("other", {"a": "1"}, {"a": {"verdict": "correct"}})
    store.reset("lin")
    assert store.progress("lin", 2).status == "new"
    assert store.lesson_state("lin").answers == {} and store.lesson_state("lin").state == {}
    assert store.attempts("lin") == []
    assert len(store.attempts("lin", since_reset=False)) == 1
    assert store.progress("other", 1).status == "done"
    store.record_attempt("lin", {"loss": "x", "dw": "y"}, WRONG_DW)
    assert store.progress("lin", 2).status == "started"


def test_state_and_last_lesson_are_restored(tmp_path):
    path = tmp_path / "p.sqlite3"
    with ProgressStore.open(path) as store:
        store.save_answers("lin", {"dw": "d"}, state={"focus": "dw", "hints": {"dw": 2}})
        store.mark_opened("lin")
    with ProgressStore.open(path) as store:
        assert store.last_lesson() == "lin"
        assert store.lesson_state("lin").state == {"focus": "dw", "hints": {"dw": 2}}


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_bytes(b"my notes, not a database\n" * 10)
    with pytest.raises(ProgressError) as err:
        ProgressStore.open(path)
    assert str(path) in str(err.value) and "untouched" in str(err.value) and "move it aside" in str(err.value)
    assert path.read_bytes() == b"my notes, not a database\n" * 10
    assert not Path(str(path) + "-wal").exists()


def test_a_damaged_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / FILE_NAME
    with ProgressStore.open(path) as store:
        for i in range(200):
            store.record_attempt("lin", {"loss": "x" * 200}, WRONG_DW)
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = bytearray(path.read_bytes())
    data[4096 + 8: 4096 + 600] = b"\xff" * (600 - 8)  # scribble over the second page
    path.write_bytes(bytes(data))
    with pytest.raises(ProgressError) as err:
        ProgressStore.open(path)
    assert "cannot be used" in str(err.value)
    assert path.read_bytes() == bytes(data)


def test_a_newer_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / FILE_NAME
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE attempts (id INTEGER PRIMARY KEY, future TEXT)")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(ProgressError) as err:
        ProgressStore.open(path)
    assert "newer version" in str(err.value)
    assert path.read_bytes() == before


def test_another_programs_database_is_refused(tmp_path):
    path = tmp_path / FILE_NAME
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE recipes (name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(ProgressError, match="some other SQLite database"):
        ProgressStore.open(path)


def test_two_processes_may_share_the_file(tmp_path):
    path = tmp_path / FILE_NAME
    one, two = ProgressStore.open(path), ProgressStore.open(path)
    one.record_attempt("lin", {"dw": "a"}, WRONG_DW)
    two.record_attempt("lin", {"dw": "b"}, RIGHT)
    assert [a.answers["dw"] for a in one.attempts("lin")] == ["a", "b"]
