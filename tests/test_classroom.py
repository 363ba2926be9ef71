"""Grading a class, as an instructor and a learner use it: a hand-in exported from what the app saved,
points and scores, the gradebook CSV, the feedback folder, --jobs 2 against --jobs 1, hostile files.

One small numpy lesson (tests/fixtures/app_lessons, with points added) and a handful of files keep
it quick: every grading here runs on real sandboxed evaluators.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tutor import __version__
from tutor.classroom import batch, export, feedback, gradebook
from tutor.classroom.submissions import SubmissionError, hand_ins, read_answers
from tutor.grading.factory import make_grader
from tutor.lesson import LessonError, load_lessons, parse_lesson_text
from tutor.progress import ProgressStore

from test_app import LESSONS as APP_LESSONS, RIGHT  # the app's fixture lesson and its answers

ROOT = Path(__file__).resolve().parent.parent
# A hint for a diagnosis that shows the whole answer: the grader must not show it, nor the feedback.
GIVEAWAY = 'Write it as -2 * np.mean(y - (w * X + b)).'


def tutor(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tutor", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def toml_file(path: Path, answers: dict[str, str]) -> Path:
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in answers.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lessons_dir(tmp_path_factory) -> Path:
    """The app's fixture lessons, with points: dw is worth 3, y_pred 0.5, the rest 1 (7.5 in all)."""
    folder = tmp_path_factory.mktemp("lessons")
    text = (APP_LESSONS / "010-line.md").read_text(encoding="utf-8")
    text = text.replace('[blanks.dw]\n', '[blanks.dw]\npoints = 3\n')
    text = text.replace('[blanks.db]\n', f'[blanks.db]\nscaled = "{GIVEAWAY}"\n')
    text = text.replace('[blanks.y_pred]\n', '[blanks.y_pred]\npoints = 0.5\n')
    (folder / "010-line.md").write_text(text, encoding="utf-8")
    (folder / "020-blocks.md").write_text((APP_LESSONS / "020-blocks.md").read_text(encoding="utf-8"), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def lesson(lessons_dir):
    return load_lessons(lessons_dir)[0]


@pytest.fixture(scope="module")
def hand_in_dir(tmp_path_factory) -> Path:
    """A class: right, wrong in several ways, and files no grader can read."""
    folder = tmp_path_factory.mktemp("class")
    toml_file(folder / "alice.toml", RIGHT)
    toml_file(folder / "bob.toml", {**RIGHT, "dw": "2 * np.mean((y - (w * X + b)) * X)"})
    toml_file(folder / "carol.toml", {**RIGHT, "db": "-2 * np.sum(y - (w * X + b))", "y_pred": "w * X"})
    toml_file(folder / "dave.toml", {"loss": "np.mean((y - (w * X + b)) ** 2", "dw": RIGHT["dw"]})
    (folder / "erin.toml").write_bytes(b'loss = "\xff\xfe"\n')  # not UTF-8
    (folder / "=HYPERLINK(1).toml").write_text('loss = [[[[', encoding="utf-8")  # broken, and a formula name
    (folder / "notes.txt").write_text("not a hand-in", encoding="utf-8")
    return folder


# ---- points ------------------------------------------------------------------------------------

LESSON_TEXT = """+++
id = "p"
title = "Points"
+++

## One

```python
a = {{a: 1 + 1}}
b = {{b: a * 2}}
```

```toml check
[compare]
b = {}

[blanks.a]
points = %s
```
"""


def test_points_default_to_one_and_a_bad_value_is_reported_at_its_line():
    lesson = parse_lesson_text(LESSON_TEXT % "2.5", "p.md")
    assert lesson.blanks["a"].points == 2.5 and lesson.blanks["b"].points == 1
    assert parse_lesson_text(LESSON_TEXT % "0", "p.md").blanks["a"].points == 0
    for bad in ("-1", '"two"', "true", "nan"):
        with pytest.raises(LessonError) as err:
            parse_lesson_text(LESSON_TEXT % bad, "p.md")
        text = str(err.value.problems[0])
        assert text.startswith("p.md:18:"), text  # the `points` line of the check block
        assert "points must be a number, 0 or more" in text


def test_score_counts_the_points_of_right_blanks_only(lesson, hand_in_dir):
    grader = make_grader([lesson])
    try:
        right = grader.grade(lesson, RIGHT)
        assert (right.score, right.max_score) == (7.5, 7.5)
        flipped = grader.grade(lesson, {**RIGHT, "dw": "2 * np.mean((y - (w * X + b)) * X)"})
        assert flipped.blanks["dw"].diagnosis == "sign_flipped"
        assert (flipped.score, flipped.max_score) == (4.5, 7.5)
        broken = grader.grade(lesson, {**RIGHT, "y_pred": "w * X +", "loss": "open('x')"})  # error verdicts score 0
        assert broken.blanks["y_pred"].verdict == "error" and broken.blanks["loss"].verdict == "error"
        assert broken.score == 6
        data = flipped.to_json("bob.toml")
        assert (data["score"], data["max_score"]) == (4.5, 7.5)
    finally:
        grader.evaluator.close()


# ---- a class: the CSV, the feedback, --jobs ------------------------------------------------------


def test_a_class_gives_the_csv_and_feedback_and_jobs_2_equals_jobs_1(lesson, hand_in_dir, tmp_path):
    entries = hand_ins([hand_in_dir, tmp_path / "nobody.toml"])
    names = [p.path.name for p in entries]
    assert names == ["=HYPERLINK(1).toml", "alice.toml", "bob.toml", "carol.toml", "dave.toml", "erin.toml", "nobody.toml"]
    one = batch.grade_class(lesson, entries, jobs=1, make_grader=lambda: make_grader([lesson]))
    order: list[int] = []
    two = batch.grade_class(lesson, entries, jobs=2, make_grader=lambda: make_grader([lesson]),
                            on_graded=lambda i, _row: order.append(i))
    assert order == list(range(len(entries)))  # reported in input order, as soon as they are ready
    assert gradebook.csv_text(lesson, one) == gradebook.csv_text(lesson, two)
    assert [feedback.student_feedback(lesson, r) for r in one] == [feedback.student_feedback(lesson, r) for r in two]

    rows = list(csv.reader(io.StringIO(gradebook.csv_text(lesson, two))))
    assert rows[0] == ["file", "score", "max_score", "passed", "error", "loss", "dw", "db", "w", "b", "y_pred"]
    by_name = {Path(r[0].lstrip("'")).name: r for r in rows[1:]}
    assert [Path(r[0].lstrip("'")).name for r in rows[1:]] == names
    assert by_name["alice.toml"][1:] == ["7.5", "7.5", "true", ""] + ["correct"] * 6
    assert by_name["bob.toml"][1:5] == ["4.5", "7.5", "false", ""] and by_name["bob.toml"][6] == "sign_flipped"
    assert by_name["carol.toml"][1:5] == ["6", "7.5", "false", ""]
    assert by_name["carol.toml"][7] == "scaled" and by_name["carol.toml"][10] != "correct"
    assert by_name["dave.toml"][1:] == ["3", "7.5", "false", "", "syntax_error", "correct", "missing", "missing", "missing", "missing"]
    for hostile in ("erin.toml", "=HYPERLINK(1).toml", "nobody.toml"):
        row = by_name[hostile]
        assert row[1] == "" and row[3] == "false" and row[4] and row[5:] == [""] * 6
    assert "not UTF-8" in by_name["erin.toml"][4]
    assert "not valid TOML" in by_name["=HYPERLINK(1).toml"][4]
    assert gradebook.safe_cell("=HYPERLINK(1).toml") == "'=HYPERLINK(1).toml"
    assert [gradebook.safe_cell(c) for c in ("+1", "-1", "@x", "a=b")] == ["'+1", "'-1", "'@x", "a=b"]


def test_grade_command_for_a_class_writes_the_gradebook_and_feedback(lessons_dir, hand_in_dir, tmp_path):
    out_csv, report = tmp_path / "grades.csv", tmp_path / "feedback"
    os.symlink(hand_in_dir / "=HYPERLINK(1).toml", tmp_path / "=cmd.toml")
    huge = tmp_path / "huge.toml"
    huge.write_text('loss = "' + "x" * (2 * 1024 * 1024) + '"\n', encoding="utf-8")
    files = [str(hand_in_dir / "bob.toml"), "=cmd.toml", str(huge), str(hand_in_dir)]
    out = subprocess.run([sys.executable, "-m", "tutor", "grade", "line", "--lessons", str(lessons_dir), "--answers", *files,
                          "--csv", str(out_csv), "--report", str(report), "--jobs", "2"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2, out.stderr  # some files could not be graded: 2, after grading the rest
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stdout.splitlines()
    assert "bob.toml  4.5/7.5 points  not yet (dw sign_flipped)" in lines[0]
    assert "not graded" in lines[1] and "not graded" in lines[2] and "larger than" in lines[2]
    assert "9 hand-ins, 5 graded, 1 passed, 4 could not be graded" in lines[-1]

    rows = list(csv.reader(out_csv.open(encoding="utf-8", newline="")))
    assert rows[0][:5] == ["file", "score", "max_score", "passed", "error"]
    assert [r[0] for r in rows[1:3]] == [str(hand_in_dir / "bob.toml"), "'=cmd.toml"]  # the formula is text
    assert len(rows) == 10

    written = sorted(p.name for p in report.iterdir())
    assert written == ["_HYPERLINK_1_.md", "_cmd.md", "alice.md", "bob-2.md", "bob.md", "carol.md", "dave.md",
                       "erin.md", "huge.md", "summary.md"]
    bob = (report / "bob.md").read_text(encoding="utf-8")
    assert "4.5 / 7.5 points" in bob and "sign flipped" in bob
    assert "Check the minus sign in front of the 2." in bob  # the hint for its diagnosis
    carol = (report / "carol.md").read_text(encoding="utf-8")
    assert "`db`: scaled" in carol and "Like dw, without the X." in carol  # the give-away hint is not shown
    assert "not UTF-8" in (report / "erin.md").read_text(encoding="utf-8")
    squeeze = "".join
    lesson = load_lessons(lessons_dir)[0]
    for page in report.iterdir():
        text = squeeze(page.read_text(encoding="utf-8").split())
        for blank in lesson.blanks.values():
            if len(squeeze(blank.answer.split())) >= 6:
                assert squeeze(blank.answer.split()) not in text, (page.name, blank.name)
    summary = (report / "summary.md").read_text(encoding="utf-8")
    table = [l for l in summary.splitlines() if l.startswith("| `")]
    wrong = [int(re.search(r"\| (\d+) of 5 \|", l).group(1)) for l in table]
    assert wrong == [2, 2, 2, 1, 1, 1]  # most first; lesson order between equals
    assert table[:3] == ["| `dw` | 3 | 2 of 5 | sign_flipped 2 |", "| `db` | 1 | 2 of 5 | missing 1, scaled 1 |",
                         "| `y_pred` | 0.5 | 2 of 5 | missing 1, wrong_value 1 |"]
    assert "## Could not be graded" in summary and "huge.toml" in summary


def test_program_files_in_a_class_are_graded_like_answers_files(lesson, tmp_path):
    from tutor.lesson.program_file import render_program

    flipped = {**RIGHT, "dw": "2 * np.mean((y - (w * X + b)) * X)"}
    (tmp_path / "a.py").write_text(render_program(lesson, flipped), encoding="utf-8")
    edited = render_program(lesson, RIGHT).replace("learning_rate = 0.5", "learning_rate = 0.1")
    (tmp_path / "b.py").write_text(edited, encoding="utf-8")
    toml_file(tmp_path / "c.toml", flipped)
    rows = batch.grade_class(lesson, hand_ins([tmp_path]), jobs=1, make_grader=lambda: make_grader([lesson]))
    assert [r.path.name for r in rows] == ["a.py", "b.py", "c.toml"]
    assert rows[0].report.blanks["dw"].diagnosis == "sign_flipped"
    assert rows[0].report.to_json()["blanks"] == rows[2].report.to_json()["blanks"]
    assert rows[1].report is None and rows[1].error.startswith("line ") and "???" in rows[1].error


def test_a_program_that_hangs_costs_its_own_timeout_only(lesson, tmp_path):
    lesson = dataclasses.replace(lesson, timeout=2.0)  # (the file says 5 s: the claim is the same, the wait shorter)
    hang = toml_file(tmp_path / "hang.toml", {**RIGHT, "dw": "sum(1 for _ in iter(int, 1))"})
    good = toml_file(tmp_path / "good.toml", RIGHT)
    ready: list[float] = []

    def factory():
        grader = make_grader([lesson])
        grader.reference(lesson)
        ready.append(time.perf_counter())
        return grader

    rows = batch.grade_class(lesson, hand_ins([hang, good, hang]), jobs=1, make_grader=factory)
    spent = time.perf_counter() - ready[0]
    assert [r.report.blanks["dw"].diagnosis for r in rows] == ["timeout", None, "timeout"]
    assert rows[1].passed
    assert spent < 2 * lesson.timeout + 4  # each hang costs its one timeout, and the file between is graded


# ---- hand-in: exported from what the app saved ---------------------------------------------------

HOSTILE = {
    "line": {
        "loss": "np.mean((y - (w * X + b)) ** 2)",
        "dw": "2 * np.mean((y - (w * X + b)) * X)",
        "db": 'np.mean(y) if "it\'s" else \'\'\' "\\" \\\\n \'\'\'',
        "w": "w - learning_rate * dw  # ''' and \"\"\" and \\",
        "b": "b - learning_rate * db\x1b[31m\x07\u202e\t\x7f",
        "y_pred": "   ",
    },
    "blocks": {
        "predict": "out = w * x + b  # it's a \\ and \"quotes\"\n\treturn out",
        "accumulate": "total += predict(3.0, 2.0, v)  # ''''",
    },
}


async def _fill_and_check_in_the_app(store: ProgressStore, lessons_dir: Path) -> None:
    """As a learner: open each lesson, type the answers, check, leave (the app saves on leaving)."""
    from textual import events

    from tutor.app import keys
    from tutor.app.app import default_grader_factory, make_app
    from tutor.app.screens.lesson import LessonScreen

    app = make_app(lessons_dir, store, default_grader_factory, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        for index, lesson_id in enumerate(("line", "blocks")):
            await pilot.pause()
            await app.workers.wait_for_complete()
            for _ in range(index):
                await pilot.press("down")
            await pilot.press("enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, LessonScreen) and screen.lesson.id == lesson_id
            for name, text in HOSTILE[lesson_id].items():
                editor = screen.slots[name].editor
                screen.set_focus(editor)
                await pilot.pause()
                if "\n" in text or any(ord(c) < 32 and c != "\t" or c == "\x7f" for c in text):
                    screen.slots[name].set_value(text)  # what a terminal cannot type
                else:
                    app.post_message(events.Paste(text))
                await pilot.pause()
            if lesson_id == "line":
                await pilot.press(keys.CHECK)
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause()
            await pilot.press(keys.BACK)
            await pilot.pause()
            await app.workers.wait_for_complete()


def test_export_round_trips_what_the_app_saved_and_grades_as_the_app_did(lessons_dir, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    store = ProgressStore.open(home / "progress.sqlite3")
    asyncio.run(_fill_and_check_in_the_app(store, lessons_dir))
    lessons = {l.id: l for l in load_lessons(lessons_dir)}
    saved = {i: store.lesson_state(i).answers for i in lessons}
    for lesson_id, answers in HOSTILE.items():  # the app saved the hostile text as typed
        for name, text in answers.items():
            assert saved[lesson_id][name].strip() == text.strip(), (lesson_id, name)
    last = store.last_attempt("line")
    assert last is not None and last.verdicts["dw"]["diagnosis"] == "sign_flipped"

    path = export.export_lesson(store, lessons["line"], tmp_path / "hand-in" / "line.toml")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Answers to line: A line by gradient descent\n")
    assert f"tutor {__version__}" in text and "Last check:" in text and "dw sign_flipped" in text
    assert "Not answered: y_pred." in text
    assert "\x1b" not in text and "\u202e" not in text  # escaped, not written raw
    back, warnings = read_answers(path, lessons["line"])
    assert warnings == []
    assert back == {k: v for k, v in saved["line"].items() if v.strip()}
    store.close()

    out = tutor("export", "--all", "-o", str(tmp_path / "all"), "--lessons", str(lessons_dir), env={"TUTOR_HOME": str(home)})
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["blocks.toml", "line.toml"]
    blocks, _ = read_answers(tmp_path / "all" / "blocks.toml", lessons["blocks"])
    assert blocks == saved["blocks"]
    assert "predict = '''\n" in (tmp_path / "all" / "blocks.toml").read_text(encoding="utf-8")  # a block stays readable

    graded = tutor("grade", "line", "--lessons", str(lessons_dir), "--answers", str(path), "--json")
    data = json.loads(graded.stdout.splitlines()[0])
    assert {n: b["verdict"] for n, b in data["blanks"].items()} == {n: v["verdict"] for n, v in last.verdicts.items()}

    none = tutor("export", "line", "--lessons", str(lessons_dir), env={"TUTOR_HOME": str(tmp_path / "nobody")})
    assert none.returncode == 2 and "no saved progress yet" in none.stderr and "Traceback" not in none.stderr


def test_every_answer_round_trips_through_the_toml_writer():
    import random
    import tomllib

    hostile = ["", "'", "''", "'''", "''''", "x'''y", 'say "hi"', "back\\slash\\", "tab\there", "a\nb", "a\nb'",
               "\nleading", "trailing\n", "\r\n", "cr\ronly", "\x00\x1b[31m\x7f", "\u202eRLO", "😀\u200d", "a'''\nb",
               '"""', "\x85", "\u2028", "\U000E0041", "\ufeff", "\\\n\\", "é\nü"]
    rng = random.Random(16)
    alphabet = "ab'\"\\\n\t\r\x00\x1f\x7f\u202e😀 #=[]{}"
    hostile += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(2000)]
    for text in hostile:
        line = export.toml_answer("answer", text)
        assert tomllib.loads(line + "\n") == {"answer": text}, (text, line)
    assert export.toml_answer("forward", "h = x\nreturn h") == "forward = '''\nh = x\nreturn h'''"  # a block as typed
    assert export.toml_answer("forward", "s = '''\nreturn s").startswith('forward = "')  # not safe as a literal


def test_answers_no_file_can_hold_are_refused_with_a_sentence(lesson):
    with pytest.raises(export.ExportError, match="lone surrogate"):
        export.answers_toml(lesson, {"loss": "np.mean(y)\ud800"})
    with pytest.raises(SubmissionError):
        read_answers(Path("/dev/zero"), lesson)
