"""Helpers for the lesson test modules: grade one changed answer, read the reference run's values."""

from __future__ import annotations

from tutor.lesson import find_lesson


def lesson(lessons, key):
    found = find_lesson(lessons, key)
    assert found is not None, key
    return found


def grade(grader, les, **changes):
    return grader.grade(les, {**les.reference_answers(), **changes})


def captured(grader, les, step, expr):
    value = grader.reference(les).captures[str(step)][expr]
    assert value.array is not None, (expr, value)
    return value.array


def assert_only_wrong(report, blank, diagnoses):
    got = report.blanks[blank]
    assert got.verdict in ("incorrect", "error"), (blank, got.verdict, got.message)
    assert got.diagnosis in diagnoses, (blank, got.diagnosis, got.message)
    others = {n: b.diagnosis for n, b in report.blanks.items() if n != blank and b.verdict != "correct"}
    assert not others, others


def assert_accepted(report, blank):
    assert report.blanks[blank].verdict == "correct", report.blanks[blank].message
    assert report.passed, {n: b.message for n, b in report.blanks.items() if b.verdict != "correct"}
