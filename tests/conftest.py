"""Fixtures shared by the test modules: the built-in lessons and one warm grader for the session."""

from __future__ import annotations

import pytest

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
    yield Grader(ev)
    ev.close()
