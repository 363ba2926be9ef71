"""Hints without the app (`tutor hint`, the hints under `tutor grade`) and the statuses in `tutor list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.progress import ProgressStore

GOOD = {
    "loss": "np.mean((y - (w * X + b)) ** 2)",
    "dw": "-2 * np.mean((y - (w * X + b)) * X)",
    "db": "-2 * np.mean(y - (w * X + b))",
    "w": "w - learning_rate * dw",
    "b": "b - learning_rate * db",
    "y_pred": "w * X + b",
}
SIGN_HINT = "Check the minus sign in front of the 2: the derivative of (y - w x)^2 with respect to w brings down a -x."
DW_HINTS = [
    "Translate dL/dw from the formula above: -2 times the mean of (error times X).",
    "The error is y - (w * X + b); multiply it by X point by point before taking np.mean.",
]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TUTOR_HOME", str(home))
    return home


def answers_file(tmp_path: Path, **changed: str) -> Path:
    path = tmp_path / "answers.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in {**GOOD, **changed}.items()), encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def verdicts(lesson_blanks: list[str], right: int) -> dict[str, dict[str, str]]:
    return {n: {"verdict": "correct" if i < right else "incorrect", "diagnosis": None if i < right else "wrong_value",
                "message": ""} for i, n in enumerate(lesson_blanks)}


def test_hint_without_answers_is_the_first_then_the_next_the_app_would_give(home, capsys):
    code, out, err = run(capsys, "hint", "linreg-numpy", "dw")
    assert code == 0, err
    assert out == f"hint 1 of 2 for `dw`: {DW_HINTS[0]}\n"
    assert not (home / "progress.sqlite3").exists()  # a look creates no progress file
    with ProgressStore.open() as store:  # the app has shown one hint of dw
        store.record_attempt("linreg-numpy", {"dw": "0"}, verdicts(["dw"], 0), state={"hints": {"dw": 1}})
    code, out, _ = run(capsys, "hint", "linreg-numpy", "dw")
    assert code == 0 and out == f"hint 2 of 2 for `dw`: {DW_HINTS[1]}\n"
    with ProgressStore.open() as store:
        store.record_attempt("linreg-numpy", {"dw": "0"}, verdicts(["dw"], 0), state={"hints": {"dw": 2}})
    code, out, _ = run(capsys, "hint", "linreg-numpy", "dw")
    assert code == 0 and out.startswith("No more hints for `dw`")


def test_last_hint_that_shows_the_answer_says_so(home, capsys):
    with ProgressStore.open() as store:
        store.record_attempt("linreg-torch", {}, {}, state={"hints": {"criterion": 1}})
    code, out, _ = run(capsys, "hint", "linreg-torch", "criterion")
    assert code == 0
    assert out.startswith("hint 2 of 2 for `criterion`: ") and out.rstrip().endswith("(this last hint shows the answer)")


def test_hint_by_diagnosis_and_right_answer(home, tmp_path, capsys):
    flipped = answers_file(tmp_path, dw="2 * np.mean((y - (w * X + b)) * X)")
    code, out, err = run(capsys, "hint", "linreg-numpy", "dw", "--answers", str(flipped))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("✗ dw sign_flipped: ")
    assert lines[1] == f"hint: {SIGN_HINT}"
    code, out, _ = run(capsys, "hint", "linreg-numpy", "db", "--answers", str(flipped))
    assert code == 0 and out == "`db` is right: no hint needed.\n"


def test_hint_unknown_blank_or_lesson_is_one_sentence_exit_2(home, capsys):
    code, out, err = run(capsys, "hint", "linreg-numpy", "nope")
    assert code == 2 and out == ""
    assert err == "tutor: `nope` is not a blank of linreg-numpy: its blanks are loss, dw, db, w, b, y_pred\n"
    code, _, err = run(capsys, "hint", "no-such-lesson", "dw")
    assert code == 2 and err.count("\n") == 1 and "no lesson `no-such-lesson`" in err


def test_grade_prints_hints_under_wrong_blanks_and_no_hints_leaves_them_out(home, tmp_path, capsys):
    flipped = answers_file(tmp_path, dw="2 * np.mean((y - (w * X + b)) * X)")
    code, out, _ = run(capsys, "grade", "linreg-numpy", "--answers", str(flipped))
    assert code == 1
    lines = out.splitlines()
    at = next(i for i, l in enumerate(lines) if l.startswith("  ✗ dw"))
    assert lines[at + 1] == f"      hint: {SIGN_HINT}"
    assert sum("hint:" in l for l in lines) == 1
    code, out, _ = run(capsys, "grade", "linreg-numpy", "--answers", str(flipped), "--no-hints")
    assert code == 1 and "hint:" not in out and "  ✗ dw" in out
    code, out, _ = run(capsys, "grade", "linreg-numpy", "--answers", str(flipped), "--json")
    data = json.loads(out)
    assert data["blanks"]["dw"]["hint"] == SIGN_HINT
    assert data["blanks"]["db"]["hint"] is None


def test_list_shows_each_lessons_status_and_the_count_done(home, capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[-1] == "0 of 12 lessons done"
    assert all(l.split()[3] == "new" for l in lines[:-1])
    with ProgressStore.open() as store:
        store.record_attempt("linreg-numpy", GOOD, verdicts(list(GOOD), 6))  # done
        store.record_attempt("linreg-torch", {}, verdicts([f"b{i}" for i in range(11)], 4))  # 4/11 right
        store.save_answers("logreg-numpy", {"loss": "x"})  # typed, never checked
    code, out, _ = run(capsys, "list")
    rows = {l.split()[0]: l for l in out.splitlines()[:-1]}
    assert "  done  " in rows["linreg-numpy"]
    assert " 4/11 right " in rows["linreg-torch"]
    assert " started " in rows["logreg-numpy"]
    assert " new " in rows["logreg-torch"]
    assert out.splitlines()[-1] == "1 of 12 lessons done"
    code, out, _ = run(capsys, "list", "--json")
    status = {d["id"]: d["status"] for d in json.loads(out)}
    assert status["linreg-numpy"] == "done" and status["linreg-torch"] == "started"
    assert status["logreg-numpy"] == "started" and status["logreg-torch"] == "new"
