"""Nothing a learner types crashes the grader: every answer ends in a verdict for every blank.

Most examples fuzz what happens before anything runs, in this process: the static check of every
answer and the building (and compiling) of the programs the grader would send to the evaluator.
A few examples, on the numpy lessons (whose runs take a fraction of a second), are graded end to end
with the session's warm grader (conftest.py).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tutor.grading import programs
from tutor.grading.grader import GradeContext, Grader, _compiles

VERDICTS = {"correct", "incorrect", "missing", "error"}

# Fragments a learner plausibly types, recombined: names, operators, calls, brackets, junk.
PIECES = st.sampled_from(
    ["w", "b", "X", "y", "dw", "db", "np.mean(", "np.sum(", ")", "(", "*", "-", "+", "/", "**", "2", "0.5",
     "learning_rate", "len(X)", ".mean()", "[", "]", ",", "model", "(X_tensor)", "torch.tensor(", "nn.Linear(1, 1)",
     "criterion", "loss", ".backward()", "step()", "zero_grad()", "'text'", "None", "lambda: 0", ":", "=",
     "\n", "\t", " ", "#", "{", "}", "\\", "\x00", "é", "__class__", ".reshape(-1, 1)", "1e308", "np.inf"]
)
ANSWER = st.one_of(st.text(max_size=40), st.lists(PIECES, max_size=12).map("".join))


def _answers(data, lesson) -> tuple[dict[str, str], list[str]]:
    """The lesson's reference answers with one to three of them replaced by fuzzed text."""
    answers = lesson.reference_answers()
    names = data.draw(st.lists(st.sampled_from(list(answers)), min_size=1, max_size=3, unique=True))
    for name in names:
        answers[name] = data.draw(ANSWER)
    return answers, names


def _assert_verdict(b) -> None:
    assert b.verdict in VERDICTS
    assert b.message and "Traceback" not in b.message
    if b.verdict != "correct":
        assert b.diagnosis


class _NoEvaluator:
    """Stage 1 and the building of programs run nothing: any run asked for fails the test."""

    def run(self, jobs, on_output=None):
        raise AssertionError("the static check ran a program")


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # compiling fuzzed answers: `2(x)` warns, as in the grader
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_answer_passes_the_static_check_or_gets_a_verdict(lessons, data):
    """Stage 1 (tutor/grading/static.py, through the grader's `_check_answers`) gives every refused
    answer a verdict and a sentence; what it lets through builds into the learner's, the shadow and the
    isolation programs the later stages run, and those compile."""
    lesson = lessons[data.draw(st.integers(0, len(lessons) - 1))]  # an index: a lesson's repr is huge
    answers, names = _answers(data, lesson)
    grader = Grader(_NoEvaluator())
    ctx = GradeContext(lesson, answers, lambda: False, None)
    grader._check_answers(ctx)
    assert set(ctx.results) | set(ctx.valid) == set(lesson.blanks)  # refused (with its verdict), or may run
    for b in ctx.results.values():
        _assert_verdict(b)
    for n in lesson.blanks:
        if n not in names:
            # A wrong answer elsewhere never makes an untouched reference answer refused or "rewritten".
            assert n in ctx.valid and not ctx.rewritten(n), (n, ctx.results.get(n), {k: answers[k] for k in names})
    if not ctx.valid:
        return
    shadowed = set(ctx.exprs)
    built = [programs.build(lesson, answers=ctx.valid, learner=set(ctx.valid), check=shadowed)]  # the learner's run
    if shadowed:
        built.append(programs.build(lesson, answers=ctx.valid, shadow=shadowed))  # the shadow run
    for name in ctx.valid:  # isolation runs: one learner blank in the reference program
        built.append(programs.build(lesson, answers=ctx.valid, learner={name}))
    for prog in built:
        assert _compiles(prog.source), ({k: answers[k] for k in names}, prog.source)


@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_any_answer_gets_a_verdict(grader, lessons, data):
    """End to end, with the runs: every blank gets a verdict, and untouched blanks stay correct."""
    numpy_lessons = [l for l in lessons if l.framework == "numpy"]
    assert numpy_lessons
    lesson = numpy_lessons[data.draw(st.integers(0, len(numpy_lessons) - 1))]
    answers, names = _answers(data, lesson)
    report = grader.grade(lesson, answers)
    assert set(report.blanks) == set(lesson.blanks)
    for b in report.blanks.values():
        _assert_verdict(b)
    # A wrong answer elsewhere never makes an untouched reference answer wrong.
    for n in lesson.blanks:
        if n not in names:
            assert report.blanks[n].verdict == "correct", (n, report.blanks[n].message, {k: answers[k] for k in names})


@pytest.mark.parametrize("key, blank", [("logreg-torch", "super_init"), ("zero-grad", "zero_grad"), ("linreg-y2x", "step"),
                                        ("linreg-y2x", "zero_grad"), ("linreg-numpy", "dw")])
def test_an_answer_ending_in_a_backslash_is_refused_not_joined_to_the_next_line(lessons, key, blank):
    # Found by the fuzz test: `\` alone compiled in the unmarked program (it joins the next line) and
    # broke the program the learner's run has, whose hooks follow the answer's line.
    lesson = next(l for l in lessons if l.id == key)
    ctx = GradeContext(lesson, {blank: "\\"}, lambda: False, None)
    Grader(_NoEvaluator())._check_answers(ctx)
    got = ctx.results[blank]
    assert (got.verdict, got.diagnosis) == ("error", "syntax_error") and "`\\`" in got.message, got.message
