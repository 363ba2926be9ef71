"""`tutor watch LESSON [--file PATH]`: check a lesson's Python file (from `tutor edit`) on every save.

Decisions, written down:

- The file is checked once at the start and again after every save. watchfiles watches the file's
  folder, not the file: editors save by writing a new file and renaming it over the old one (vim,
  VS Code), which a watch on the file itself would lose after the first save. Only changes to the
  file's own name count, grouped until STEP_MS pass without one (at most DEBOUNCE_MS), so a save
  that touches the file several times is one check.
- One check at a time, in a thread. A save during a check replaces it: the grader's `cancelled`
  hook answers yes once a newer save has come, the grader stops at its next run, and the newest
  file is checked. A file that cannot be read as answers (an edit outside a blank) is said in one
  sentence, with its line, and nothing is graded or saved until the next save.
- Each check prints: a rule with the time, the count of blanks right, a line per blank (its mark,
  and for a blank not right its diagnosis and sentence), the hint under the first wrong blank (the
  first incorrect, failing or unjudged one; when every answer given is right, the first missing
  one), how the run ended when it failed (its error, with the lesson's lines), the grader's notes,
  and, when the terminal is at least CHART_MIN_COLUMNS wide and the lesson draws a loss, one line
  with the learner's loss beside the reference's (plotext, one row of braille each, on one scale).
  The output scrolls (nothing clears the screen), so earlier checks stay in the scrollback.
- Every finished check is recorded in the progress store as the app records one (`record_attempt`,
  the same verdicts; the app's hints and focus kept), so the app and `tutor list` show it and a
  later `tutor edit` writes its answers. A store that cannot be opened is said once; checks go on
  unsaved.
- `q` ends it (a key on a terminal, or a line `q` when standard input is a pipe), and so do ctrl+c
  and SIGTERM; exit status 0. A check in flight is cancelled and waited for (its current run at
  most) before the sandbox closes.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from tutor.grading.verdicts import MARKS, Cancelled
from tutor.lesson import Lesson
from tutor.lesson.program_file import ProgramFileError, read_program
from tutor.safe_text import clean, one_line

DEBOUNCE_MS = 1600  # the longest a burst of changes is grouped before it is checked
STEP_MS = 100  # a burst ends after this long without a change
CHART_MIN_COLUMNS = 64  # the loss line needs room for two charts of some 10 cells and their labels
WRONG = ("incorrect", "error", "unjudged")


class ProgramWatch:
    """Checks a lesson's program file whenever `saved()` is called, one check at a time, the newest
    save winning; `run_checks` is the checking thread's loop, `stop()` ends it."""

    def __init__(self, lesson: Lesson, path: Path, grader: Any, store: Any = None, *,
                 columns: Callable[[], int] | None = None, out: Callable[[str], None] | None = None) -> None:
        self.lesson = lesson
        self.path = path
        self.label = one_line(str(path))  # the file as the learner named it
        self.grader = grader
        self.store = store
        self.columns = columns or (lambda: shutil.get_terminal_size((80, 24)).columns)
        self._write = out or (lambda text: (sys.stdout.write(text + "\n"), sys.stdout.flush()))
        self._cond = threading.Condition()
        self._print_lock = threading.Lock()
        self._saves = 0  # saves seen (the start counts as one)
        self._started = 0  # the save the check in flight (or the last one) was started for
        self._stopping = False
        self.checks = 0  # checks that ended with a report
        self.busy = False  # a check is in flight

    # ---- control, from other threads ------------------------------------------------------------
    def saved(self) -> None:
        """The file changed: check it (replacing a check in flight)."""
        with self._cond:
            self._saves += 1
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _cancelled(self, save: int) -> bool:
        return self._stopping or self._saves != save

    def run_checks(self) -> None:
        """The checking thread: wait for a save, check the file, repeat until stopped."""
        while True:
            with self._cond:
                while not self._stopping and self._saves == self._started:
                    self._cond.wait()
                if self._stopping:
                    return
                save = self._started = self._saves
                self.busy = True
            try:
                self.check(save)
            except Exception as exc:  # noqa: BLE001 - a bug or a sandbox that cannot start: said, and the watch goes on
                self.say(f"tutor: the check could not run ({type(exc).__name__}: {one_line(str(exc))[:300]})")
            finally:
                self.busy = False

    # ---- one check ------------------------------------------------------------------------------
    def say(self, *lines: str) -> None:
        with self._print_lock:
            for line in lines:
                self._write(line)

    def check(self, save: int) -> None:
        from tutor.grading.grader import LessonRunError

        name = self.label
        stamp = time.strftime("%H:%M:%S")
        try:
            answers = read_program(self.lesson, str(self.path))
        except ProgramFileError as exc:
            self.say("", f"── {stamp}  {name}", f"tutor: {exc}", self._waiting())
            return
        self.say("", f"── {stamp}  checking {name} ({len(answers)} of {len(self.lesson.blanks)} blanks answered)…")
        try:
            report = self.grader.grade(self.lesson, answers, cancelled=lambda: self._cancelled(save))
        except Cancelled:
            if not self._stopping:
                self.say("   (a newer save replaces this check)")
            return
        except LessonRunError as exc:
            self.say(f"tutor: {exc}", self._waiting())
            return
        except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
            self.say(f"tutor: {name}: the answers could not be graded ({type(exc).__name__}): check the answers in it", self._waiting())
            return
        if self._cancelled(save) and not self._stopping:
            return  # a newer save came as it ended: its check follows at once
        saved = self._record(answers, report)
        self.checks += 1
        self.say(*self.report_lines(report), *([saved] if saved else []), self._waiting())

    def _waiting(self) -> str:
        return f"Watching {self.label}: save it to check again; q quits."

    def _record(self, answers: dict[str, str], report: Any) -> str | None:
        """Record the check as the app does (tutor/app/screens/lesson.py); a sentence if it failed."""
        if self.store is None:
            return None
        verdicts = {n: {"verdict": r.verdict, "diagnosis": r.diagnosis, "message": r.message, "hint": r.hint}
                    for n, r in report.blanks.items()}
        try:
            self.store.record_attempt(self.lesson.id, answers, verdicts, elapsed=getattr(report, "elapsed", None))
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, ProgressError, OSError: the check stands
            return f"tutor: this check was not saved to your progress ({one_line(str(exc))[:200]})"
        return None

    def report_lines(self, report: Any) -> list[str]:
        """What a check shows: the count, a line per blank, one hint, the run's failure, the loss line."""
        counts = report.counts()
        right = counts.get("correct", 0)
        head = "passed: every blank is right, the lesson is done" if report.passed else "not yet"
        lines = [f"{self.lesson.id}  {head} ({right}/{len(report.blanks)} blanks right)"]
        hinted = first_wrong(report)
        for name, b in report.blanks.items():
            line = f"  {MARKS.get(b.verdict, '?')} {name:<12}"
            if b.verdict != "correct":
                line += f" {b.diagnosis or b.verdict}: {one_line(b.message)}"
            lines.append(line.rstrip())
            if name == hinted and b.hint:
                lines.append(f"      hint: {one_line(b.hint)}")
        lines += run_lines(report.run)
        lines += [f"  note: {one_line(note)}" for note in report.notes]
        chart = loss_line(self.lesson, report, self.columns())
        if chart:
            lines.append(chart)
        return lines


def first_wrong(report: Any) -> str | None:
    """The blank whose hint is shown: the first incorrect, failing or unjudged one; else the first missing."""
    for verdicts in (WRONG, ("missing",)):
        for name, b in report.blanks.items():
            if b.verdict in verdicts:
                return name
    return None


def run_lines(run: Any) -> list[str]:
    """How the learner's run ended when it did not end well, as `tutor grade` prints it (tutor.cli._print_run)."""
    if run.status in ("ok", "skipped") or not run.error:
        return []
    return [f"  your run: {run.status}"] + [f"    {line}".rstrip() for line in run.error.split("\n")]


# ---- the loss line ------------------------------------------------------------------------------


def loss_line(lesson: Lesson, report: Any, columns: int) -> str | None:
    """The learner's loss beside the reference's on one line (one row of braille each, one scale), or
    None when the terminal is narrower than CHART_MIN_COLUMNS or the lesson draws no loss."""
    from tutor import charts

    if columns < CHART_MIN_COLUMNS:
        return None
    spec = next((s for s in charts.chart_specs(lesson) if s.kind == "loss"), None)
    if spec is None:
        return None
    learner = report.learner_run.captures if report.learner_run is not None and report.learner_answered else None
    reference = report.reference_run.captures if report.reference_run is not None else None
    fig = charts.figure(spec, learner, reference)
    series = {s.role: s for s in fig.series if s.x and s.style == "line"}
    if "reference" not in series:
        return None
    ys = [v for s in series.values() for v in s.y]
    lo, hi = min(ys), max(ys)
    hi = hi if hi > lo else lo + 1.0
    n = max(max(s.x) for s in series.values())

    def end(s: Any) -> str:
        value = 10 ** s.y[-1] if fig.log_y else s.y[-1]
        return charts.fmt(float(value))

    mine, ref = series.get("learner"), series["reference"]
    missing = "(no loss: " + ("your run left none" if learner is not None else "no answer ran") + ")"
    head = f"  loss{' (log)' if fig.log_y else ''}  yours "
    fixed = len(head) + (len(end(mine)) + 2 if mine else len(missing)) + len("   reference ") + len(end(ref)) + 2
    width = min(40, (columns - 1 - fixed) // (2 if mine else 1))
    if width < 8:
        return None
    yours = f"{_spark(charts, mine, lo, hi, n, width)} {end(mine)}" if mine else missing
    return f"{head}{yours}   reference {_spark(charts, ref, lo, hi, n, width)} {end(ref)}"


def _spark(charts: Any, series: Any, lo: float, hi: float, n: float, width: int) -> str:
    """One series as one row of braille, `width` cells, on the shared scale: drawn by charts.draw on plotext."""
    import plotext as plt

    plt.clear_figure()
    plt.theme("clear")
    one = charts.Figure("loss", "", series=[charts.Series("", series.x, series.y, series.role)], ylim=(lo, hi))
    charts.draw(one, plt)
    plt.plotsize(width, 1)
    plt.frame(False)
    plt.xaxes(False, False)
    plt.yaxes(False, False)
    plt.xticks([])
    plt.yticks([])
    plt.xlim(1, max(n, 2))
    return clean(plt.build()).split("\n")[0]  # plotext's colour codes out: the two are told apart by place


# ---- the command --------------------------------------------------------------------------------


def _watch_file(path: Path, stop: threading.Event, on_save: Callable[[], None]) -> None:
    """Call `on_save` after each burst of changes to `path` (its folder watched), until `stop` is set."""
    import watchfiles

    name = path.name
    for _changes in watchfiles.watch(path.parent, watch_filter=lambda _change, p: Path(p).name == name,
                                     debounce=DEBOUNCE_MS, step=STEP_MS, stop_event=stop, recursive=False,
                                     raise_interrupt=False):
        on_save()


def _wait_for_quit() -> None:
    """Return when the learner presses q (a terminal) or sends a line `q` (a pipe); ctrl+c raises
    KeyboardInterrupt here. Standard input at its end (or absent) leaves only ctrl+c and SIGTERM."""
    stdin = sys.stdin
    if stdin is not None and not stdin.closed and stdin.isatty():
        import termios
        import tty

        fd = stdin.fileno()
        old = termios.tcgetattr(fd)
        tty.setcbreak(fd)  # one key at a time, no echo; ctrl+c still interrupts
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if ready and os.read(fd, 1) in (b"q", b"Q", b""):
                    return
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
    if stdin is not None and not stdin.closed:
        for line in stdin:
            if line.strip().lower() in ("q", "quit"):
                return
    threading.Event().wait()


def _open_store() -> Any:
    from tutor.progress import ProgressError, ProgressStore

    try:
        return ProgressStore.open()
    except (ProgressError, OSError) as exc:
        print(f"tutor: {exc}; checks are shown but not saved to your progress", file=sys.stderr)
        return None


def cmd_watch(args: argparse.Namespace) -> int:
    """`tutor watch LESSON [--file PATH]`."""
    from tutor.cli import EXIT_OK, UsageError, _find, _make_grader, _out
    from tutor.editor_cli import program_path

    lesson = _find(args, args.lesson)
    path = program_path(args, lesson)
    if not path.exists():
        raise UsageError(f"{one_line(str(path))} does not exist: write it with `tutor edit {lesson.id}`"
                         + (f" --file {one_line(str(path))}" if args.file else "") + ", or give --file the path of yours")
    grader, evaluator = _make_grader([lesson], args.require_isolation)
    store = _open_store()
    watch = ProgramWatch(lesson, path, grader, store)
    stop = threading.Event()
    checker = threading.Thread(target=watch.run_checks, name="tutor-watch-check", daemon=True)
    watcher = threading.Thread(target=_watch_file, args=(path.resolve(), stop, watch.saved), name="tutor-watch-files", daemon=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    _out(f"Watching {one_line(str(path))}: each save is checked; q or ctrl+c quits.")
    try:
        watcher.start()
        checker.start()
        watch.saved()  # the first check
        try:
            _wait_for_quit()
        except KeyboardInterrupt:
            pass
        if watch.busy:
            _out("Stopping: the check in flight ends at its next run…")
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop.set()
        watch.stop()
        checker.join()
        watcher.join(timeout=2 * STEP_MS / 1000 + 5)
        evaluator.close()
        if store is not None:
            store.close()
    _out(f"Stopped watching {one_line(str(path))}" + (f" after {watch.checks} check(s), saved to your progress." if store and watch.checks else "."))
    return EXIT_OK


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt
