"""The classroom's commands, as `tutor` runs them: `tutor export` (a learner's hand-in) and
`tutor grade LESSON --answers PATH... [--csv FILE] [--report DIR] [--jobs N]` (a class).

This is the command-line part of tutor.cli, kept here so that cli.py stays small: tutor.cli
parses the arguments, finds the lessons and calls `export_command` or, when `class_mode` says so,
`grade_class_command`; a `ClassroomError` is its one-sentence usage error (exit 2). Like the rest
of the package it never imports tutor.cli (which can start the app): what it needs from there
(the JSON line writer) is handed in. The work itself is done by the core modules of this package
(export, batch, gradebook, feedback).

Decisions, written down:

- `tutor grade` grades a class (this module) when a folder or a program file (`*.py`) is among
  the `--answers`, or `--csv`, `--report` or `--jobs` is given; one or more answers files alone are
  graded as before (tutor.cli.cmd_grade, a verdict and a hint per blank). A class prints one line
  per hand-in, in input order, as it is graded (`--json`: the same JSON line per file as
  `tutor grade --json`), then one line for the class.
- Where the CSV or the feedback folder cannot be written is found out before any grading starts.
- Exit status: 2 when a hand-in could not be graded (after grading all the others), else 1 when a
  hand-in did not pass, else 0, as for `tutor grade`.
- `tutor export LESSON` writes `./LESSON-ID.toml` unless `-o` says where (a folder given with
  `-o` gets `LESSON-ID.toml` inside); `--all -o DIR` writes one file per lesson with saved answers.
  A lesson with no saved answer is not exported: the command says so, and how to start it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from tutor.classroom import batch, export, feedback, gradebook
from tutor.classroom.submissions import HAND_IN_SUFFIXES, file_label as _file_label, hand_ins
from tutor.lesson.model import Lesson
from tutor.safe_text import one_line

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # tutor.cli's exit statuses


class ClassroomError(Exception):
                     """A mistake in how a classroom command was called, or a place it cannot write: one sentence."""


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")  # cleaned for the terminal by tutor.cli.main (tutor.safe_text)


# ---- tutor export ------------------------------------------------------------------------------
def _store() -> Any:
    """The learner's progress store; ClassroomError when there is none yet or it cannot be used."""
    from tutor.progress import ProgressError, ProgressStore, default_path

    path = default_path()
    if not path.exists():
        raise ClassroomError(f"there is no saved progress yet (looked for {path}): open a lesson with `tutor`, fill in its blanks,"
                             " then export it")
    try:
        return ProgressStore.open(path)
    except ProgressError as exc:
        raise ClassroomError(str(exc)) from None


def _write_hand_in(store: Any, lesson: Lesson, path: Path) -> Path:
    try:
        return export.export_lesson(store, lesson, path)
    except export.ExportError as exc:
        raise ClassroomError(f"{lesson.id}: {exc}") from None
    except OSError as exc:
        raise ClassroomError(f"cannot write {_file_label(path)} ({(exc.strerror or type(exc).__name__).lower()}):"
                             " give another place with -o") from None


def check_export_args(args: argparse.Namespace) -> None:
    if args.all == (args.lesson is not None):
        raise ClassroomError("name one lesson (`tutor export LESSON`) or give --all, not both")
    if args.all and not args.output:
        raise ClassroomError("--all writes one file per lesson: give the folder with -o DIR")


def export_command(args: argparse.Namespace, lessons: list[Lesson]) -> int:
    """`tutor export LESSON [-o FILE]` (`lessons`: that one) and `tutor export --all -o DIR` (every lesson)."""
    check_export_args(args)
    store = _store()
    try:
        todo = [(lesson, export.saved_answers(store, lesson)) for lesson in lessons]
        todo = [(lesson, answers) for lesson, answers in todo if answers]
        if not todo:
            if args.all:
                raise ClassroomError("you have no saved answers to any lesson yet: nothing was written; open a lesson with `tutor`")
            raise ClassroomError(f"you have no saved answers to {lessons[0].id} yet: nothing was written;"
                                 f" open it with `tutor`, fill in its blanks, then export it")
        out = Path(args.output) if args.output else None
        for lesson, answers in todo:
            path = out if out is not None and not args.all and not out.is_dir() else (out or Path(".")) / f"{lesson.id}.toml"
            written = _write_hand_in(store, lesson, path)
            _out(f"{lesson.id}: wrote {_file_label(written)} ({len(answers)} of {len(lesson.blanks)} blanks answered)")
        if len(todo) == 1:
            _out(f"Hand in that file; it is graded with `tutor grade {todo[0][0].id} --answers {_file_label(written)}`.")
        else:
            _out(f"{len(todo)} files written: hand them in; each is graded with `tutor grade LESSON --answers FILE`.")
    finally:
        store.close()
    return EXIT_OK


# ---- tutor grade, for a class ------------------------------------------------------------------
def class_mode(args: argparse.Namespace) -> bool:
    """Whether `tutor grade` grades a class: a folder or a program file given, or a class option."""
    if getattr(args, "csv", None) or getattr(args, "report", None) or getattr(args, "jobs", None) is not None:
        return True
    return any(Path(p).is_dir() or str(p).lower().endswith(HAND_IN_SUFFIXES[1:]) for p in args.answers or [])


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any grading, a CSV or feedback place that cannot be written."""
    if args.csv:
        csv = Path(args.csv)
        if csv.is_dir():
            raise ClassroomError(f"--csv {_file_label(csv)} is a folder: give a file name, like grades.csv")
        if not csv.parent.is_dir():
            raise ClassroomError(f"--csv {_file_label(csv)}: the folder {_file_label(csv.parent)} does not exist: make it, or give another place")
    if args.report:
        folder = Path(args.report)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ClassroomError(f"--report {_file_label(folder)}: cannot make this folder ({(exc.strerror or type(exc).__name__).lower()}):"
                                 " give another place") from None
    if args.jobs is not None and args.jobs < 1:
        raise ClassroomError(f"--jobs {args.jobs}: give 1 or more graders to run at once")


def _print_row(args: argparse.Namespace, lesson: Lesson, row: batch.Graded, _json: Callable[[Any], str]) -> None:
    for w in row.warnings:
        print(f"tutor: {w}", file=sys.stderr)
    label = _file_label(row.path)
    if row.report is None:
        if args.json:  # as `tutor grade --json` says it: on stderr, and its own line on stdout
            print(f"tutor: {label}: {row.error}", file=sys.stderr)
            _out(_json({"answers": str(row.path), "error": row.error}))
        else:
            _out(f"{lesson.id}  {label}  not graded: {one_line(row.error or '')}")
    elif args.json:
        data = row.report.to_json(str(row.path))
        for name, b in row.report.blanks.items():  # as `tutor grade --json` gives them
            data["blanks"][name]["hint"] = None if args.no_hints or b.verdict == "correct" else b.hint
        _out(_json(data))
    else:
        r = row.report
        wrong = [f"{n} {gradebook.blank_cell(b)}" for n, b in r.blanks.items() if b.verdict != "correct"]
        verdict = "passed" if r.passed else f"not yet ({', '.join(wrong)})"
        _out(f"{lesson.id}  {label}  {gradebook.number(r.score)}/{gradebook.number(r.max_score)} points  {verdict}")
    sys.stdout.flush()


def grade_class_command(args: argparse.Namespace, lesson: Lesson, json_line: Callable[[Any], str]) -> int:
    """Grade every hand-in `--answers` stands for; write the gradebook and the feedback when asked.
    `json_line(value)` is tutor.cli's one JSON line (for --json)."""
    from tutor.grading.factory import make_grader
    from tutor.grading.grader import LessonRunError
    from tutor.sandbox import EvaluatorError

    _check_outputs(args)
    jobs = args.jobs or batch.default_jobs()
    try:
        paths = (args.answers or []) + (getattr(args, "program", None) or [])
        rows = batch.grade_class(lesson, hand_ins(paths), jobs=jobs,
                                 make_grader=lambda: make_grader([lesson], require_isolation=args.require_isolation, wait=True),
                                 on_graded=lambda _i, row: _print_row(args, lesson, row, json_line))
    except (LessonRunError, EvaluatorError) as exc:
        raise ClassroomError(str(exc)) from None
    written = []
    try:
        if args.csv:
            written.append(f"gradebook {_file_label(gradebook.write_csv(Path(args.csv), lesson, rows))}")
        if args.report:
            feedback.write_feedback(Path(args.report), lesson, rows, hints=not args.no_hints)
            written.append(f"feedback in {_file_label(args.report)}")
    except OSError as exc:
        raise ClassroomError(f"cannot write {_file_label(exc.filename or '')} ({(exc.strerror or type(exc).__name__).lower()}):"
                             " the grades are above; give another place") from None
    failed = sum(r.report is None for r in rows)
    passed = sum(r.passed for r in rows)
    line = f"tutor grade: {len(rows)} hand-ins, {len(rows) - failed} graded, {passed} passed, {failed} could not be graded"
    line += ("; " + ", ".join(written)) if written else ""
    print(line, file=sys.stderr if args.json else sys.stdout)
    if failed:
        return EXIT_USAGE
    return EXIT_OK if passed == len(rows) else EXIT_FAILED
