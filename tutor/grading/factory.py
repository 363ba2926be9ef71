"""The one way to make a grader, for the command line and the app alike (light to import: the
evaluator and numpy are loaded when it is called)."""

from __future__ import annotations

from typing import Any, Iterable


def make_grader(lessons: Iterable[Any], *, require_isolation: bool = False, wait: bool = True) -> Any:
    """A Grader over its own evaluator, with numpy and, when any lesson is a torch one, torch loaded.
    With `wait` the evaluator is started here (with `require_isolation`, a missing sandbox layer then
    raises EvaluatorError with one sentence naming it); otherwise it starts on its first run."""
    from tutor.grading.grader import Grader
    from tutor.sandbox import Evaluator, EvaluatorError

    preload = ("numpy", "torch") if any(getattr(l, "framework", "") == "torch" for l in lessons) else ("numpy",)
    evaluator = Evaluator(preload=preload, require_isolation=require_isolation)
    if wait:
        try:
            evaluator.start(wait=True)
        except EvaluatorError:
            evaluator.close()
            raise
    return Grader(evaluator)
