"""Fixtures shared by the test modules: the built-in lessons and one warm grader for the session."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile

import pytest

from tutor.grading.factory import reference_cache
from tutor.grading.grader import Grader
from tutor.lesson import load_lessons
from tutor.paths import builtin_lessons_dir
from tutor.sandbox import Evaluator


@pytest.fixture(scope="session")
def lessons():
    return load_lessons(builtin_lessons_dir())


@pytest.fixture(scope="session")
def grader():
    ev = Evaluator(preload=("numpy", "torch"))
    yield Grader(ev, ref_cache=reference_cache())
    ev.close()


def pytest_configure(config):
    """One cache folder for the whole run, fresh (never the user's own): the xdist workers and the
    `tutor` commands the tests start inherit $TUTOR_CACHE, so each lesson's reference run is made
    once per run, as it is once per machine for a user."""
    if not hasattr(config, "workerinput"):
        config.tutor_cache = tempfile.mkdtemp(prefix="tutor-test-cache-")
        os.environ["TUTOR_CACHE"] = config.tutor_cache


def pytest_unconfigure(config):
    folder = getattr(config, "tutor_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def _quick_pilot_waits() -> None:
    """Textual's pilot waits after each key it presses until the process has been idle for a whole
    sleep of `SLEEP_GRANULARITY` (20 ms, twice a key): some 40 ms of nothing a key, most of the app
    tests' wall time (the 66 app tests: 118 s -> 96 s, CPU time the same). With 5 ms the rule is
    Textual's own: the wait ends after a sleep in which the process used under a twentieth of it.
    Waiting for the app's workers (a check in flight) is the settle() helpers' job, as before."""
    from textual import _wait

    _wait.SLEEP_GRANULARITY = 1 / 200
    _wait.SLEEP_IDLE = _wait.SLEEP_GRANULARITY / 20


_quick_pilot_waits()


def _sigint_as_a_terminal_gives_it() -> None:
    """A shell that starts the suite in the background (`pytest &`, `nohup`, some CI runners) hands it
    SIGINT ignored, and every process a test starts inherits that: `tutor watch` and `tutor serve`
    then never see the Ctrl+C their tests send (each waited its 60 s and failed). Python's own
    handler here becomes the default again in the processes the tests start."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_sigint_as_a_terminal_gives_it()


def pytest_collection_modifyitems(config, items):
    """The `slow` tests (a minute or more each) run first: with `-n` the other worker takes the short
    ones meanwhile, instead of one long test starting last and keeping the run open alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject addopts): a worker per core this process may use, at most 4. Each worker
    holds a warm evaluator (torch loaded, a pre-forked pool), and the tests that time a run or wait
    on a terminal need a core to themselves more than more company."""
    return max(1, min(len(os.sched_getaffinity(0)), 4))
