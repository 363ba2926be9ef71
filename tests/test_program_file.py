"""A lesson as a Python file (tutor/lesson/program_file.py, `tutor edit`, `tutor grade --program`):
the round trip edit -> fill -> grade gives what the same answers in an answers file give, for every
built-in lesson; every edit outside a blank is named by its line; a `???` left is `missing`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.cli import main, read_answers
from tutor.editor_cli import read_program_answers
from tutor.lesson import Lesson
from tutor.lesson.program_file import HOLE, ProgramFileError, answers_from_program, read_program, render_program
from tutor.progress import ProgressStore

TUTOR = [sys.executable, "-m", "tutor"]


def fill(lesson: Lesson, text: str, answers: dict[str, str | None]) -> str:
    """What a learner does in their editor: each `???`, in order, replaced by the answer to its blank
    (a block's as indented lines); a blank whose answer is None keeps its `???`."""
    order = iter(lesson.blanks.values())
    out = []
    lines = text.split("\n")
    doc_end = lines.index('"""', 1)  # the docstring says what ??? means: the blanks come after it
    for number, line in enumerate(lines):
        while HOLE in line and number > doc_end:
            blank = next(order)
            answer = answers.get(blank.name)
            if answer is None:
                out.append(line)
                line = ""
                break
            if blank.kind == "block":
                indent = line[: len(line) - len(line.lstrip())]
                out += [indent + a if a.strip() else "" for a in answer.split("\n")]
                line = ""
                break
            line = line.replace(HOLE, answer, 1)
        else:
            out.append(line)
            continue
        if line:
            out.append(line)
    return "\n".join(out)


def class_answers(lesson: Lesson) -> dict[str, str | None]:
    """A realistic attempt: the reference for most blanks (blocks written with a comment and an empty
    line of the learner's own), the first expression blank wrong, the last blank not answered."""
    answers: dict[str, str | None] = {}
    for name, blank in lesson.blanks.items():
        if blank.kind == "block":
            lines = blank.answer.split("\n")
            answers[name] = "\n".join([lines[0], "", "# my own note", *lines[1:]]) if len(lines) > 1 else blank.answer
        else:
            answers[name] = blank.answer
    first = next((n for n, b in lesson.blanks.items() if b.kind == "expression"), None)
    if first is not None:
        answers[first] = f"({lesson.blanks[first].answer}) * 2"
    answers[list(lesson.blanks)[-1]] = None
    return answers


def toml_file(path: Path, answers: dict[str, str | None]) -> Path:
    path.write_text("".join(f"{name} = {json.dumps(text)}\n" for name, text in answers.items() if text is not None))
    return path


# ---- the file itself ---------------------------------------------------------------------------


def test_every_lesson_round_trips_through_its_file(lessons, tmp_path):
    """Written blank, filled as a learner fills it, read back: the same answers as an answers file."""
    for lesson in lessons:
        empty = render_program(lesson, {})
        assert empty.split('\n"""\n', 1)[1].count(HOLE) == len(lesson.blanks), lesson.id
        assert answers_from_program(lesson, empty, "x.py") == {}, lesson.id
        compile(render_program(lesson, lesson.reference_answers()), f"{lesson.id}.py", "exec")  # filled in, it is Python
        attempt = class_answers(lesson)
        program = tmp_path / f"{lesson.id}.py"
        program.write_text(fill(lesson, empty, attempt))
        from_file, warnings = read_program_answers(program, lesson)
        from_toml, _ = read_answers(toml_file(tmp_path / f"{lesson.id}.toml", attempt), lesson)
        assert warnings == []
        assert set(from_file) == set(from_toml) == {n for n, a in attempt.items() if a is not None}, lesson.id
        for name, text in from_toml.items():
            assert from_file[name].strip() == text.strip(), (lesson.id, name)
        # Saved answers written by `tutor edit` come back the same way.
        assert answers_from_program(lesson, render_program(lesson, from_toml), "x.py") == from_file, lesson.id


def _graded_alike(grader, lessons):
    for lesson in lessons:
        attempt = class_answers(lesson)
        empty = render_program(lesson, {})
        program = answers_from_program(lesson, fill(lesson, empty, attempt), f"{lesson.id}.py")
        from_toml = {n: a for n, a in attempt.items() if a is not None}
        by_file, by_toml = grader.grade_many(lesson, [program, from_toml])
        assert by_file.to_json("f") == by_toml.to_json("f"), lesson.id
        verdicts = {n: b.verdict for n, b in by_file.blanks.items()}
        assert verdicts[list(lesson.blanks)[-1]] == "missing", lesson.id  # the `???` left
        wrong = next((n for n, b in lesson.blanks.items() if b.kind == "expression"), None)
        if wrong is not None:
            assert verdicts[wrong] != "correct", lesson.id


def test_numpy_lessons_grade_the_file_as_the_answers_file(grader, lessons):
    _graded_alike(grader, [l for l in lessons if l.framework == "numpy"])


@pytest.mark.slow
def test_torch_lessons_grade_the_file_as_the_answers_file(grader, lessons):
    _graded_alike(grader, [l for l in lessons if l.framework == "torch"])


def test_grade_program_prints_what_grade_answers_prints(lessons, tmp_path):
    """The command line: the same text, --json objects and exit codes for a program file as for an
    answers file with the same answers (`answers` names the file read)."""
    lesson = next(l for l in lessons if l.id == "linreg-numpy")
    attempt = class_answers(lesson)
    program = tmp_path / "mine.py"
    program.write_text(fill(lesson, render_program(lesson, {}), attempt))
    toml = toml_file(tmp_path / "mine.toml", attempt)
    runs = {}
    for flag, path in (("--answers", toml), ("--program", program)):
        for extra in ([], ["--json"]):
            done = subprocess.run([*TUTOR, "grade", lesson.id, flag, str(path), *extra], capture_output=True, text=True, timeout=300)
            runs[flag, bool(extra)] = (done.returncode, done.stdout.replace(str(path), "FILE"))
    assert runs["--answers", False] == runs["--program", False]
    assert runs["--answers", True] == runs["--program", True]
    code, text = runs["--program", False]
    assert code == 1 and "not yet" in text and "hint:" in text
    data = json.loads(runs["--program", True][1])
    assert data["blanks"]["y_pred"]["verdict"] == "missing" and data["blanks"]["dw"]["verdict"] == "correct"


# ---- edits outside a blank ---------------------------------------------------------------------


@pytest.fixture
def linreg(lessons):
    return next(l for l in lessons if l.id == "linreg-numpy")


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n"), 1) if needle in line)


def _error(lesson, text) -> ProgramFileError:
    with pytest.raises(ProgramFileError) as info:
        answers_from_program(lesson, text, "mine.py")
    err = info.value
    assert "only the ??? places are answers" in str(err)
    assert str(err).startswith(f"mine.py:{err.line}: ")
    return err


def test_a_changed_constant_is_named_by_its_line(linreg):
    text = render_program(linreg, {}).replace("learning_rate = 0.5", "learning_rate = 5")
    err = _error(linreg, text)
    assert err.line == _line_of(text, "learning_rate = 5")
    assert "`learning_rate = 0.5`" in err.sentence  # what the lesson has there


def test_a_deleted_line_is_named_where_it_was(linreg):
    text = render_program(linreg, {}).replace("learning_rate = 0.5\n", "")
    err = _error(linreg, text)
    assert err.line == _line_of(text, "w = 0.0")  # the next line of code, which it stood before
    assert "missing" in err.sentence and "learning_rate = 0.5" in err.sentence


def test_an_added_line_is_named(linreg):
    text = render_program(linreg, {}).replace("    w_list.append(w)\n", "    w_list.append(w)\n    print(w)\n")
    err = _error(linreg, text)
    assert err.line == _line_of(text, "print(w)")
    assert "`print(w)` is not a line of the lesson" in err.sentence


def test_an_edit_beside_a_blank_on_its_line_is_named(linreg):
    text = render_program(linreg, {}).replace("    dw = ???", "    dW = -2 * np.mean((y - (w * X + b)) * X)")
    err = _error(linreg, text)
    assert err.line == _line_of(text, "dW =")
    assert "outside its ???" in err.sentence


def test_indentation_is_code(linreg):
    text = render_program(linreg, {}).replace("    db = ???", "db = ???")
    assert _error(linreg, text).line == _line_of(text, "db = ???")


def test_a_line_deleted_at_the_end_is_said(linreg):
    text = render_program(linreg, {})
    text = text[: text.index("y_pred = ???")]
    err = _error(linreg, text)
    assert "ends before" in err.sentence and "y_pred = ???" in err.sentence


def test_after_a_block_a_changed_line_is_named(lessons):
    lesson = next(l for l in lessons if l.id == "logreg-torch")
    text = render_program(lesson, {}).replace("w = model.linear.weight.item()", "w = 1.0")
    err = _error(lesson, text)
    assert "`train`" in err.sentence and "w = model.linear.weight.item()" in err.sentence
    lines = text.split("\n")
    assert err.line == lines.index("???", lines.index("losses = []")) + 1  # where the block starts


def test_another_lessons_file_is_refused_at_its_first_code_line(lessons):
    numpy_lesson, torch_lesson = lessons[0], lessons[1]
    text = render_program(torch_lesson, {})
    lines = text.split("\n")
    after_doc = lines.index('"""', 1) + 1
    first_code = next(i for i in range(after_doc, len(lines)) if lines[i].strip() and not lines[i].startswith("#")) + 1
    assert _error(numpy_lesson, text).line == first_code


def test_comments_docstring_blank_lines_and_trailing_spaces_are_not_edits(linreg):
    """Comments are the learner's (notes added, prose trimmed, a comment after code); extra empty
    lines and trailing spaces change nothing either."""
    text = render_program(linreg, {})
    text = text.replace("# Start from a flat line through the origin.", "# my note: zero is a fine start\n# another")
    text = text.replace("# Keep the history for the charts.\n", "")
    text = text.replace("w = 0.0\n", "w = 0.0   # why zero?\n\n\n")
    text = text.replace('"""Linear regression by hand (numpy)', '"""My copy of the linear regression lesson')
    text = text.replace("    loss = ???", "    loss = np.mean((y - (w * X + b)) ** 2)  # the MSE   ")
    text = "\n".join(line + "  " for line in text.split("\n"))
    assert answers_from_program(linreg, text, "mine.py") == {"loss": "np.mean((y - (w * X + b)) ** 2)"}


def test_a_hash_inside_a_string_is_not_a_comment(linreg):
    text = render_program(linreg, {}).replace('print("Trained model weight : %.4f" % w)', 'print("Trained # weight : %.4f" % w)')
    assert _error(linreg, text).line == _line_of(text, "Trained # weight")


def test_question_marks_left_or_emptied_are_absent(linreg):
    text = render_program(linreg, {}).replace("    dw = ???", "    dw =").replace("    db = ???", "    db = -2 * np.mean(y - (w * X + b))")
    assert answers_from_program(linreg, text, "mine.py") == {"db": "-2 * np.mean(y - (w * X + b))"}


def test_an_unclosed_docstring_is_named(linreg):
    text = render_program(linreg, {}).replace('"""\n\n#', "\n\n#", 1)
    err = _error_any(linreg, text)
    assert err.line == 1 and "never closed" in err.sentence


def _error_any(lesson, text) -> ProgramFileError:
    with pytest.raises(ProgramFileError) as info:
        answers_from_program(lesson, text, "mine.py")
    return info.value


def test_unreadable_files_are_one_sentence(linreg, tmp_path):
    with pytest.raises(ProgramFileError) as info:
        read_program(linreg, str(tmp_path))
    assert "folder" in str(info.value)
    bad = tmp_path / "bad.py"
    bad.write_bytes(render_program(linreg, {}).encode() + b"\n# caf\xe9\n")
    with pytest.raises(ProgramFileError) as info:
        read_program(linreg, str(bad))
    assert "UTF-8" in info.value.sentence and info.value.line == render_program(linreg, {}).count("\n") + 2


def test_grade_program_error_is_file_line_and_exit_2(linreg, tmp_path, capsys):
    good = tmp_path / "good.py"
    good.write_text(render_program(linreg, {}))
    bad = tmp_path / "bad.py"
    text = render_program(linreg, {}).replace("learning_rate = 0.5", "learning_rate = 5")
    bad.write_text(text)
    assert main(["grade", linreg.id, "--program", str(bad), str(good), "--json"]) == 2
    out, err = capsys.readouterr()
    line = _line_of(text, "learning_rate = 5")
    assert f"bad.py:{line}: this line should be the lesson's `learning_rate = 0.5`" in err
    first, second = (json.loads(x) for x in out.strip().split("\n"))
    assert first["line"] == line and "only the ??? places are answers" in first["error"]
    assert second["blanks"]["loss"]["verdict"] == "missing"  # the next file is still graded


def test_answers_and_program_together_are_refused(linreg, tmp_path):
    done = subprocess.run([*TUTOR, "grade", linreg.id, "--answers", "a.toml", "--program", "b.py"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not allowed with argument" in done.stderr


# ---- tutor edit --------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    return tmp_path


def test_edit_writes_saved_answers_and_never_overwrites_work(linreg, home, capsys):
    with ProgressStore.open(home / "home" / "progress.sqlite3") as store:  # what the app saved
        store.save_answers(linreg.id, {"loss": "np.mean((y - (w * X + b)) ** 2)", "dw": ""})
    assert main(["edit", linreg.id]) == 0
    out = capsys.readouterr().out
    path = home / "linreg-numpy.py"
    assert "Wrote linreg-numpy.py" in out and "tutor watch linreg-numpy" in out
    text = path.read_text()
    assert "    loss = np.mean((y - (w * X + b)) ** 2)" in text and "    dw = ???" in text
    assert "linear_regression" in text and "linear_regression.csv" in text  # the data's path

    # The same answers: kept as it is; other answers (the learner's work): refused, untouched.
    path.write_text(text.replace("# Start from", "# note\n# Start from"))
    assert main(["edit", linreg.id]) == 0
    assert "kept as it is" in capsys.readouterr().out
    work = text.replace("    db = ???", "    db = 1")
    path.write_text(work)
    assert main(["edit", linreg.id]) == 2
    assert "--force" in capsys.readouterr().err and path.read_text() == work
    assert main(["edit", linreg.id, "--force"]) == 0
    assert path.read_text() == text


def test_edit_opens_the_editor_and_reads_the_file_back(linreg, home, monkeypatch, capsys):
    editor = home / "fake-editor"
    editor.write_text("#!/bin/sh\nsed -i 's/    loss = ???/    loss = np.mean((y - (w * X + b)) ** 2)/' \"$1\"\n")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    assert main(["edit", linreg.id, "--file", "mine.py"]) == 0
    out = capsys.readouterr().out
    assert "mine.py: 1 of 6 blanks answered." in out
    assert "tutor watch linreg-numpy --file mine.py" in out


def test_edit_with_a_missing_editor_says_so(linreg, home, monkeypatch, capsys):
    monkeypatch.setenv("EDITOR", "no-such-editor-here")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    assert main(["edit", linreg.id]) == 2
    err = capsys.readouterr().err
    assert "cannot start your editor `no-such-editor-here`" in err and (home / "linreg-numpy.py").exists()


def test_edit_does_not_open_an_editor_without_a_terminal(linreg, home, monkeypatch, capsys):
    monkeypatch.setenv("EDITOR", "false")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["edit", linreg.id]) == 0
    assert "blanks answered" not in capsys.readouterr().out
