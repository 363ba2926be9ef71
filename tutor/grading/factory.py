"""The one way to make a grader, for the command line and the app alike (light to import: the
evaluator and numpy are loaded when it is called)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator


def make_grader(lessons: Iterable[Any], *, require_isolation: bool = False, wait: bool = True) -> Any:
    """A Grader over its own evaluator, with numpy and, when any lesson is a torch one, torch loaded.
    With `wait` the evaluator is started here (with `require_isolation`, a missing sandbox layer then
    raises EvaluatorError with one sentence naming it); otherwise it starts on its first run.

    With `wait`, the worker process is started before the grader's own modules are imported, so
    the worker's imports of numpy and torch (seconds) overlap this process's (a fraction of one)."""
    from tutor.sandbox import Evaluator

    preload = ("numpy", "torch") if any(getattr(l, "framework", "") == "torch" for l in lessons) else ("numpy",)
    evaluator = Evaluator(preload=preload, require_isolation=require_isolation)
    try:
        if wait:
            evaluator.start()  # returns at once: the worker imports and warms up meanwhile
        from tutor.grading.grader import Grader

        if wait:
            evaluator.start(wait=True)
    except BaseException:
        evaluator.close()
        raise
    return Grader(evaluator, ref_cache=reference_cache())


def reference_cache() -> Any:
    """The reference runs kept on disk, under the tutor's cache folder (tutor/grading/refcache.py)."""
    from tutor.grading.refcache import ReferenceCache
    from tutor.paths import cache_dir

    return ReferenceCache(cache_dir() / "references")


@contextmanager
def stoppable() -> Iterator[Any]:
    """Inside it, every evaluator a grader factory makes in this thread is recorded; the handle's
    `kill()`, called from any thread, stops them at once, ready or still starting, and any made
    after it as soon as it is made. How the app quits without waiting for the sandbox."""
    from tutor.sandbox.client import track_evaluators

    with track_evaluators() as tracked:
        yield tracked
