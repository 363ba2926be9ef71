"""Verdicts a learner can trust: a ✓ is true, the real cause is named, equivalent code is right.

Each class is tried with several answers across lessons, with only the blanks in question answered
(a learner mid-lesson: the rest missing) and with every other blank right.
"""

from __future__ import annotations

import pytest
from lesson_checks import assert_accepted, assert_only_wrong, grade, lesson

MLP = "nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 1))"


def _partial(grader, les, **answers):
    """Only these blanks answered, as a learner mid-lesson."""
    return grader.grade(les, answers)


# ---- 1. a ✓ must be true: what later lines rely on is part of a value ---------------------------------


@pytest.mark.parametrize("key, blank, text, words", [
    ("autograd-basics", "w", "torch.tensor(2.0)", "requires_grad is False"),
    ("autograd-basics", "w", "torch.tensor(2.0, requires_grad=False)", "requires_grad is False"),
    ("autograd-basics", "w", "2 * torch.ones((), requires_grad=True)", "not a leaf"),
    ("autograd-basics", "w", "torch.tensor([2.0], requires_grad=True)[0]", "not a leaf"),
    ("autograd-basics", "w", "torch.tensor(2.0, requires_grad=True) + 0", "not a leaf"),
])
def test_a_tensor_autograd_cannot_use_is_not_right(grader, lessons, key, blank, text, words) -> None:
    les = lesson(lessons, key)
    for report in (grade(grader, les, **{blank: text}), _partial(grader, les, **{blank: text, "backward": "z.backward()"})):
        b = report.blanks[blank]
        assert (b.verdict, b.diagnosis) == ("incorrect", "wrong_type"), (b.verdict, b.diagnosis, b.message)
        assert words in b.message
        assert not report.passed
    assert_only_wrong(grade(grader, les, **{blank: text}), blank, {"wrong_type"})


def test_a_tensor_of_the_wrong_dtype_is_not_right_even_with_the_right_number(grader, lessons) -> None:
    report = _partial(grader, lesson(lessons, "autograd-basics"), w="torch.tensor(2.0, dtype=torch.float64, requires_grad=True)")
    assert report.blanks["w"].diagnosis == "dtype_mismatch"


@pytest.mark.parametrize("text", [
    "torch.tensor(2.0).requires_grad_()",
    "torch.full((), 2.0, requires_grad=True)",
    "torch.tensor(2., requires_grad=True)",
])
def test_the_same_tensor_written_otherwise_is_right(grader, lessons, text) -> None:
    les = lesson(lessons, "autograd-basics")
    assert_accepted(grade(grader, les, w=text), "w")
    report = _partial(grader, les, w=text, backward="z.backward()")
    assert report.blanks["w"].verdict == "correct" and report.blanks["backward"].verdict == "correct"


def test_a_module_in_the_wrong_mode_is_not_right(grader, lessons) -> None:
    for key, blank, text in (("linreg-torch", "model", "nn.Linear(1, 1).eval()"),
                             ("logreg-torch", "model", "LogisticRegression(1, 1).eval()")):
        report = grade(grader, lesson(lessons, key), **{blank: text})
        b = report.blanks[blank]
        assert (b.verdict, b.diagnosis) == ("incorrect", "wrong_type"), (key, b.message)
        assert "mode" in b.message


# ---- 2. blame the cause, not the place it surfaced -------------------------------------------------


@pytest.mark.parametrize("key, blank, text", [
    ("autograd-basics", "backward", "z.backward"),
    ("autograd-basics", "backward", "pass"),
    ("autograd-basics", "backward", "z"),
    ("autograd-basics", "update", "with torch.no_grad():\n    x - lr * x.grad\n"),
    ("autograd-basics", "update", "with torch.no_grad():\n    x.grad\n"),
    ("zero-grad", "zero_grad", "optimizer.zero_grad"),
])
def test_a_statement_that_does_nothing_is_no_effect(grader, lessons, key, blank, text) -> None:
    report = grade(grader, lesson(lessons, key), **{blank: text})
    assert_only_wrong(report, blank, {"no_effect"})
    b = report.blanks[blank]
    assert "no effect" in b.message and "no attribute" not in b.message
    les = lesson(lessons, key)
    if les.blanks[blank].diagnosis_hints.get("no_effect"):
        assert b.hint == les.blanks[blank].diagnosis_hints["no_effect"]


def test_the_run_failing_on_a_right_line_is_traced_to_its_cause(grader, lessons) -> None:
    # `z.backward()` is where the run fails, but the cause is `w`: backward stays right.
    les = lesson(lessons, "autograd-basics")
    for w in ("torch.tensor(2.0)", "2 * torch.ones((), requires_grad=True)"):
        report = _partial(grader, les, w=w, backward="z.backward()")
        assert report.blanks["backward"].verdict == "correct"
        assert report.blanks["w"].verdict == "incorrect"
    # A rewritten but right backward (`z.backward(retain_graph=False)`) is not blamed for `w` either.
    report = _partial(grader, les, w="torch.tensor(2.0)", backward="z.backward(retain_graph=False)")
    assert report.blanks["backward"].verdict == "correct", report.blanks["backward"].message
    assert report.blanks["w"].verdict == "incorrect"


def test_a_statement_that_does_something_wrong_is_not_called_no_effect(grader, lessons) -> None:
    report = grade(grader, lesson(lessons, "autograd-basics"), backward="y.backward()")
    b = report.blanks["backward"]
    assert b.verdict != "correct" and b.diagnosis != "no_effect", (b.diagnosis, b.message)


# ---- 4. equivalent code is right ------------------------------------------------------------------


@pytest.mark.parametrize("key, blank, text", [
    ("logreg-torch", "super_init", "nn.Module.__init__(self)"),
    ("logreg-torch", "super_init", "torch.nn.Module.__init__(self)"),
    ("logreg-torch", "super_init", "super(LogisticRegression, self).__init__()"),
    # (mlp-regression's in-place ReLUs, `inplace=True` and `ReLU(True)`: the answer corpus's first set
    # and tests/test_lessons_mlp.py's variants; a 10000-epoch run each)
])
def test_equivalent_code_is_right(grader, lessons, key, blank, text) -> None:
    les = lesson(lessons, key)
    report = _partial(grader, les, **{blank: text})
    assert report.blanks[blank].verdict == "correct", report.blanks[blank].message


@pytest.mark.parametrize("text, sizes", [
    (MLP.replace("nn.Linear(20, 10)", "nn.Linear(30, 10)"), ("20", "30")),
    (MLP.replace("nn.Linear(10, 20)", "nn.Linear(10, 30)"), ("20", "30")),
    (MLP.replace("nn.Linear(1, 10)", "nn.Linear(1, 20)"), ("10", "20")),
])
def test_layer_sizes_that_differ_are_a_shape_mismatch_naming_both(grader, lessons, text, sizes) -> None:
    report = _partial(grader, lesson(lessons, "mlp-regression"), model=text)
    b = report.blanks["model"]
    assert (b.verdict, b.diagnosis) == ("incorrect", "shape_mismatch"), b.message
    assert all(s in b.message for s in sizes), b.message


def test_the_policy_still_refuses_init_on_other_objects(grader, lessons) -> None:
    report = _partial(grader, lesson(lessons, "logreg-torch"), super_init="self.linear.__init__(self)")
    assert report.blanks["super_init"].diagnosis == "forbidden"


# ---- 1. ... and a blank no run reached is "not judged yet", never ✓ -----------------------------------

UNREACHED = '''+++
id = "unreached"
title = "A blank in a branch the program never takes"
+++

## Step

```python
w = 0.0
w_list = []
for i in range(3):
    if i > 10:
        w = {{never: w + 1}}
    w = {{step: w + 0.5}}
    w_list.append(w)
```

```toml check
[compare]
w_list = {}
```
'''


def test_a_blank_no_run_reaches_is_not_judged(grader, tmp_path) -> None:
    from tutor.grading.verdicts import MARKS
    from tutor.lesson import parse_lesson

    path = tmp_path / "001-unreached.md"
    path.write_text(UNREACHED)
    les = parse_lesson(path)
    for text in ("1 + w", "w + 2", "w - 1"):  # right or wrong: no run can tell
        report = grader.grade(les, {"never": text, "step": "w + 0.5"})
        b = report.blanks["never"]
        assert b.verdict == "unjudged" and "not judged yet" in b.message, (text, b.verdict, b.message)
        assert MARKS[b.verdict] != MARKS["correct"]
        assert report.blanks["step"].verdict == "correct" and not report.passed
    # The reference's own text is right as it stands, and a reached blank is judged as ever.
    assert grader.grade(les, {"never": "w + 1", "step": "w + 0.5"}).passed
    assert grader.grade(les, {"never": "w + 1", "step": "0.5 + w"}).passed
    assert grader.grade(les, {"never": "w + 1", "step": "w + 0.25"}).blanks["step"].verdict == "incorrect"
