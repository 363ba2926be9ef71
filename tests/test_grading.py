"""The grader on the built-in lessons: what a learner would see for right, equivalent and wrong answers."""

from __future__ import annotations

import dataclasses
import time

import pytest

from lesson_checks import lesson


def grade_one(grader, lesson, blank, text):
    answers = lesson.reference_answers()
    answers[blank] = text
    return grader.grade(lesson, answers)


# ---- linreg-numpy ------------------------------------------------------------------------------

def test_numpy_reference_passes(grader, lessons):
    les = lesson(lessons, "linreg-numpy")
    report = grader.grade(les, les.reference_answers())
    assert report.passed, {n: b.message for n, b in report.blanks.items()}
    assert "Trained model weight" in report.stdout


@pytest.mark.parametrize(
    "blank,text",
    [
        ("loss", "((w * X + b - y) ** 2).mean()"),
        ("loss", "np.square(y - w * X - b).mean()"),
        ("loss", "np.sum((y - w * X - b) ** 2) / len(X)"),
        ("dw", "np.mean(2 * (w * X + b - y) * X)"),
        ("dw", "-2 * ((y - w * X - b) * X).mean()"),
        ("dw", "2 / len(X) * np.dot(w * X + b - y, X)"),
        ("db", "2 * np.mean(w * X + b - y)"),
        ("db", "-2 * (y - w * X - b).sum() / len(y)"),
        ("db", "np.mean(-2 * (y - (w * X + b)))"),
        ("w", "w - dw * learning_rate"),
        ("w", "w + (-learning_rate) * dw"),
        ("w", "w - 0.5 * dw"),
        ("b", "b - db * learning_rate"),
        ("y_pred", "X * w + b"),
        ("y_pred", "b + w * X"),
    ],
)
def test_numpy_equivalent_answers_pass(grader, lessons, blank, text):
    report = grade_one(grader, lesson(lessons, "linreg-numpy"), blank, text)
    assert report.blanks[blank].verdict == "correct", report.blanks[blank].message
    assert report.passed


def test_numpy_sign_flipped_dw(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-numpy"), "dw", "2 * np.mean((y - (w * X + b)) * X)")
    dw = report.blanks["dw"]
    assert (dw.verdict, dw.diagnosis) == ("incorrect", "sign_flipped")
    assert "sign" in dw.message
    assert all(b.verdict == "correct" for n, b in report.blanks.items() if n != "dw")


def test_numpy_sum_instead_of_mean_is_scaled_by_n(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-numpy"), "dw", "-2 * np.sum((y - (w * X + b)) * X)")
    dw = report.blanks["dw"]
    assert dw.diagnosis == "scaled"
    assert dw.factor == 400
    assert "400" in dw.message and "mean" in dw.message
    assert report.to_json()["blanks"]["dw"]["factor"] == 400


def test_numpy_missing_factor_two(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-numpy"), "db", "-np.mean(y - (w * X + b))")
    assert report.blanks["db"].diagnosis == "scaled"
    assert report.blanks["db"].factor == 0.5


def test_numpy_undefined_name_suggests_module(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-numpy"), "loss", "mean((y - (w * X + b)) ** 2)")
    loss = report.blanks["loss"]
    assert (loss.verdict, loss.diagnosis) == ("error", "runtime_error")
    assert "`mean` is not defined" in loss.message and "np.mean" in loss.message


def test_numpy_syntax_error_points_at_column(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-numpy"), "loss", "np.mean((y - (w * X + b)) ** 2")
    loss = report.blanks["loss"]
    assert loss.diagnosis == "syntax_error"
    assert loss.col is not None and "column" in loss.message


def test_numpy_missing_blanks_rest_still_graded(grader, lessons):
    les = lesson(lessons, "linreg-numpy")
    answers = les.reference_answers()
    del answers["db"]
    answers["w"] = "w + learning_rate * dw"
    report = grader.grade(les, answers)
    assert report.blanks["db"].verdict == "missing"
    assert report.blanks["w"].diagnosis in ("scaled", "wrong_value", "sign_flipped")
    assert report.blanks["loss"].verdict == "correct"
    assert report.blanks["dw"].verdict == "correct"


def test_numpy_shape_mismatch(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-numpy"), "y_pred", "(w * X + b).reshape(-1, 1)")
    assert report.blanks["y_pred"].diagnosis == "shape_mismatch"
    assert "(400, 1)" in report.blanks["y_pred"].message


def test_numpy_forbidden(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-numpy"), "loss", "__import__('os').getcwd()")
    assert report.blanks["loss"].diagnosis == "forbidden"


def test_infinite_loop_times_out_within_budget_and_next_grade_works(grader, lessons):
    les = dataclasses.replace(lesson(lessons, "linreg-numpy"), timeout=2.0)  # (5 s in the file: the same claim)
    grader.reference(les)  # the evaluator started and the reference run made: only the hang is timed
    start = time.perf_counter()
    report = grade_one(grader, les, "dw", "sum(1 for _ in iter(int, 1))")
    elapsed = time.perf_counter() - start
    assert report.blanks["dw"].diagnosis == "timeout"
    assert elapsed < les.timeout + 1.0
    report = grader.grade(les, les.reference_answers())
    assert report.passed


# ---- linreg-torch ------------------------------------------------------------------------------

def test_torch_reference_passes(grader, lessons):
    les = lesson(lessons, "linreg-torch")
    report = grader.grade(les, les.reference_answers())
    assert report.passed, {n: b.message for n, b in report.blanks.items()}


@pytest.mark.parametrize(
    "blank,text",
    [
        ("X_tensor", "torch.from_numpy(X).float().view(-1, 1)"),
        ("X_tensor", "torch.FloatTensor(X).reshape(-1, 1)"),
        ("X_tensor", "torch.tensor(X).float().unsqueeze(1)"),
        ("y_tensor", "torch.tensor(y.reshape(400, 1), dtype=torch.float32)"),
        ("model", "nn.Linear(in_features=1, out_features=1)"),
        ("criterion", "nn.MSELoss(reduction='mean')"),
        ("optimizer", "optim.SGD(params=model.parameters(), lr=0.5)"),
        ("pred_y", "model.forward(X_tensor)"),
        ("loss", "((pred_y - y_tensor) ** 2).mean()"),
        ("loss", "F.mse_loss(pred_y, y_tensor)"),
        ("zero_grad", "zero_grad(set_to_none=True)"),
        ("y_pred", "model(X_tensor).data.numpy()"),
    ],
)
def test_torch_equivalent_answers_pass(grader, lessons, blank, text):
    report = grade_one(grader, lesson(lessons, "linreg-torch"), blank, text)
    assert report.blanks[blank].verdict == "correct", report.blanks[blank].message
    assert report.passed


def test_torch_l1_loss_is_wrong_type(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-torch"), "criterion", "nn.L1Loss()")
    c = report.blanks["criterion"]
    assert (c.verdict, c.diagnosis) == ("incorrect", "wrong_type")
    assert "L1Loss" in c.message


def test_torch_wrong_learning_rate_is_wrong_type_with_config(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-torch"), "optimizer", "optim.SGD(model.parameters(), lr=0.1)")
    o = report.blanks["optimizer"]
    assert o.diagnosis == "wrong_type" and "lr" in o.message


def test_torch_item_for_backward_has_no_effect(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-torch"), "backward", "item()")
    b = report.blanks["backward"]
    assert b.diagnosis in ("no_effect", "wrong_value")
    assert all(r.verdict == "correct" for n, r in report.blanks.items() if n != "backward")


def test_torch_missing_step_call_has_no_effect(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-torch"), "step", "step")
    assert report.blanks["step"].diagnosis == "no_effect"


def test_torch_forgotten_zero_grad_is_caught(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-torch"), "zero_grad", "zero_grad")
    assert report.blanks["zero_grad"].verdict == "incorrect"
    assert report.blanks["pred_y"].verdict == "correct"


def test_torch_float64_tensor_is_dtype_mismatch(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-torch"), "X_tensor", "torch.tensor(X).reshape(400, 1)")
    x = report.blanks["X_tensor"]
    assert x.diagnosis == "dtype_mismatch" and "float64" in x.message


def test_torch_flat_tensor_is_shape_mismatch(grader, lessons):
    report = grade_one(grader, lesson(lessons, "linreg-torch"), "y_tensor", "torch.tensor(y, dtype=torch.float32)")
    t = report.blanks["y_tensor"]
    assert t.diagnosis == "shape_mismatch" and "(400,)" in t.message and "(400, 1)" in t.message


def test_numpy_mistake_in_one_late_iteration_is_still_found(grader, lessons):
    # Shadow evaluation samples calls after the first few; a blank that goes wrong on a call the
    # sample skips must still be named, through the full comparison the grader falls back to.
    report = grade_one(grader, lesson(lessons, "linreg-numpy"), "dw", "-2 * np.mean((y - (w * X + b)) * X) * (1 if i != 50 else 2)")
    dw = report.blanks["dw"]
    assert dw.verdict == "incorrect"
    assert dw.call == 50
    assert "51" in dw.message
    assert all(b.verdict == "correct" for n, b in report.blanks.items() if n != "dw")


# ---- answers written exactly as the reference ----------------------------------------------------

def _counting(grader, monkeypatch):
    """The job ids of every sandboxed run the grader makes, in order (their statuses: `seen.statuses`)."""

    class Seen(list):
        statuses: list[list[str]]

    seen = Seen()
    statuses = seen.statuses = []
    real = grader.evaluator.run

    def run(jobs, on_output=None):
        seen.append([j.get("id") for j in jobs])
        outcomes = real(jobs, on_output=on_output)
        statuses.append([o.status for o in outcomes])
        return outcomes

    monkeypatch.setattr(grader.evaluator, "run", run)
    return seen


def test_answers_as_the_reference_need_no_run_and_agreeing_rewrites_skip_the_shadow(grader, lessons, monkeypatch):
    les = lesson(lessons, "linreg-numpy")
    grader.reference(les)
    seen = _counting(grader, monkeypatch)
    report = grader.grade(les, les.reference_answers())
    assert report.passed
    # Every answer the reference's own code: the learner's program is the reference program, and its
    # run is the reference run, already made: no run at all, and the report shows that run.
    assert seen == []
    ref = grader.reference(les)
    assert report.stdout == ref.stdout and report.learner_run.captures == ref.captures
    streamed = []
    assert grader.grade(les, les.reference_answers(), on_output=streamed.append).passed and seen == []
    assert "".join(streamed) == ref.stdout
    rewritten = {**les.reference_answers(), "dw": "-2 * ((y - w * X - b) * X).mean()"}
    seen.clear()
    seen.statuses.clear()
    assert grader.grade(les, rewritten).passed
    assert seen == [["shadow", "learner"]]
    # The learner's run compared the rewritten `dw` with the reference's in place; all agreed, so the
    # shadow run was skipped (a disagreement starts it: the sign-flip tests see its diagnosis).
    assert seen.statuses == [["skipped", "ok"]]
    seen.clear()
    seen.statuses.clear()
    report = grader.grade(les, {**les.reference_answers(), "dw": "2 * np.mean((y - (w * X + b)) * X)"})
    assert report.blanks["dw"].diagnosis == "sign_flipped"
    assert seen == [["shadow", "learner"]] and seen.statuses == [["ok", "ok"]]


def test_an_answer_written_as_the_reference_is_right_even_when_evaluating_it_has_effects(grader, tmp_path):
    # Evaluating `next(draws)` twice in one state (the reference's and the learner's in a shadow run)
    # would draw two different items: written exactly as the reference, it needs no such comparison.
    from tutor.lesson import load_lessons

    (tmp_path / "010-draws.md").write_text(
        '+++\nid = "draws"\ntitle = "Draws"\ndatasets = ["linear_regression"]\ntimeout = 5\n+++\n\n'
        "Sum the first three items.\n\n## Three draws\n\n"
        "```python\ndraws = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])\ntotal = 0.0\nfor k in range(3):\n"
        "    item = {{item: next(draws)}}\n    total = total + item\n```\n\n"
        "```toml check\n[compare]\ntotal = {}\n```\n",
        encoding="utf-8",
    )
    (les,) = load_lessons(tmp_path)
    report = grader.grade(les, {"item": "next( draws )  # the next one"})
    assert report.passed, {n: b.message for n, b in report.blanks.items()}
    assert report.learner_run.captures["0"]["total"].array.item() == 6.0
