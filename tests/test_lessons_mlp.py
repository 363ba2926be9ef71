"""mlp-regression (seed 002), the course's longest run: a handful of answer sets, each covering every blank.

The reference run (about 6 s here) is made once per test run (kept on disk, tutor/grading/refcache.py); each
grade below costs one or two runs, the reference answers none (their run is the reference run).
"""

from __future__ import annotations

import time

import pytest

from tutor.grading.diagnose import compare_runs
from tutor.lesson import find_lesson, load_lessons
from tutor.paths import builtin_lessons_dir
from lesson_checks import captured
from tutor.sandbox.results import Value


@pytest.fixture(scope="module")
def les():
    found = find_lesson(load_lessons(builtin_lessons_dir()), "mlp-regression")
    assert found is not None
    return found


def test_mlp_reference_figures_and_time_budget(grader, les):
    ref = grader.reference(les)
    assert ref.wall < les.timeout / 2  # within the budget, with room for a slower answer (12 s seen on a busy 2-core host)
    assert captured(grader, les, 0, "n_params").item() == 461  # 1-10-20-10-1: 20 + 220 + 210 + 11
    loss = captured(grader, les, 1, "loss_array")
    assert loss.shape == (10000,)
    assert loss[0] == pytest.approx(78.83, abs=0.01) and loss[-1] == pytest.approx(6.864, abs=0.01)
    assert loss[-1] < loss[0] / 10  # the curve is learnt: the L1 loss falls more than tenfold
    out = captured(grader, les, 1, "output").ravel()
    x = captured(grader, les, 1, "x").ravel()
    assert out[x.argmax()] > 150 and out[abs(x).argmin()] < 20  # both arms of the parabola, low in the middle
    report = grader.grade(les, les.reference_answers())
    assert report.passed and "10000/10000  loss 6.86" in report.stdout


def test_mlp_shows_its_progress_while_it_trains(grader, les):
    """The learner sees the progress lines as the run prints them, not only when it ends. (Answers
    other than the reference's own code: those would take the reference run, made already.) The
    first of the equivalent answer sets below, each of its four blanks written another way."""
    grader.reference(les)
    got: list[tuple[float, str]] = []
    start = time.monotonic()
    report = grader.grade(les, {**les.reference_answers(), **VARIANTS[0]},
                          on_output=lambda text: got.append((time.monotonic(), text)))
    end = time.monotonic()
    assert report.passed, {n: b.message for n, b in report.blanks.items() if b.verdict != "correct"}
    streamed = "".join(text for _, text in got)
    assert report.stdout.startswith(streamed)  # the same text, whole lines, in order
    first = next(t for t, text in got if "1000/10000" in text)
    assert first - start < 0.6 * (end - start), (first - start, end - start)  # long before the run ends
    assert sum(text.count("/10000") for _, text in got) >= 5


VARIANTS = [
    {
        "model": "nn.Sequential(nn.Linear(in_features=1, out_features=10), nn.ReLU(), nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 1))",
        "loss_func": "nn.L1Loss(reduction='mean')",
        "optimizer": "optim.SGD(model.parameters(), lr=2e-4)",
        "output": "model(x).detach().clone()",
    },
    {
        "model": "torch.nn.Sequential(torch.nn.Linear(1, 10), torch.nn.ReLU(True), torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 10), torch.nn.ReLU(), torch.nn.Linear(10, 1))",
        "loss_func": "torch.nn.L1Loss()",
        "optimizer": "torch.optim.SGD(params=model.parameters(), lr=0.0002)",
        "output": "model.forward(x).detach()",
    },
    {
        "model": "nn.Sequential(*[nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 1)])",
        "loss_func": "nn.modules.loss.L1Loss()",
        "optimizer": "optim.SGD(model.parameters(), 0.0002)",
        "output": "model(x).data",
    },
]


@pytest.mark.parametrize("variant", range(1, len(VARIANTS)))  # the first: the progress test's
def test_mlp_equivalent_answers_pass(grader, les, variant):
    report = grader.grade(les, {**les.reference_answers(), **VARIANTS[variant]})
    assert report.passed, {n: b.message for n, b in report.blanks.items() if b.verdict != "correct"}


def test_mlp_typical_mistakes_are_named(grader, les):
    # One answer set, two mistakes in different steps: a ReLU after the output layer (the output can
    # no longer go below 0, and the layers differ) and a learning rate ten times too large.
    answers = les.reference_answers()
    answers["model"] = "nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 1), nn.ReLU())"
    answers["optimizer"] = "optim.SGD(model.parameters(), lr=0.002)"
    report = grader.grade(les, answers)
    assert report.blanks["model"].diagnosis == "wrong_type"
    assert report.blanks["optimizer"].diagnosis == "wrong_type" and "lr" in report.blanks["optimizer"].message
    assert {n for n, b in report.blanks.items() if b.verdict != "correct"} == {"model", "optimizer"}


def test_string_values_compare_by_text():
    # A captured string (`x.device.type`) used to read "a builtins.str where a builtins.str is expected".
    cpu = Value(kind="other", type="builtins.str", text="'cpu'")
    assert compare_runs("x", {"0": {"d": cpu}}, {"0": {"d": Value(kind="other", type="builtins.str", text="'cpu'")}},
                        {}, loss_exprs=set(), sizes=[]) is None
    assert compare_runs("x", {"0": {"d": cpu}}, {"0": {"d": Value(kind="other", type="builtins.str", text="'cuda'")}},
                        {}, loss_exprs=set(), sizes=[]) is not None
