"""Verdicts a learner can trust: a `scaled` factor is one the learner can
act on and that the numbers show; no sentence gives the answer away before the hints do; and the small
truths (a syntax error's column, a chart's "runs off" value, "from the first time it runs", a step
named but not called).

Each class is tried with several examples, through the grader where a learner would meet it and on
the diagnosis functions directly where the numbers matter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lesson_checks import assert_accepted, assert_only_wrong, grade, lesson

from tutor import charts
from tutor.grading.diagnose import CODES, Sizes, _when, compare, compare_runs, explain_factor
from tutor.grading.grader import gives_away, learning_rates, static_check, verdict_hint
from tutor.grading.mutants import mutants
from tutor.lesson import find_lesson, load_lessons, parse_lesson_text
from tutor.sandbox.results import Value

FIXTURES = Path(__file__).parent / "fixtures" / "lessons"


def arr(values, dtype: str = "float64") -> Value:
    a = np.asarray(values, dtype=float)
    return Value(kind="array", type="ndarray", dtype=dtype, shape=a.shape, array=a, scalar=a.ndim == 0)


def diagnose(ref, got, sizes=(), **kw):
    return compare("v", arr(ref), arr(got), sizes=sizes if isinstance(sizes, Sizes) else list(sizes), **kw)


def squeeze(text: str) -> str:
    return "".join(text.split())


# ---- 3. `scaled` only when a factor explains it -----------------------------------------------------

BASE = [1.5, -2.0, 3.25, 0.5]


@pytest.mark.parametrize("k, label, words", [
    (2.0, "2", "factor 2 there twice"),
    (0.5, "1/2", "factor of 2 may be missing"),
    (3.0, "3", "factor 3"),
    (0.25, "1/4", "factor of 4 may be missing"),
    (-2.0, "-2", "sign is flipped too"),
    (-1 / 3, "-1/3", "sign is flipped too"),
])
def test_small_factors_shown_by_several_numbers_are_scaled(k, label, words) -> None:
    d = diagnose(BASE, [k * v for v in BASE])
    assert d.code == "scaled", d.message
    assert f"is {label} times" in d.message and words in d.message
    assert d.factor == pytest.approx(k)


@pytest.mark.parametrize("k", [1 / 8, 8.0, 5.0, 1.0417, 0.96, 7.5, -0.3])
def test_a_ratio_no_factor_explains_is_wrong_value(k) -> None:
    d = diagnose(BASE, [k * v for v in BASE])
    assert d.code == "wrong_value", d.message
    assert "times" not in d.message and d.factor is None


def test_the_update_thrown_away_is_not_one_point_zero_four_times() -> None:
    # x = (2, 3) should step to (1.92, 2.88); an update whose result is thrown away leaves x where it was.
    d = diagnose([1.92, 2.88], [2.0, 3.0])
    assert d.code == "wrong_value" and "1.042" not in d.message


@pytest.mark.parametrize("ref, got", [
    (8.0, 4.0),  # back-propagated from y instead of z: 1/2, from one number
    (8.0, 1.0),  # back-propagated from w itself: 1/8
    (25.0, 12.5),  # a mean of two where the sum belongs, seen once
    ([2.0, 2.0, 2.0], [4.0, 4.0, 4.0]),  # a constant array is one number, however many elements
    ([[0.7]], [[0.35]]),  # a 1 x 1 gradient
])
def test_one_number_shows_no_constant_factor(ref, got) -> None:
    d = diagnose(ref, got)
    assert d.code == "wrong_value", d.message
    assert "times" not in d.message


def test_one_number_names_both_values_instead() -> None:
    d = diagnose(8.0, 4.0)
    assert "4 instead of 8" in d.message


@pytest.mark.parametrize("n, k, words", [
    (400, 400.0, "sum may stand where a mean belongs"),
    (400, 1 / 400, "mean may stand where a sum belongs"),
    (6, 6.0, "6 is the number of data points"),
])
def test_a_data_size_is_trusted_even_from_one_number(n, k, words) -> None:
    d = diagnose(0.8325, 0.8325 * k, sizes=[n])
    assert d.code == "scaled" and words in d.message, d.message


def test_a_small_data_size_needs_several_numbers_like_any_small_factor() -> None:
    assert diagnose(0.8, 2.4, sizes=[3]).code == "wrong_value"
    d = diagnose(BASE, [3 * v for v in BASE], sizes=[3])
    assert d.code == "scaled" and "3 is the number of data points" in d.message


@pytest.mark.parametrize("k, words", [(100.0, "percentage"), (0.01, "share")])
def test_a_percentage_is_scaled(k, words) -> None:
    d = diagnose(0.8325, 0.8325 * k)
    assert d.code == "scaled" and words in d.message, d.message


@pytest.mark.parametrize("lr", [0.001, 0.02, 0.3])
def test_the_learning_rate_is_a_factor_and_one_over_it_too(lr) -> None:
    sizes = Sizes([], rates=(lr,))
    d = diagnose(BASE, [lr * v for v in BASE], sizes=sizes)
    assert d.code == "scaled" and "is the learning rate" in d.message, d.message
    d = diagnose(BASE, [v / lr for v in BASE], sizes=sizes)
    assert d.code == "scaled" and "one over the learning rate" in d.message, d.message
    assert diagnose(BASE, [lr * v for v in BASE]).code == "wrong_value"  # without it, no factor explains it
    assert diagnose(2.0, 2.0 * lr, sizes=sizes).code == "wrong_value"  # and one number shows none


def test_a_learning_rate_of_one_hundredth_is_the_learning_rate_not_a_share() -> None:
    sizes = Sizes([], rates=(0.01,))
    d = diagnose(BASE, [0.01 * v for v in BASE], sizes=sizes)
    assert d.code == "scaled" and "learning rate" in d.message and "share" not in d.message
    assert diagnose(2.0, 0.02, sizes=sizes).code == "wrong_value"  # one number: no telling which
    assert diagnose(2.0, 0.02).code == "scaled"  # with no such learning rate: a share for a percentage


def test_several_calls_with_the_same_ratio_are_scaled_and_varying_ratios_are_not() -> None:
    same = [(arr(r), arr(2 * r), c) for c, r in enumerate((1.0, 0.8, 0.5))]
    d = compare("v", same[0][0], same[0][1], sizes=[], call=0, pairs=same, runs=3)
    assert d.code == "scaled" and d.factor == 2.0
    varying = [(arr(r), arr(k * r), c) for c, (r, k) in enumerate(((1.0, 2.0), (0.8, 1.5), (0.5, 3.0)))]
    d = compare("v", varying[0][0], varying[0][1], sizes=[], call=0, pairs=varying, runs=3)
    assert d.code == "wrong_value"


def test_sign_flipped_stays_a_sign_flip_from_one_number_or_many() -> None:
    assert diagnose(8.0, -8.0).code == "sign_flipped"
    assert diagnose(BASE, [-v for v in BASE]).code == "sign_flipped"


def test_explain_factor_reports_its_value() -> None:
    assert explain_factor(400.0, [400], numbers=1)[:2] == ("400", 400.0)
    assert explain_factor(-0.5, [], numbers=2)[:2] == ("-1/2", -0.5)
    assert explain_factor(0.5, [], numbers=1) is None
    assert explain_factor(1 / 8, [], numbers=5) is None


def test_run_captures_follow_the_same_rule() -> None:
    # A statement blank is judged by the run's captures: x_after one number off is not "1/2 times".
    ref = {"0": {"w_grad": arr(8.0)}}
    d = compare_runs("backward", ref, {"0": {"w_grad": arr(4.0)}}, {}, loss_exprs=set(), sizes=[])
    assert d.code == "wrong_value" and "times" not in d.message
    series = np.array([4.0, 3.0, 2.5, 2.2])
    d = compare_runs("loss", {"0": {"losses": arr(series)}}, {"0": {"losses": arr(2 * series)}}, {},
                     loss_exprs=set(), sizes=[])
    assert d.code == "scaled" and "factor 2" in d.message


def test_learning_rates_are_read_from_the_reference_program(lessons) -> None:
    assert learning_rates(lesson(lessons, "linreg-numpy")) == (0.5,)
    assert learning_rates(lesson(lessons, "logreg-numpy")) == (0.001,)
    assert learning_rates(lesson(lessons, "linreg-y2x")) == (0.01,)
    assert learning_rates(lesson(lessons, "mlp-regression")) == (0.0002,)
    text = ('+++\nid = "rates"\ntitle = "Rates"\nframework = "torch"\n+++\n\n## Step\n\n```python\n'
            "alpha = 0.05\nETA: float = 0.2\nepochs, step_size = 10, 0.3\nlr = 1\nm = nn.Linear(1, 1)\n"
            "o1 = optim.SGD(m.parameters(), 0.7)\no2 = optim.Adam(m.parameters(), lr=0.004)\n"
            "w = {{w: 2 * alpha}}\n```\n")
    assert set(learning_rates(parse_lesson_text(text))) == {0.05, 0.2, 0.3, 0.7, 0.004}  # not lr = 1, not epochs


def test_the_grader_knows_sizes_and_rates_per_lesson(grader, lessons) -> None:
    les = lesson(lessons, "logreg-2features")
    grader.reference(les)
    assert 6 in grader.sizes(les)  # six points, drawn by its boundary chart: no dataset says so
    les = lesson(lessons, "logreg-numpy")
    grader.reference(les)
    sizes = grader.sizes(les)
    assert 400 in sizes and sizes.rates == (0.001,)


@pytest.mark.parametrize("key, blank, text", [
    ("autograd-basics", "backward", "w.backward()"),  # w.grad 1 for 8: not "1/8 times"
    ("autograd-basics", "backward", "y.backward()"),  # w.grad 4 for 8: one number, no factor
    ("autograd-basics", "dz_dw", "2 * w.item()"),
    ("autograd-basics", "dz_dw", "w.item() ** 2"),
    ("autograd-basics", "loss", "torch.sum(torch.abs(z - target)) / 2"),
    ("zero-grad", "expected_twice", "g_once"),
])
def test_one_wrong_number_is_wrong_value_not_scaled(grader, lessons, key, blank, text) -> None:
    report = grade(grader, lesson(lessons, key), **{blank: text})
    assert_only_wrong(report, blank, {"wrong_value"})
    assert " times the expected" not in report.blanks[blank].message


@pytest.mark.parametrize("key, blank, text, factor, words", [
    ("logreg-numpy", "dw", "learning_rate * np.mean((y_pred - y) * X)", 0.001, "learning rate"),
    ("logreg-numpy", "db", "2 * np.mean(y_pred - y)", 2, "factor 2"),
    ("logreg-numpy", "dw", "np.mean((y_pred - y) * X) / len(X)", 1 / 400, "number of data points"),
    ("logreg-numpy", "accuracy", "np.sum(correct)", 400, "number of data points"),
    ("logreg-numpy", "accuracy", "np.mean(correct) * 100", 100, "percentage"),
    ("logreg-2features", "accuracy", "correct.sum().item()", 6, "number of data points"),
    ("linreg-numpy", "db", "-np.mean(y - (w * X + b))", 0.5, "factor of 2"),
])
def test_an_actionable_factor_is_scaled_and_named(grader, lessons, key, blank, text, factor, words) -> None:
    report = grade(grader, lesson(lessons, key), **{blank: text})
    assert_only_wrong(report, blank, {"scaled"})
    b = report.blanks[blank]
    assert b.factor == pytest.approx(factor) and words in b.message, b.message


# ---- 6. a sentence never gives the answer away before the hints do ----------------------------------


@pytest.mark.parametrize("text", [
    "1 / (1 + np.exp(w * X + b))",
    "1 / (1 - np.exp(-(w * X + b)))",
    "-1 / (1 + np.exp(-(w * X + b)))",
    "1 / (1 + np.exp(-(w * X - b)))",
])
def test_a_sign_slip_in_the_sigmoid_does_not_print_the_sigmoid(grader, lessons, text) -> None:
    les = lesson(lessons, "logreg-numpy")
    b = grade(grader, les, y_pred=text).blanks["y_pred"]
    assert b.verdict == "incorrect"
    answer = squeeze(les.blanks["y_pred"].answer)
    assert answer not in squeeze(b.message) and answer not in squeeze(b.hint or "")
    assert "np.exp(-(w" not in squeeze(b.hint or "").replace("*", "")


def test_no_hint_shown_with_a_verdict_shows_the_answer(lessons) -> None:
    # Every built-in lesson, every blank, every diagnosis: the hint that comes with the verdict unasked.
    for les in lessons:
        for blank in les.blanks.values():
            for code in sorted(CODES):
                hint = verdict_hint(blank, code)
                assert not gives_away(blank, hint), (les.id, blank.name, code, hint)


def test_a_hint_that_shows_the_answer_is_held_back_for_the_asking() -> None:
    text = ('+++\nid = "h"\ntitle = "H"\n+++\n\n## Step\n\n```python\nw = 1.0\nv = {{v: w * 3 + 1.5}}\n```\n\n'
            '```toml check\n[compare]\nv = {}\n[blanks.v]\nhints = ["Three times w, plus a bit.", "w * 3 + 1.5"]\n'
            'wrong_value = "It is w * 3 + 1.5."\nscaled = "Mind the factor 3."\n```\n')
    blank = parse_lesson_text(text).blanks["v"]
    assert verdict_hint(blank, "wrong_value") == "Three times w, plus a bit."  # the first hint instead
    assert verdict_hint(blank, "scaled") == "Mind the factor 3."
    blank.hints = ["w*3+1.5 is the answer"]
    assert verdict_hint(blank, "wrong_value") is None  # the only hint is the answer: asked for, not shown
    assert gives_away(blank, "it is  w *3 + 1.5 ") and not gives_away(blank, "w * 3")


def _sample(lessons):
    """A sample of generated wrong answers: every blank of every quick built-in lesson, one or two
    mutants each (the first, and one more picked by the blank's position)."""
    out = []
    for les in lessons:
        if les.id in ("mlp-regression", "digits-lr-vs-mlp"):
            continue  # seconds per grade: their blanks' sentences are the same code paths
        for i, blank in enumerate(les.blanks.values()):
            ms = mutants(blank)
            for m in ms[:1] + ms[1 + i % max(1, len(ms) - 1):][:1]:
                out.append((les.id, blank.name, m.text))
    return out


SAMPLE_LESSONS = ["linreg-numpy", "linreg-torch", "logreg-numpy", "logreg-torch", "autograd-basics",
                  "backprop-by-hand", "linreg-y2x", "logreg-2features", "zero-grad", "l1-regression"]


@pytest.mark.parametrize("key", SAMPLE_LESSONS)
def test_no_verdict_on_a_wrong_answer_shows_the_answer(grader, lessons, key) -> None:
    les = lesson(lessons, key)
    cases = [c for c in _sample([les])]
    assert cases
    for _, name, text in cases:
        b = grade(grader, les, **{name: text}).blanks[name]
        assert b.verdict != "correct", (name, text)
        blank = les.blanks[name]
        for said in (b.message, b.hint):
            assert not gives_away(blank, said), (name, text, said)
            if len(squeeze(blank.answer)) >= 6:
                assert squeeze(blank.answer) not in squeeze(said or ""), (name, text, said)


# ---- 7a. a syntax error's column is where Python points -------------------------------------------


@pytest.mark.parametrize("key, blank, text, line, col, words", [
    ("linreg-numpy", "y_pred", "w * X -", 1, 8, "the end of the line"),
    ("linreg-numpy", "loss", "np.mean((y - (w * X + b)) ** 2", 1, 8, "never closed"),
    ("linreg-numpy", "y_pred", "w * (X + b", 1, 5, "never closed"),
    ("linreg-numpy", "y_pred", "w * X + b)", 1, 10, "unmatched"),
    ("linreg-numpy", "y_pred", "w * X +* b", 1, 8, "invalid syntax"),
    ("logreg-numpy", "correct", "(y_pred > 0.5) = (y == 1)", 1, 16, "'=='"),
    ("linreg-numpy", "y_pred", "w = X + b", 1, 3, "not a statement"),
    ("linreg-numpy", "y_pred", "y_pred += X + b", 1, 8, "not a statement"),
    ("linreg-y2x", "step", "step() -", 1, 9, "the end of the line"),
    ("linreg-y2x", "step", "step)(", 1, 5, "unmatched"),
    ("linreg-y2x", "step", "optimizer.step(", 1, 15, "never closed"),
    ("zero-grad", "zero_grad", "optimizer.zero_grad() -", 1, 24, "the end of the line"),
    ("zero-grad", "zero_grad", "x == = 1", 1, 6, "invalid syntax"),
    ("backprop-by-hand", "to_float", "xt = = xt.to(torch.float32)", 1, 6, "invalid syntax"),
    ("logreg-torch", "forward", "out = 1\nreturn out -", 2, 13, "line 2, column 13"),
    ("logreg-torch", "train", "for epoch in range(epochs):\n    optimizer.zero_grad()\nreturn 3", 3, 1, "outside function"),
])
def test_a_syntax_error_points_where_python_points(lessons, key, blank, text, line, col, words) -> None:
    les = lesson(lessons, key)
    r = static_check(les, les.blanks[blank], text)
    assert r is not None and r.diagnosis == "syntax_error", (text, r)
    assert (r.line, r.col) == (line, col), r.message
    assert words in r.message, r.message
    if line == 1 and "not a statement" not in r.message:
        assert f"column {col}" in r.message
    assert "column 1:" not in r.message or col == 1


# ---- 7b. a line that runs off the chart names the value outside the data's range --------------------


@pytest.mark.parametrize("data, line, named", [
    ([-100.0, -95.0, -90.0], [-95.0, -88.0, -80.0], "-80"),  # the largest in size (-95) is inside
    ([50.0, 55.0, 60.0], [55.0, 48.0, 40.0], "40"),
    ([0.0, 5.0, 10.0], [9.0, 30.0, -2.0], "30"),
    ([-1.0, 0.0, 1.0], [0.5, -20.0, 3.0], "-20"),
])
def test_a_line_off_the_chart_names_the_value_outside(data, line, named) -> None:
    fig = charts.Figure("fit", "t")
    points = charts.Series("data", [0.0, 1.0, 2.0], list(data), "data", "points")
    yours = charts.Series("yours", [0.0, 1.0, 2.0], list(line), "learner")
    fig.series = [points, yours]
    charts._clip_to_data(fig, points, [yours])
    note = next(n for n in fig.notes if "runs off the chart" in n)
    assert f"reaches {named} " in note, note
    lo, hi = min(data), max(data)
    reached = float(named)
    assert reached < lo or reached > hi


def test_a_line_within_the_chart_says_nothing() -> None:
    fig = charts.Figure("fit", "t")
    points = charts.Series("data", [0.0, 1.0], [-100.0, -90.0], "data", "points")
    yours = charts.Series("yours", [0.0, 1.0], [-99.0, -91.0], "learner")
    charts._clip_to_data(fig, points, [yours])
    assert not fig.notes


# ---- 7c. "from the first time it runs" only for a line that runs more than once ---------------------


def test_when_phrases() -> None:
    assert _when(0, runs=1) == "" and _when(None) == ""
    assert _when(0, runs=5) == " from the first time it runs"
    assert _when(0) == " from the first time it runs"  # count unknown: as before
    assert _when(3, runs=10) == " from its run number 4 on"
    assert "first time" not in diagnose(8.0, -8.0, call=0, runs=1).message
    assert "first time" in diagnose(BASE, [2 * v for v in BASE], call=0, runs=2).message


@pytest.mark.parametrize("key, blank, text", [
    ("autograd-basics", "dz_dw", "-4 * w.item()"),
    ("autograd-basics", "loss", "-torch.sum(torch.abs(z - target))"),
    ("logreg-numpy", "accuracy", "np.sum(correct)"),
    ("logreg-numpy", "correct", "(y_pred > 0.5) == (y == 0)"),
    ("backprop-by-hand", "grad_x", "-(grad_a * w)"),
])
def test_a_line_that_runs_once_says_nothing_of_a_first_time(grader, lessons, key, blank, text) -> None:
    b = grade(grader, lesson(lessons, key), **{blank: text}).blanks[blank]
    assert b.verdict == "incorrect", b.message
    assert "first time" not in b.message and "run number" not in b.message, b.message


@pytest.mark.parametrize("key, blank, text", [
    ("linreg-numpy", "dw", "2 * np.mean((y - (w * X + b)) * X)"),
    ("logreg-numpy", "db", "2 * np.mean(y_pred - y)"),
    ("linreg-y2x", "loss", "((prediction - y_train) ** 2).sum()"),
])
def test_a_line_in_a_loop_says_from_the_first_time(grader, lessons, key, blank, text) -> None:
    b = grade(grader, lesson(lessons, key), **{blank: text}).blanks[blank]
    assert "from the first time it runs" in b.message, b.message


# ---- 7d. a step named but not called has no effect ------------------------------------------------


@pytest.fixture(scope="module")
def fixture_lessons():
    return load_lessons(FIXTURES)


@pytest.mark.parametrize("key, blank, text", [
    ("linreg-torch", "step", "step"),
    ("linreg-torch", "step", "optimizer.step"),  # the whole line typed after its `optimizer.`
    ("linreg-y2x", "step", "optimizer.step"),
    ("linreg-y2x", "backward", "loss.backward"),
    ("linreg-y2x", "zero_grad", "optimizer.zero_grad"),
    ("zero-grad", "zero_grad", "optimizer.zero_grad"),
])
def test_a_call_left_uncalled_has_no_effect(grader, lessons, key, blank, text) -> None:
    report = grade(grader, lesson(lessons, key), **{blank: text})
    if (key, blank) in (("linreg-y2x", "zero_grad"), ("zero-grad", "zero_grad")):
        b = report.blanks[blank]  # gradients pile up instead: training goes wrong, it does not stand still
        assert b.verdict == "incorrect" and "no attribute" not in b.message, b.message
        return
    assert_only_wrong(report, blank, {"no_effect"})
    assert "no attribute" not in report.blanks[blank].message


@pytest.mark.parametrize("text", ["step", "optimizer.step"])
def test_the_fixture_step_without_its_call_has_no_effect(grader, fixture_lessons, text) -> None:
    les = find_lesson(fixture_lessons, "mini-torch")
    report = grade(grader, les, step=text)
    assert_only_wrong(report, "step", {"no_effect"})
    assert report.blanks["step"].hint == les.blanks["step"].diagnosis_hints["no_effect"]


@pytest.mark.parametrize("key, blank, text", [
    ("linreg-torch", "step", "optimizer.step()"),
    ("linreg-y2x", "backward", "loss.backward()"),
    ("linreg-torch", "zero_grad", "optimizer.zero_grad()"),
])
def test_the_whole_line_typed_after_its_own_start_is_right(grader, lessons, key, blank, text) -> None:
    assert_accepted(grade(grader, lesson(lessons, key), **{blank: text}), blank)
