"""`tutor edit` and `tutor grade --program`: a lesson as a Python file in the learner's own editor.

The file is written and read by tutor/lesson/program_file.py; this module is the command line around
it (`tutor watch` is tutor/watch.py). Decisions, written down:

- `tutor edit LESSON` writes `./LESSON-ID.py` (or `--file PATH`) with the learner's saved answers
  (the progress store the app and `tutor watch` write) in their blanks, the others `???`.
- It never overwrites work. A file that is already there is kept as it is when it holds the saved
  answers (comments and spacing aside: it would be written the same); otherwise, or when it is not
  this lesson's program any more, it is refused with the remedy, and `--force` writes it again from
  the saved answers. The file is written whole to a temporary file and renamed into place, so a
  running `tutor watch` never reads half of it.
- When standard input is a terminal and `$VISUAL` or `$EDITOR` is set, the file is opened there (the
  command is split as a shell would, so `EDITOR="code --wait"` works); on return it says how many
  blanks are answered, or the edit outside a blank that would stop a check. The path and the next
  command are printed in every case.
- `tutor grade LESSON --program FILE.py...` grades each file exactly as `--answers` grades an answers
  file: the same lines, hints, `--json` objects (whose `answers` field is the path of the file the
  answers were read from) and exit codes. A file with an edit outside a blank is that file's error
  (`tutor: FILE:LINE: sentence`, exit 2); the other files are still graded.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from tutor.editing import open_editor as _open_editor, write_atomic
from tutor.lesson import Lesson
from tutor.lesson.program_file import ProgramFileError, answers_from_program, read_program, render_program


def program_path(args: argparse.Namespace, lesson: Lesson) -> Path:
    """The file a lesson is edited in: `--file`, else `LESSON-ID.py` in the current folder."""
    return Path(args.file) if getattr(args, "file", None) else Path(f"{lesson.id}.py")


def data_lines(lesson: Lesson) -> list[str]:
    """Where each of the lesson's datasets comes from, for the file's docstring."""
    from tutor import datasets

    lines = []
    for name in lesson.datasets:
        try:
            ds = datasets.get(name)
            lines.append(f"{name}: {', '.join(ds.variables)} from {datasets.path_of(name)}")
        except datasets.DatasetError as exc:
            lines.append(f"{name}: {exc}")
    return lines


def commands(args: argparse.Namespace, lesson: Lesson, path: Path) -> tuple[str, str]:
    """The two commands that check the file: `tutor watch ...` and `tutor grade ... --program`."""
    lessons = f" --lessons {shlex.quote(args.lessons)}" if getattr(args, "lessons", None) else ""
    default = path == Path(f"{lesson.id}.py")
    file = shlex.quote(str(path))
    watch = f"tutor watch {lesson.id}{lessons}" + ("" if default else f" --file {file}")
    return watch, f"tutor grade {lesson.id}{lessons} --program {file}"


def saved_answers(lesson: Lesson) -> dict[str, str]:
    """The learner's saved answers (the app's, or the last check's); none when there is no store yet."""
    from tutor.cli import _saved_progress

    store = _saved_progress()
    if store is None:
        return {}
    try:
        return {k: v for k, v in store.lesson_state(lesson.id).answers.items() if k in lesson.blanks}
    finally:
        store.close()


def _existing(lesson: Lesson, path: Path, answers: dict[str, str], force: bool) -> bool:
    """Whether an existing file is kept as it is (True) or may be written (False); UsageError when it
    holds work that writing would lose and `force` is not given."""
    from tutor.cli import UsageError

    if force or not (path.exists() or path.is_symlink()):
        return False
    label = shlex.quote(str(path))
    try:
        found = read_program(lesson, str(path))
    except ProgramFileError as exc:
        raise UsageError(f"{label} already exists and is not {lesson.id}'s program as `tutor edit` writes it ({exc.sentence}):"
                         f" give --force to replace it, or --file for another name") from None
    if render_program(lesson, found) == render_program(lesson, answers):
        return True
    raise UsageError(f"{label} already exists with answers that differ from your saved ones (the app's, or your last check's):"
                     f" open it as it is in your editor, or give --force to write it again from your saved answers")


def cmd_edit(args: argparse.Namespace) -> int:
    """`tutor edit LESSON [--file PATH] [--force]`."""
    from tutor.cli import EXIT_OK, EXIT_USAGE, UsageError, _find, _out

    lesson = _find(args, args.lesson)
    path = program_path(args, lesson)
    watch, grade = commands(args, lesson, path)
    answers = saved_answers(lesson)
    text = render_program(lesson, answers, data=data_lines(lesson), commands=[watch, grade])
    label = str(path)
    if _existing(lesson, path, answers, args.force):
        _out(f"{label} already holds your saved answers: kept as it is.")
    else:
        try:
            write_atomic(path, text)
        except OSError as exc:
            raise UsageError(f"cannot write {label} ({exc.strerror or exc}): give --file a path in a folder you can write to") from None
        filled = len(answers_from_program(lesson, text, label))
        _out(f"Wrote {label}: {len(lesson.blanks)} blanks, {filled} filled in from your saved answers.")
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if sys.stdin.isatty() and editor:
        status = _open_editor(editor, path)
        if status is not None:
            print(f"tutor: {status}", file=sys.stderr)
            _next(watch, grade)
            return EXIT_USAGE
        _after_editor(lesson, path)
    elif sys.stdin.isatty():
        _out(f"Set $EDITOR (for example `export EDITOR=vim`) and `tutor edit` opens {label} there.")
    _next(watch, grade)
    return EXIT_OK


def _next(watch: str, grade: str) -> None:
    from tutor.cli import _out

    _out("Next: fill each ??? and save; check the file on every save with")
    _out(f"  {watch}")
    _out(f"or once with  {grade}")


def _after_editor(lesson: Lesson, path: Path) -> None:
    """What the file holds once the editor has closed: how many blanks are answered, or the edit that
    would stop a check."""
    from tutor.cli import _out

    try:
        found = read_program(lesson, str(path))
    except ProgramFileError as exc:
        print(f"tutor: {exc}", file=sys.stderr)
        return
    _out(f"{path}: {len(found)} of {len(lesson.blanks)} blanks answered.")


# ---- tutor grade --program ---------------------------------------------------------------------


def read_program_answers(path: Path, lesson: Lesson) -> tuple[dict[str, str], list[str]]:
    """A program file's answers, as `tutor.cli.read_answers` gives an answers file's (no warnings: a
    program file cannot name a blank the lesson lacks). Raises the CLI's AnswersFileError, with the
    line, for a file that cannot be graded."""
    try:
        return read_program(lesson, str(path)), []
    except ProgramFileError as exc:
        raise program_error(path, exc) from None


def program_error(path: Path, exc: ProgramFileError) -> Any:
    """A ProgramFileError as the CLI's AnswersFileError for that file, carrying its line."""
    from tutor.cli import AnswersFileError

    return AnswersFileError(path, exc.sentence, exc.line)


def check_program_args(args: argparse.Namespace) -> None:
    """`--program` grades one learner's files; the class options belong with `--answers`."""
    from tutor.cli import UsageError

    if getattr(args, "program", None) and (getattr(args, "csv", None) or getattr(args, "report", None)
                                           or getattr(args, "jobs", None) is not None):
        raise UsageError("--csv, --report and --jobs grade a class: give its files with --answers (it reads program files *.py too)")
