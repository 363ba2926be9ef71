"""The seams the app is built on, typed: what it asks of a grader (and what a test's stand-in must
offer, checked against the real `Grader` in tests/test_seams.py). Light: nothing heavy is imported."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tutor.grading.report import GradeReport
    from tutor.lesson.model import Lesson


@runtime_checkable
class GraderLike(Protocol):
    """Grades one set of answers to a lesson; `cancelled` is polled, `on_output` gets the learner's
    run's printed lines as they come."""

    def grade(self, lesson: Lesson, answers: dict[str, str], cancelled: Callable[[], bool] | None = None,
              on_output: Callable[[str], None] | None = None) -> GradeReport: ...
