"""Grading a class: every hand-in of one lesson, by N warm graders in parallel, one row each.

Decisions, written down:

- Every hand-in is read first, in this thread and in input order (tutor.classroom.submissions):
  reading is quick, and a file that cannot be read (missing, a device, huge, not UTF-8, not TOML,
  a hostile shape) gets its row with `error` and is never sent to a grader.
- `jobs` graders, each over its own warm evaluator (tutor.grading.factory.make_grader, the one way
  to make one), started at the same time; each takes the next hand-in not yet taken and grades it
  alone (`Grader.grade`). A learner program that hangs holds one grader for the lesson's timeout
  while the others go on; with `jobs=1` it costs that timeout, never more. Each grader runs the
  lesson's reference once. Grading is deterministic (same seeds, same data), so the rows are the
  same whatever `jobs` is and whichever grader took a file; only `elapsed` differs.
- A batch never stops for one file: what a grading raises for an answer that cannot be graded
  (too long, too deep, a value the grader refuses) becomes that row's `error`, and so does an
  unexpected failure of the grader on one file (with a sentence saying it is a bug in the tutor,
  so it is reported, not hidden). Only what concerns every file stops the batch: the lesson's own
  reference program failing (LessonRunError) or a sandbox refusing to start (EvaluatorError).
- `on_graded(index, row)` is called in this thread, in input order, as soon as a row and every row
  before it are ready, so a command line prints the class in order while it is graded.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from tutor.classroom.submissions import HandIn, SubmissionError, read_hand_in
from tutor.grading.report import GradeReport
from tutor.lesson.model import Lesson

MAX_DEFAULT_JOBS = 4  # graders started when --jobs is not given: each is a process with numpy (and torch) loaded


@dataclass
class Graded:
    """One hand-in's row: its report, or the sentence saying why it could not be graded."""

    path: Path
    report: GradeReport | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.report is not None and self.report.passed


def default_jobs() -> int:
    """The cores this process may use, at most MAX_DEFAULT_JOBS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_JOBS))


def read_class(lesson: Lesson, entries: Iterable[HandIn]) -> tuple[list[Graded], dict[int, dict[str, str]]]:
    """A row per entry (with `error` for one that cannot be read) and the answers of the others, by row."""
    rows: list[Graded] = []
    answers: dict[int, dict[str, str]] = {}
    for i, entry in enumerate(entries):
        row = Graded(entry.path, error=entry.problem)
        rows.append(row)
        if entry.problem is not None:
            continue
        try:
            answers[i], row.warnings = read_hand_in(entry.path, lesson)
        except SubmissionError as exc:
            row.error = exc.sentence
    return rows, answers


def grade_one(grader: Any, lesson: Lesson, answers: dict[str, str], cancelled: Callable[[], bool]) -> tuple[GradeReport | None, str | None]:
    """(report, None), or (None, why) for answers that cannot be graded. LessonRunError goes up."""
    try:
        return grader.grade(lesson, answers, cancelled=cancelled), None
    except (RecursionError, MemoryError) as exc:  # the grader refuses such answers: a fallback
        return None, f"an answer is too long or nested too deeply to grade ({type(exc).__name__}): shorten it"
    except (ValueError, OverflowError) as exc:
        return None, f"the answers could not be graded ({type(exc).__name__}: {str(exc)[:200]}): check the answers in it"


def grade_class(lesson: Lesson, entries: Iterable[HandIn], *, jobs: int, make_grader: Callable[[], Any],
                on_graded: Callable[[int, Graded], None] | None = None) -> list[Graded]:
    """A row per entry, in input order. `make_grader()` makes one grader over its own evaluator (it
    is closed here); at most `jobs` are made, never more than there are files to grade."""
    from tutor.grading.grader import Cancelled, LessonRunError

    rows, answers = read_class(lesson, entries)
    todo = sorted(answers)
    done: queue.Queue[tuple[str, int, Any]] = queue.Queue()
    stop = threading.Event()
    lock = threading.Lock()
    pending = iter(todo)

    def take() -> int | None:
        with lock:
            return next(pending, None)

    def work() -> None:
        grader = None
        try:
            grader = make_grader()
            while not stop.is_set():
                i = take()
                if i is None:
                    break
                try:
                    report, error = grade_one(grader, lesson, answers[i], stop.is_set)
                except (LessonRunError, Cancelled):
                    raise
                except Exception as exc:  # noqa: BLE001 - one file's bug must not cost the class its grades
                    report, error = None, (f"the tutor failed while grading this file ({type(exc).__name__}: {str(exc)[:200]});"
                                           " this is a bug in the tutor: please report it with the file")
                done.put(("row", i, (report, error)))
        except Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
            done.put(("fatal", -1, exc))
        finally:
            if grader is not None:
                grader.evaluator.close()
            done.put(("left", -1, None))

    workers = [threading.Thread(target=work, name=f"tutor-grade-{n}", daemon=True)
               for n in range(max(1, min(jobs, len(todo))) if todo else 0)]
    for t in workers:
        t.start()
    shown = 0
    ready = set(range(len(rows))) - set(todo)
    left = len(workers)
    fatal: BaseException | None = None
    try:
        while True:
            while shown < len(rows) and shown in ready:
                if on_graded is not None:
                    on_graded(shown, rows[shown])
                shown += 1
            if left == 0:
                break
            what, i, value = done.get()
            if what == "row":
                rows[i].report, rows[i].error = value
                ready.add(i)
            elif what == "fatal":
                fatal = fatal or value
                stop.set()
            else:
                left -= 1
    finally:
        stop.set()
        for t in workers:
            t.join()
    if fatal is not None:
        raise fatal
    return rows
