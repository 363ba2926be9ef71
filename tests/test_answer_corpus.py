"""Verdicts a learner can trust: every case of the learner-answer corpus, graded.

The corpus (tests/answer_corpus.py) holds, for every built-in lesson, answers a learner would write
their own way (each must be accepted) and typical mistakes (each must be rejected, with the right blank
named, a specific diagnosis from the case's set, and no other blank blamed), plus partial answer sets
(a learner mid-lesson: the blanks not yet answered must come back `missing`, the answered ones judged
as above). One warm grader serves the whole session; the two long lessons (mlp-regression,
digits-lr-vs-mlp) are kept to a few answer sets, several equivalent answers to one set.

`python benchmarks/corpus_report.py` grades the same corpus and prints the per-lesson counts.
"""

from __future__ import annotations

import pytest
from answer_corpus import ACCEPT, CASES
from lesson_checks import lesson


def _verdicts(report, names):
    return {n: (report.blanks[n].verdict, report.blanks[n].diagnosis, report.blanks[n].message) for n in names}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_corpus_case(grader, lessons, case):
    les = lesson(lessons, case.lesson)
    answers = case.answers(les)
    report = grader.grade(les, answers)
    assert set(report.blanks) == set(les.blanks)

    # Blanks without an answer are `missing`, never called wrong (nor right).
    unanswered = [n for n in les.blanks if n not in answers]
    assert all(report.blanks[n].verdict == "missing" for n in unanswered), _verdicts(report, unanswered)

    if case.expect == ACCEPT:
        wrong = {n: v for n, v in _verdicts(report, answers).items() if v[0] != "correct"}
        assert not wrong, (case.why, wrong)
        if not case.partial:
            assert report.passed
        return

    got = report.blanks[case.blank]
    assert got.verdict in ("incorrect", "error"), (case.why, case.blank, got.verdict, got.message)
    assert got.diagnosis in case.diagnoses, (case.why, case.blank, got.diagnosis, got.message)
    others = {n: v for n, v in _verdicts(report, answers).items() if n != case.blank and v[0] != "correct"}
    assert not others, (case.why, others)
