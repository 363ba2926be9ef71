"""`tutor` (the app) and its subcommands: list, show, grade, hint, check, doctor, serve, export, edit, watch, new, import."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from tutor.classroom import submissions
from tutor.classroom.submissions import file_label as _file_label, short_key as _short
from tutor.authoring import cli as authoring_cli
from tutor.lesson import Lesson, LessonError, find_lesson, load_lessons, parse_lesson, read_lessons
from tutor.grading.verdicts import MARKS
from tutor.paths import builtin_lessons_dir
from tutor.safe_text import cleaned_output, one_line

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in how the command was called or in a file it was given: one sentence, exit 2."""


def _parser() -> argparse.ArgumentParser:
    # --lessons is accepted before or after the subcommand; SUPPRESS keeps a subcommand from
    # resetting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lessons", metavar="DIR", default=argparse.SUPPRESS,
                        help="a folder of lesson files (default: the built-in lessons)")
    p = argparse.ArgumentParser(
        prog="tutor",
        description="A terminal tutor for deep-learning fundamentals: fill the blanks of real training programs.",
    )
    p.add_argument("--lessons", metavar="DIR", default=None, help="a folder of lesson files (default: the built-in lessons)")
    p.add_argument("--require-isolation", action="store_true",
                   help="the app: refuse to run learner code unless every sandbox layer is active")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("list", parents=[common], help="list the lessons")
    s.add_argument("--json", action="store_true", help="print JSON")
    s = sub.add_parser("show", parents=[common], help="show a lesson's steps and blanks (never the answers)")
    s.add_argument("lesson", help="lesson id or file name")
    s.add_argument("--json", action="store_true", help="print JSON")
    s = sub.add_parser("grade", parents=[common], help="grade answer files (TOML: blank = \"answer\")")
    s.add_argument("lesson", help="lesson id or file name")
    given = s.add_mutually_exclusive_group(required=True)
    given.add_argument("--answers", nargs="+", metavar="PATH",
                       help="answers files, program files (*.py) or folders of them (a class)")
    given.add_argument("--program", nargs="+", metavar="FILE.py",
                       help="lesson files from `tutor edit`, filled in: graded like answers files (tutor/editor_cli.py)")
    s.add_argument("--json", action="store_true", help="one JSON object per answers file, one per line")
    s.add_argument("--no-hints", action="store_true", help="leave out the hint under each wrong blank")
    s.add_argument("--csv", metavar="FILE", default=None, help="a class: write the gradebook, one row per file")
    s.add_argument("--report", metavar="DIR", default=None, help="a class: write a feedback file per file and summary.md")
    s.add_argument("--jobs", type=int, metavar="N", default=None, help="a class: graders run at once (default: the cores, at most 4)")
    s.add_argument("--require-isolation", action="store_true", help="refuse to run unless every sandbox layer is active")
    s = sub.add_parser("hint", parents=[common], help="the next hint for a blank, or the hint for your answer to it")
    s.add_argument("lesson", help="lesson id or file name")
    s.add_argument("blank", help="the blank's name (see `tutor show LESSON`)")
    s.add_argument("--answers", metavar="FILE", default=None, help="an answers file: the hint for what it answers")
    s.add_argument("--require-isolation", action="store_true", help="refuse to run unless every sandbox layer is active")
    s = sub.add_parser("check", parents=[common], help="for instructors: parse lessons, run references, try wrong answers")
    s.add_argument("paths", nargs="*", metavar="PATH", help="lesson files or folders (default: the lessons folder)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument("--require-isolation", action="store_true", help="refuse to run unless every sandbox layer is active")
    s = sub.add_parser("doctor", parents=[common], help="which sandbox layers are active on this machine")
    s.add_argument("--require-isolation", action="store_true", help="exit 1 unless every sandbox layer is active")
    s = sub.add_parser("serve", parents=[common], help="the app in a browser (one app per tab, no login)")
    s.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1, this machine only)")
    s.add_argument("--port", type=int, default=8000, help="the port to listen on (default: 8000)")
    s.add_argument("--public-url", metavar="URL", default=None,
                   help="the address the browser uses, when it differs (an SSH tunnel to another port, a proxy)")
    s.add_argument("--base-path", metavar="PATH", default=None,
                   help="behind a proxy that strips a path (jupyter-server-proxy: /user/NAME/tutor/), that path; "
                        "the page then names no host")
    s.add_argument("--require-isolation", action="store_true", default=argparse.SUPPRESS,
                   help="refuse to run learner code unless every sandbox layer is active")
    s = sub.add_parser("edit", parents=[common], help="write a lesson as a Python file and open it in $EDITOR")
    s.add_argument("lesson", help="lesson id or file name")
    s.add_argument("--file", metavar="PATH", default=None, help="the file to write (default: ./LESSON-ID.py)")
    s.add_argument("--force", action="store_true", help="write it again from your saved answers, over any changes in it")
    s = sub.add_parser("watch", parents=[common], help="check a lesson's Python file on every save (q or ctrl+c ends)")
    s.add_argument("lesson", help="lesson id or file name")
    s.add_argument("--file", metavar="PATH", default=None, help="the file to watch (default: ./LESSON-ID.py)")
    s.add_argument("--require-isolation", action="store_true", help="refuse to run unless every sandbox layer is active")
    s = sub.add_parser("export", parents=[common], help="write your saved answers to a lesson as a file to hand in")
    s.add_argument("lesson", nargs="?", default=None, help="lesson id or file name")
    s.add_argument("-o", "--output", metavar="PATH", default=None, help="the file (default: ./LESSON-ID.toml); with --all, a folder")
    s.add_argument("--all", action="store_true", help="one file per lesson with saved answers, into the folder -o DIR")
    authoring_cli.add_parsers(sub, common)  # new, import (tutor/authoring/cli.py)
    return p


ISOLATION_ENV = "TUTOR_REQUIRE_ISOLATION"


def _isolation_from_env() -> bool:
    """TUTOR_REQUIRE_ISOLATION=1 is `--require-isolation` for every command and every app a server
    starts: set once for a whole hub (JupyterHub's Spawner.environment, docs/deploy.md)."""
    value = os.environ.get(ISOLATION_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise UsageError(f"{ISOLATION_ENV}={value[:40]} is neither on nor off: set it to 1 (refuse to run learner code "
                     "unless every sandbox layer is active) or 0, or unset it")


def _lessons_dir(args: argparse.Namespace) -> Path:
    return Path(args.lessons) if args.lessons else builtin_lessons_dir()


def _load(args: argparse.Namespace) -> list[Lesson]:
    return load_lessons(_lessons_dir(args))


def _find(args: argparse.Namespace, key: str) -> Lesson:
    lessons = _load(args)
    lesson = find_lesson(lessons, key)
    if lesson is None:
        ids = ", ".join(l.id for l in lessons)
        raise UsageError(f"there is no lesson `{key}`: the lessons are {ids}")
    return lesson


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")  # cleaned for the terminal by `main` (tutor.safe_text)


def _json(value: Any) -> str:
    """One JSON line of printable ASCII: `json.dumps` escapes controls and non-ASCII but leaves DEL."""
    return json.dumps(value, ensure_ascii=True).replace("\x7f", "\\u007f")


def _saved_progress() -> Any:
    """The learner's progress store (TUTOR_HOME or the user data folder), read by `list` and `hint`;
    None when there is none yet (nothing is created for a look) or when it cannot be used (said on
    stderr in one sentence: the command goes on as for a new learner)."""
    from tutor.progress import ProgressError, ProgressStore, default_path

    try:
        if not default_path().exists():
            return None
        return ProgressStore.open()
    except ProgressError as exc:
        print(f"tutor: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"tutor: cannot read your progress ({exc.strerror or exc}): lessons are shown as new", file=sys.stderr)
    return None


def _status_word(p: Any) -> str:
    """A lesson's status as the app's lesson list words it (tutor/app/screens/lessons.py)."""
    if p.status == "done":
        return "done"
    if p.status == "started" and p.attempts:
        return f"{p.correct}/{p.total} right"
    return p.status  # "started" (answers typed, never checked) or "new"


def cmd_list(args: argparse.Namespace) -> int:
    """The lessons that parse, each with the learner's status; the problems of the others on stderr,
    and then exit 2. The count of lessons done comes last, so that every line above starts with an id."""
    from tutor.progress import LessonProgress

    lessons, problems = read_lessons(_lessons_dir(args))
    for problem in problems:
        print(str(problem), file=sys.stderr)
    done = EXIT_USAGE if problems else EXIT_OK
    store = _saved_progress()
    try:
        status = {l.id: store.progress(l.id, len(l.blanks)) if store else LessonProgress(l.id, "new", 0, len(l.blanks))
                  for l in lessons}
    finally:
        if store is not None:
            store.close()
    if args.json:
        _out(_json([
            {"id": l.id, "title": l.title, "framework": l.framework, "steps": len(l.steps), "blanks": len(l.blanks), "path": str(l.path),
             "status": status[l.id].status, "right": status[l.id].correct, "checks": status[l.id].attempts}
            for l in lessons
        ]))
        return done
    width = max((len(l.id) for l in lessons), default=4)
    for l in lessons:
        _out(f"{l.id:<{width}}  {len(l.blanks):>2} blanks  {_status_word(status[l.id]):<11}  {one_line(l.title)}")
    if lessons:
        _out(f"{sum(p.status == 'done' for p in status.values())} of {len(lessons)} lessons done")
    return done


def cmd_show(args: argparse.Namespace) -> int:
    lesson = _find(args, args.lesson)
    if args.json:
        _out(_json({
            "id": lesson.id,
            "title": lesson.title,
            "framework": lesson.framework,
            "datasets": lesson.datasets,
            "steps": [{"title": s.title, "blanks": s.blanks} for s in lesson.steps],
            "blanks": [{"name": b.name, "kind": b.kind, "step": b.step + 1, "hints": len(b.hints)} for b in lesson.blanks.values()],
        }))
        return EXIT_OK
    _out(f"{lesson.id}: {one_line(lesson.title)}  ({lesson.framework}; data: {', '.join(lesson.datasets + list(lesson.data)) or 'none'})")
    for s, step in enumerate(lesson.steps, 1):
        _out(f"  step {s}: {one_line(step.title)}")
        for name in step.blanks:
            b = lesson.blanks[name]
            _out(f"    {name:<12} {b.kind}")
    return EXIT_OK


class AnswersFileError(UsageError):
    """One answers file that cannot be graded: `sentence` says why and what to do; str() adds the file."""

    def __init__(self, path: Path, sentence: str, line: int | None = None) -> None:
        super().__init__(f"{_file_label(path)}{f':{line}' if line else ''}: {sentence}")
        self.path = path
        self.sentence = sentence
        self.line = line  # a program file's line (tutor --program)


def _print_run(run: Any) -> None:
    """How the learner's run ended, after the blanks, when it did not end well: its status, then its
    error indented (a traceback with lines of the lesson file, each line cleaned by the stream)."""
    if run.status in ("ok", "skipped") or not run.error:
        return
    _out(f"  your run: {run.status}")
    for line in run.error.split("\n"):
        _out(f"    {line}".rstrip())


def read_answers(path: Path, lesson: Lesson) -> tuple[dict[str, str], list[str]]:
    """An answers file -> (blank -> text, warnings), read by tutor.classroom.submissions (its one
    reader, for a class too). Raises AnswersFileError (a UsageError) for a file that cannot be used."""
    try:
        return submissions.read_answers(path, lesson)
    except submissions.SubmissionError as exc:
        raise AnswersFileError(path, exc.sentence) from None


def _make_grader(lessons: list[Lesson], require_isolation: bool = False):
    from tutor.grading.factory import make_grader
    from tutor.sandbox import EvaluatorError

    try:  # with require_isolation the evaluator starts here, and refuses with one sentence
        grader = make_grader(lessons, require_isolation=require_isolation, wait=require_isolation)
    except EvaluatorError as exc:
        raise UsageError(str(exc)) from None
    return grader, grader.evaluator


def _answers_error(args: argparse.Namespace, path: Path, sentence: str, line: int | None = None) -> None:
    """An answers file that was not graded: `tutor: FILE[:LINE]: sentence`, and with --json its own line."""
    print(f"tutor: {_file_label(path)}{f':{line}' if line else ''}: {sentence}", file=sys.stderr)
    if args.json:
        _out(_json({"answers": str(path), "error": sentence, **({"line": line} if line else {})}))
        sys.stdout.flush()


def cmd_grade(args: argparse.Namespace) -> int:
    from tutor.classroom.cli import ClassroomError, class_mode, grade_class_command
    from tutor.grading.grader import LessonRunError

    from tutor.editor_cli import check_program_args, read_program_answers

    lesson = _find(args, args.lesson)
    check_program_args(args)
    if args.answers and class_mode(args):  # folders, program files, --csv, --report, --jobs: tutor/classroom/cli.py
        try:
            return grade_class_command(args, lesson, _json)
        except ClassroomError as exc:
            raise UsageError(str(exc)) from None
    grader, evaluator = _make_grader([lesson], args.require_isolation)
    status = EXIT_OK
    try:
        for file in args.answers or args.program:
            path = Path(file)
            # One bad file never stops the batch: whatever it holds ends as its own error, in its place.
            try:
                answers, warnings = read_answers(path, lesson) if args.answers else read_program_answers(path, lesson)
                for w in warnings:
                    print(f"tutor: {w}", file=sys.stderr)
                report = grader.grade(lesson, answers)
            except AnswersFileError as exc:
                _answers_error(args, path, exc.sentence, exc.line)
                status = EXIT_USAGE
                continue
            except (RecursionError, MemoryError) as exc:  # the grader refuses such answers: a fallback
                _answers_error(args, path, f"an answer is too long or nested too deeply to grade ({type(exc).__name__}): shorten it")
                status = EXIT_USAGE
                continue
            except (ValueError, OverflowError) as exc:
                _answers_error(args, path, f"the answers could not be graded ({type(exc).__name__}: {str(exc)[:200]}): check the answers in it")
                status = EXIT_USAGE
                continue
            if not report.passed and status == EXIT_OK:
                status = EXIT_FAILED
            if args.json:
                data = report.to_json(str(path))
                for name, b in report.blanks.items():  # the hint the text output shows; null with --no-hints
                    data["blanks"][name]["hint"] = None if args.no_hints or b.verdict == "correct" else b.hint
                _out(_json(data))
                sys.stdout.flush()
                continue
            counts = report.counts()
            verdict = "passed" if report.passed else "not yet"
            _out(f"{lesson.id}  {_file_label(path)}  {verdict}: {counts.get('correct', 0)}/{len(report.blanks)} blanks right")
            for name, b in report.blanks.items():
                line = f"  {MARKS.get(b.verdict, '?')} {name:<12}"
                if b.verdict != "correct":
                    line += f" {b.diagnosis or b.verdict}: {one_line(b.message)}"
                _out(line.rstrip())
                if b.verdict != "correct" and b.hint and not args.no_hints:
                    _out(f"      hint: {one_line(b.hint)}")
            _print_run(report.run)
            for note in report.notes:
                _out(f"  note: {one_line(note)}")
    except LessonRunError as exc:
        print(f"tutor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        evaluator.close()
    return status


def _blank(lesson: Lesson, name: str) -> Any:
    blank = lesson.blanks.get(name)
    if blank is None:
        raise UsageError(f"`{_short(name)}` is not a blank of {lesson.id}: its blanks are {', '.join(lesson.blanks)}")
    return blank


def cmd_hint(args: argparse.Namespace) -> int:
    """`tutor hint LESSON BLANK [--answers FILE]`: a hint outside the app.

    Decisions, written down:

    - Without --answers: the hint the app gives next when the lesson is reopened (ctrl+g there shows
      the blank's hints in order, counting those shown in the learner's progress store). This command
      only reads that store and never counts a hint as shown, so asking twice gives the same hint; once
      the app has shown them all, it says so and points at the app's solution.
    - With --answers: that file is graded, and the hint printed is the one the grader shows beside the
      verdict for that blank (`verdict_hint`: the lesson's hint for the diagnosis, never one that gives
      the answer away); a right answer needs none.
    - A hint that shows the whole answer (the last one, in most lessons) says so.
    """
    from tutor.grading.grader import LessonRunError
    from tutor.grading.report import gives_away

    lesson = _find(args, args.lesson)
    blank = _blank(lesson, args.blank)
    name = blank.name
    if args.answers is not None:
        path = Path(args.answers)
        answers, warnings = read_answers(path, lesson)
        for w in warnings:
            print(f"tutor: {w}", file=sys.stderr)
        grader, evaluator = _make_grader([lesson], args.require_isolation)
        try:
            report = grader.grade(lesson, answers)
        except LessonRunError as exc:
            raise UsageError(str(exc)) from None
        except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
            raise UsageError(f"{_file_label(path)}: the answers could not be graded ({type(exc).__name__}): check the answers in it") from None
        finally:
            evaluator.close()
        result = report.blanks[name]
        if result.verdict == "correct":
            _out(f"`{name}` is right: no hint needed.")
            return EXIT_OK
        _out(f"{MARKS.get(result.verdict, '?')} {name} {result.diagnosis or result.verdict}: {one_line(result.message)}")
        if result.hint:
            _out(f"hint: {one_line(result.hint)}")
        else:
            _out(f"No hint fits this answer; `tutor hint {lesson.id} {name}` gives the lesson's hints for `{name}` in order.")
        return EXIT_OK
    if not blank.hints:
        _out(f"`{name}` has no hints in {lesson.id}.")
        return EXIT_OK
    store = _saved_progress()
    shown = 0
    if store is not None:
        try:
            state = store.lesson_state(lesson.id).state
        finally:
            store.close()
        counts = state.get("hints") if isinstance(state, dict) else None
        value = counts.get(name) if isinstance(counts, dict) else None
        shown = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
    total = len(blank.hints)
    if shown >= total:
        _out(f"No more hints for `{name}`: the app has shown all {total}; its ctrl+s shows the solution after a first check.")
        return EXIT_OK
    hint = blank.hints[shown]
    line = f"hint {shown + 1} of {total} for `{name}`: {one_line(hint)}"
    if gives_away(blank, hint):
        line += "  (this last hint shows the answer)" if shown + 1 == total else "  (this hint shows the answer)"
    _out(line)
    return EXIT_OK


def _check_file(path: Path) -> int:
    """`tutor check PATH`, for `tutor import` to run on the lesson it wrote."""
    return cmd_check(_parser().parse_args(["check", str(path)]))


def cmd_check(args: argparse.Namespace) -> int:
    from tutor.grading.check import check_lessons

    paths = [Path(p) for p in args.paths] or [_lessons_dir(args)]
    lessons: list[Lesson] = []
    problems: list[str] = []
    for p in paths:
        try:
            if p.is_dir():
                lessons += load_lessons(p)
            else:
                lessons.append(parse_lesson(p))
        except LessonError as exc:
            problems += [str(x) for x in exc.problems]
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        print(f"tutor check: {len(problems)} problem(s) in the lesson files; nothing was run", file=sys.stderr)
        return EXIT_USAGE
    grader, evaluator = _make_grader(lessons, args.require_isolation)
    try:
        reports = check_lessons(grader, lessons, progress=None if args.json else _out)
    finally:
        evaluator.close()
    if args.json:
        _out(_json([r.to_json() for r in reports]))
    ok = all(r.ok for r in reports)
    if not args.json:
        _out(f"tutor check: {sum(r.ok for r in reports)}/{len(reports)} lessons pass")
    if any(r.reference_error for r in reports):
        return EXIT_USAGE
    return EXIT_OK if ok else EXIT_FAILED


def cmd_doctor(args: argparse.Namespace) -> int:
    """The layers as the evaluator worker applies them to each run (probed there, not here), and the
    sockets a run keeps where seccomp is missing (the kernel's Landlock ABI is the worker's too)."""
    import os

    from tutor.sandbox import Evaluator, EvaluatorError
    from tutor.sandbox import landlock, layers

    with Evaluator(preload=("numpy",)) as ev:
        try:
            ev.start(wait=True)
            info = ev.info()
        except EvaluatorError as exc:
            raise UsageError(str(exc)) from None
        active = [x for x in info.get("layers") or [] if isinstance(x, str)]
        missing = [x for x in info.get("missing_layers") or [] if isinstance(x, str)]
        details = info.get("layer_details") if isinstance(info.get("layer_details"), dict) else {}
        _out("Sandbox layers on this machine:")
        for name in active:
            more = details.get(name)
            _out(f"  active   {name}" + (f" ({more})" if isinstance(more, str) and more else ""))
        for name in missing:
            _out(f"  MISSING  {name}")
        sockets = layers.socket_note(active, landlock.abi_version() if "landlock" in active else 0, os.geteuid() == 0)
        if sockets:
            _out(f"Sockets: {sockets}.")
        start = time.perf_counter()
        ev.run([{"id": "ping", "source": "x = 1\n", "names": ["np"], "timeout": 5.0}])
        _out(f"Evaluator: answers in {1000 * (time.perf_counter() - start):.0f} ms after start")
    if missing:
        _out(f"{len(missing)} layer(s) missing: runs here are less isolated; "
             "an instructor can refuse such hosts with --require-isolation.")
        if args.require_isolation:
            return EXIT_FAILED
    else:
        _out("Every isolation layer is active.")
    return EXIT_OK


def cmd_app(args: argparse.Namespace) -> int:
    """`tutor` alone: the app, opening where the learner left off."""
    from tutor.progress import ProgressError, ProgressStore

    try:
        store = ProgressStore.open()
    except ProgressError as exc:
        raise UsageError(str(exc)) from None
    try:
        from tutor.app.app import default_grader_factory, make_app

        factory = default_grader_factory
        if args.require_isolation:
            factory = functools.partial(default_grader_factory, require_isolation=True)
        app = make_app(_lessons_dir(args), store, factory)
        app.run()
    finally:
        store.close()
    import gc

    gc.freeze()  # the process ends now: its last collections need not walk the app's objects (a quicker quit)
    for problem in app.lesson_problems:
        print(problem, file=sys.stderr)
    return app.return_code or EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """`tutor export`: the learner's hand-in (tutor/classroom/cli.py)."""
    from tutor.classroom.cli import ClassroomError, check_export_args, export_command

    try:
        check_export_args(args)
        return export_command(args, [_find(args, args.lesson)] if args.lesson else _load(args))
    except ClassroomError as exc:
        raise UsageError(str(exc)) from None


def cmd_edit(args: argparse.Namespace) -> int:
    """`tutor edit`: the lesson as a Python file in the learner's editor (tutor/editor_cli.py)."""
    from tutor.editor_cli import cmd_edit as edit

    return edit(args)


def cmd_watch(args: argparse.Namespace) -> int:
    """`tutor watch`: that file checked on every save (tutor/watch.py)."""
    from tutor.watch import cmd_watch as watch

    return watch(args)


def cmd_serve(args: argparse.Namespace) -> int:
    """`tutor serve`: the app in a browser until ctrl+c."""
    from tutor.serve import ServeError, serve

    lessons = _load(args)  # a broken lesson folder is reported here, not in every browser tab
    if not lessons:
        raise UsageError(f"{_lessons_dir(args)} holds no lesson files")
    try:
        serve(args.host, args.port, Path(args.lessons) if args.lessons else None,
              require_isolation=args.require_isolation, public_url=args.public_url, prefix=args.base_path)
    except ServeError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """`tutor`: every line it prints for a person passes tutor.safe_text, on stdout and stderr alike."""
    try:
        with cleaned_output():
            return _main(argv)
    except BrokenPipeError:
        # The reader went away (`tutor list | head -2`): stop quietly, as other tools do; stdout is
        # pointed at /dev/null so the interpreter's last flush at exit cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    commands: dict[str, Any] = {
        "list": cmd_list, "show": cmd_show, "grade": cmd_grade, "hint": cmd_hint, "check": cmd_check, "doctor": cmd_doctor,
        "serve": cmd_serve, "export": cmd_export, "edit": cmd_edit, "watch": cmd_watch,
        "new": authoring_cli.cmd_new, "import": functools.partial(authoring_cli.cmd_import, check=_check_file),
    }
    try:
        args.require_isolation = args.require_isolation or _isolation_from_env()
        if args.command is None:
            return cmd_app(args)
        return commands[args.command](args)
    except LessonError as exc:
        for p in exc.problems:
            print(str(p), file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"tutor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
