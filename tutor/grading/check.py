"""`tutor check`: run every reference, then make sure the grader catches typical wrong answers.

The runs go to the evaluator in few, parallel requests: every lesson's reference run in one, then for
each lesson the grading of its reference answers and of every mutant together (`Grader.grade_many`,
which gives each the verdicts `grade` would). A lesson's `check_seconds` is that grading's time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tutor.grading.grader import Grader, LessonRunError, gives_away
from tutor.grading.mutants import mutants
from tutor.lesson.model import Lesson


@dataclass
class LessonCheck:
    lesson: str
    path: str
    reference_error: str | None = None
    reference_passes: bool = False
    caught: int = 0
    survivors: list[str] = field(default_factory=list)  # "blank: label: text"
    notes: list[str] = field(default_factory=list)  # what a learner would see wrongly, short of a missed answer
    reference_seconds: float = 0.0
    check_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reference_error is None and self.reference_passes and not self.survivors

    def to_json(self) -> dict[str, Any]:
        return {
            "lesson": self.lesson, "path": self.path, "ok": self.ok, "reference_error": self.reference_error,
            "reference_passes": self.reference_passes, "mutants_caught": self.caught, "survivors": self.survivors,
            "notes": self.notes,
            "reference_seconds": round(self.reference_seconds, 3), "check_seconds": round(self.check_seconds, 3),
        }


def check_lesson(grader: Grader, lesson: Lesson) -> LessonCheck:
    start = time.perf_counter()
    out = LessonCheck(lesson.id, str(lesson.path))
    try:
        ref = grader.reference(lesson)
        out.reference_seconds = ref.wall
    except LessonRunError as exc:
        out.reference_error = str(exc)
        out.check_seconds = time.perf_counter() - start
        return out
    answers = lesson.reference_answers()
    tried = [m for blank in lesson.blanks.values() for m in mutants(blank)]
    # The reference answers and every mutant are graded together: their runs go to the evaluator as one
    # request (then one per later round of isolation runs), which runs them in parallel.
    report, *graded = grader.grade_many(lesson, [answers] + [{**answers, m.blank: m.text} for m in tried])
    out.reference_passes = report.passed
    if not report.passed:
        wrong = [f"{n}: {b.diagnosis}: {b.message}" for n, b in report.blanks.items() if b.verdict != "correct"]
        out.survivors.append("the reference answers themselves are not all accepted: " + "; ".join(wrong))
    for blank in lesson.blanks.values():
        for code, hint in blank.diagnosis_hints.items():
            if gives_away(blank, hint):
                out.notes.append(f"{blank.name}: the hint for `{code}` shows the answer, so it is never shown with a "
                                 "verdict: the answer belongs in the last of `hints` only")
    for m, rep in zip(tried, graded):
        if rep.blanks[m.blank].verdict == "correct":
            out.survivors.append(f"{m.blank}: {m.label}: `{m.text}` is accepted as correct")
        else:
            out.caught += 1
    out.check_seconds = time.perf_counter() - start
    return out


def check_lessons(grader: Grader, lessons: list[Lesson], progress: Callable[[str], None] | None = None) -> list[LessonCheck]:
    grader.references(lessons)  # every lesson's reference run at once, in parallel
    reports = []
    for lesson in lessons:
        r = check_lesson(grader, lesson)
        reports.append(r)
        if progress is not None:
            if r.reference_error:
                progress(f"FAIL {lesson.id}: {r.reference_error}")
                continue
            state = "ok  " if r.ok else "FAIL"
            progress(
                f"{state} {lesson.id}: reference runs in {r.reference_seconds:.2f} s, "
                f"{r.caught} wrong answers caught, {len(r.survivors)} missed ({r.check_seconds:.1f} s)"
            )
            for s in r.survivors:
                progress(f"     missed {s}")
            for n in r.notes:
                progress(f"     note {n}")
    return reports
