"""Nothing a learner types crashes the grader: every answer ends in a verdict for every blank."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tutor.grading.grader import Grader
from tutor.lesson import find_lesson, load_lessons
from tutor.paths import builtin_lessons_dir
from tutor.sandbox import Evaluator

VERDICTS = {"correct", "incorrect", "missing", "error"}


@pytest.fixture(scope="module")
def setup():
    lessons = load_lessons(builtin_lessons_dir())
    ev = Evaluator(preload=("numpy", "torch"))
    yield Grader(ev), lessons
    ev.close()


# Fragments a learner plausibly types, recombined: names, operators, calls, brackets, junk.
PIECES = st.sampled_from(
    ["w", "b", "X", "y", "dw", "db", "np.mean(", "np.sum(", ")", "(", "*", "-", "+", "/", "**", "2", "0.5",
     "learning_rate", "len(X)", ".mean()", "[", "]", ",", "model", "(X_tensor)", "torch.tensor(", "nn.Linear(1, 1)",
     "criterion", "loss", ".backward()", "step()", "zero_grad()", "'text'", "None", "lambda: 0", ":", "=",
     "\n", "\t", " ", "#", "{", "}", "\\", "\x00", "é", "__class__", ".reshape(-1, 1)", "1e308", "np.inf"]
)
ANSWER = st.one_of(st.text(max_size=40), st.lists(PIECES, max_size=12).map("".join))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_answer_gets_a_verdict(setup, data):
    grader, lessons = setup
    lesson = data.draw(st.sampled_from(lessons))
    answers = lesson.reference_answers()
    names = data.draw(st.lists(st.sampled_from(list(answers)), min_size=1, max_size=3, unique=True))
    for name in names:
        answers[name] = data.draw(ANSWER)
    report = grader.grade(lesson, answers)
    assert set(report.blanks) == set(lesson.blanks)
    for name, b in report.blanks.items():
        assert b.verdict in VERDICTS
        assert b.message and "Traceback" not in b.message
        if b.verdict != "correct":
            assert b.diagnosis
    untouched = [n for n in lesson.blanks if n not in names]
    # A wrong answer elsewhere never makes an untouched reference answer wrong.
    for n in untouched:
        assert report.blanks[n].verdict == "correct", (n, report.blanks[n].message, {k: answers[k] for k in names})
