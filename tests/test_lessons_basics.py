"""The PyTorch-basics lessons (seeds 001 and 002): the seed's figures, equivalent answers, typical mistakes."""

from __future__ import annotations

import pytest
from lesson_checks import assert_accepted, assert_only_wrong, captured, grade, lesson


# ---- linreg-y2x (seed 001) ------------------------------------------------------------------------

def test_y2x_reproduces_seed_figures(grader, lessons):
    les = lesson(lessons, "linreg-y2x")
    # The seed prints these after torch.manual_seed(777): nn.Linear(1, 1) starts at -0.8362, -0.0177.
    assert round(float(captured(grader, les, 0, "w0")), 4) == -0.8362
    assert round(float(captured(grader, les, 0, "b0")), 4) == -0.0177
    losses = captured(grader, les, 1, "losses")
    assert losses.shape == (2001,) and losses[0] == pytest.approx(37.7394, abs=1e-3) and losses[-1] < 2e-5
    assert float(captured(grader, les, 1, "w_end")) == pytest.approx(1.9963, abs=1e-4)
    assert captured(grader, les, 2, "pred_y").item() == pytest.approx(7.9937, abs=1e-4)  # close to 8
    report = grade(grader, les)
    assert report.passed
    assert "Initial weight: -0.8362  bias: -0.0177" in report.stdout
    assert "Prediction for x = 4: 7.9937" in report.stdout


@pytest.mark.parametrize(
    "blank,text",
    [
        ("model", "nn.Linear(in_features=1, out_features=1)"),
        ("model", "nn.Linear(1, 1, bias=True)"),
        ("model", "torch.nn.Linear(1, 1)"),
        ("optimizer", "optim.SGD(params=model.parameters(), lr=0.01)"),
        ("optimizer", "torch.optim.SGD(model.parameters(), lr=1e-2)"),
        ("optimizer", "optim.SGD(list(model.parameters()), 0.01)"),
        ("prediction", "model.forward(x_train)"),
        ("prediction", "x_train @ model.weight.T + model.bias"),
        ("prediction", "x_train * model.weight + model.bias"),
        ("loss", "((prediction - y_train) ** 2).mean()"),
        ("loss", "nn.MSELoss()(prediction, y_train)"),
        ("loss", "torch.mean((y_train - prediction) ** 2)"),
        ("zero_grad", "zero_grad(set_to_none=True)"),
        ("pred_y", "model(torch.FloatTensor([[4]]))"),
        ("pred_y", "model(torch.tensor([4.0]).view(1, 1))"),
        ("pred_y", "model(4 * torch.ones(1, 1))"),
    ],
)
def test_y2x_equivalent_answers_pass(grader, lessons, blank, text):
    assert_accepted(grade(grader, lesson(lessons, "linreg-y2x"), **{blank: text}), blank)


@pytest.mark.parametrize(
    "blank,text,diagnoses",
    [
        ("model", "nn.Linear(1, 2)", ("shape_mismatch", "wrong_type")),
        ("optimizer", "optim.SGD(model.parameters(), lr=0.1)", ("wrong_type",)),
        ("loss", "F.l1_loss(prediction, y_train)", ("wrong_value", "wrong_type")),
        ("loss", "((prediction - y_train) ** 2).sum()", ("scaled",)),
        ("pred_y", "model(torch.tensor([[4]]))", ("dtype_mismatch", "runtime_error")),
        ("pred_y", "model(torch.tensor([4.0]))", ("shape_mismatch",)),
        ("step", "step", ("no_effect",)),
    ],
)
def test_y2x_typical_mistakes_are_named(grader, lessons, blank, text, diagnoses):
    assert_only_wrong(grade(grader, lesson(lessons, "linreg-y2x"), **{blank: text}), blank, diagnoses)


def test_y2x_forgotten_zero_grad_is_caught(grader, lessons):
    report = grade(grader, lesson(lessons, "linreg-y2x"), zero_grad="zero_grad")
    assert report.blanks["zero_grad"].verdict == "incorrect"
    assert report.blanks["prediction"].verdict == "correct"


# ---- autograd-basics (seeds 001 and 002) --------------------------------------------------------

def test_autograd_reproduces_seed_figures(grader, lessons):
    les = lesson(lessons, "autograd-basics")
    assert captured(grader, les, 0, "w_grad").item() == 8.0  # w = 2, z = 2 w^2 + 5
    assert captured(grader, les, 1, "x_grad").tolist() == [8.0, 12.0]  # x = (2, 3), L1 loss to (3, 4)
    assert captured(grader, les, 1, "loss").item() == 25.0
    assert captured(grader, les, 2, "z_new.requires_grad").item() == 0.0  # nothing recorded under no_grad
    assert captured(grader, les, 2, "x.is_leaf").item() == 1.0
    report = grade(grader, les)
    assert report.passed and "leaves (x, y, z): [True, False, False]" in report.stdout


@pytest.mark.parametrize(
    "blank,text",
    [
        ("w", "torch.tensor(2.0).requires_grad_()"),
        ("w", "torch.tensor(2., dtype=torch.float32, requires_grad=True)"),
        ("w", "torch.full((), 2.0, requires_grad=True)"),
        ("backward", "z.backward(torch.tensor(1.0))"),
        ("backward", "torch.autograd.backward(z)"),
        ("dz_dw", "2 * 2 * w.item()"),
        ("dz_dw", "(4 * w).item()"),
        ("dz_dw", "float(2 * (2 * w))"),
        ("loss", "(z - target).abs().sum()"),
        ("loss", "F.l1_loss(z, target, reduction='sum')"),
        ("loss", "torch.abs(target - z).sum()"),
        ("update", "with torch.no_grad():\n    x.sub_(lr * x.grad)"),
        ("update", "with torch.no_grad():\n    x.copy_(x - lr * x.grad)"),
        ("update", "x.data -= lr * x.grad"),
    ],
)
def test_autograd_equivalent_answers_pass(grader, lessons, blank, text):
    assert_accepted(grade(grader, lesson(lessons, "autograd-basics"), **{blank: text}), blank)


@pytest.mark.parametrize(
    "blank,text,diagnoses",
    [
        ("w", "torch.tensor(2, requires_grad=True)", ("runtime_error",)),
        # One number compared once (4 for 8, 12.5 for 25) shows no constant factor: `wrong_value`
        # with both numbers in the message.
        ("dz_dw", "2 * w.item()", ("wrong_value",)),
        ("loss", "torch.abs(z - target)", ("shape_mismatch",)),
        ("loss", "torch.mean(torch.abs(z - target))", ("wrong_value",)),
        ("update", "x -= lr * x.grad", ("runtime_error",)),
        ("update", "x = x - lr * x.grad", ("wrong_value", "wrong_type")),
        ("update", "with torch.no_grad():\n    x += lr * x.grad", ("wrong_value", "scaled", "sign_flipped")),
    ],
)
def test_autograd_typical_mistakes_are_named(grader, lessons, blank, text, diagnoses):
    assert_only_wrong(grade(grader, lesson(lessons, "autograd-basics"), **{blank: text}), blank, diagnoses)


def test_autograd_untracked_w_is_named_with_a_hint_about_requires_grad(grader, lessons):
    # The value of `w` is right (2.0); only its requires_grad is missing: that is part of the value,
    # so `w` itself is wrong, and the backward line (the reference's own) is right.
    report = grade(grader, lesson(lessons, "autograd-basics"), w="torch.tensor(2.0)")
    w = report.blanks["w"]
    assert (w.verdict, w.diagnosis) == ("incorrect", "wrong_type")
    assert "requires_grad is False" in w.message and "requires_grad=True" in w.hint
    assert report.blanks["backward"].verdict == "correct"


# ---- logreg-2features (seed 001) ----------------------------------------------------------------

def test_2features_figures(grader, lessons):
    les = lesson(lessons, "logreg-2features")
    losses = captured(grader, les, 0, "losses")
    acc = captured(grader, les, 0, "accuracies")
    assert losses.shape == (1001,) and losses[-1] == pytest.approx(0.019735, abs=1e-5)
    assert acc[0] == pytest.approx(4 / 6) and acc[-1] == 1.0  # all six points right at the end
    assert captured(grader, les, 0, "model[0].weight").shape == (1, 2)


@pytest.mark.parametrize(
    "blank,text",
    [
        ("model", "nn.Sequential(nn.Linear(in_features=2, out_features=1), nn.Sigmoid())"),
        ("model", "torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid())"),
        ("model", "nn.Sequential(nn.Linear(2, 1, bias=True), nn.Sigmoid())"),
        ("loss", "nn.BCELoss()(hypothesis, y_train)"),
        ("loss", "-(y_train * torch.log(hypothesis) + (1 - y_train) * torch.log(1 - hypothesis)).mean()"),
        ("loss", "F.binary_cross_entropy(input=hypothesis, target=y_train)"),
        ("prediction", "hypothesis >= torch.tensor([0.5])"),
        ("prediction", "0.5 <= hypothesis"),
        ("prediction", "~(hypothesis < 0.5)"),
        ("correct", "prediction == y_train.bool()"),
        ("correct", "prediction.float() == y_train"),
        ("correct", "(prediction == (y_train > 0.5))"),
        ("accuracy", "correct.float().mean().item()"),
        ("accuracy", "correct.sum().item() / 6"),
        ("accuracy", "float(correct.sum()) / correct.numel()"),
    ],
)
def test_2features_equivalent_answers_pass(grader, lessons, blank, text):
    assert_accepted(grade(grader, lesson(lessons, "logreg-2features"), **{blank: text}), blank)


@pytest.mark.parametrize(
    "blank,text,diagnoses",
    [
        ("model", "nn.Linear(2, 1)", ("runtime_error", "wrong_value", "wrong_type")),
        ("model", "nn.Sequential(nn.Linear(2, 2), nn.Sigmoid())", ("shape_mismatch", "wrong_type")),
        ("model", "2 * nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())", ("shape_mismatch",)),
        ("loss", "F.mse_loss(hypothesis, y_train)", ("wrong_value", "wrong_type")),
        ("accuracy", "correct.sum().item()", ("scaled",)),
        ("prediction", "hypothesis", ("wrong_type", "dtype_mismatch", "wrong_value")),
    ],
)
def test_2features_typical_mistakes_are_named(grader, lessons, blank, text, diagnoses):
    assert_only_wrong(grade(grader, lesson(lessons, "logreg-2features"), **{blank: text}), blank, diagnoses)


def test_2features_model_that_repeats_its_layers_is_named(grader, lessons):
    # `2 * nn.Sequential(...)` repeats the same layer objects (the same parameters, so a comparison of
    # unique children and parameters calls it equal): it is compared as the layers it applies, in order.
    report = grade(grader, lesson(lessons, "logreg-2features"), model="2 * nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())")
    assert not report.passed
    assert report.blanks["model"].diagnosis == "shape_mismatch"
    assert "layer 1 gives 1 features but layer 3 expects 2" in report.blanks["model"].message


# ---- backprop-by-hand (seed 002) ----------------------------------------------------------------

def test_backprop_figures(grader, lessons):
    import numpy as np

    les = lesson(lessons, "backprop-by-hand")
    rng = np.random.RandomState(0)  # the seed's np.random.seed(0); randn x, w, z of shape (3, 4)
    x, w = rng.randn(3, 4), rng.randn(3, 4)
    np.testing.assert_allclose(captured(grader, les, 0, "grad_x"), w)  # d(x*w)/dx = w (the seed swaps these)
    np.testing.assert_allclose(captured(grader, les, 0, "grad_w"), x)
    np.testing.assert_allclose(captured(grader, les, 0, "grad_z"), np.ones((3, 4)))
    assert captured(grader, les, 0, "grad_w")[0, 0] == pytest.approx(1.76405235)
    np.testing.assert_allclose(captured(grader, les, 1, "xt.grad"), w, rtol=1e-6)  # autograd agrees
    np.testing.assert_allclose(captured(grader, les, 1, "wt.grad"), x, rtol=1e-6)
    assert "autograd agrees for x, w, z: [True, True, True]" in grade(grader, les).stdout


@pytest.mark.parametrize(
    "blank,text",
    [
        ("grad_b", "np.ones((N, D))"),
        ("grad_b", "np.ones_like(b) * grad_c"),
        ("grad_b", "np.full(b.shape, grad_c)"),
        ("grad_a", "grad_b"),
        ("grad_a", "np.array(grad_b)"),
        ("grad_a", "1.0 * grad_b"),
        ("grad_z", "grad_b"),
        ("grad_z", "grad_a.copy()"),
        ("grad_z", "np.ones((3, 4))"),
        ("grad_x", "w * grad_a"),
        ("grad_x", "np.multiply(grad_a, w)"),
        ("grad_x", "grad_b * w"),
        ("grad_w", "x * grad_a"),
        ("grad_w", "np.multiply(x, grad_b)"),
        ("grad_w", "grad_c * x"),
        ("to_float", "xt = xt.float()"),
        ("to_float", "xt = xt.to(dtype=torch.float32)"),
        ("ct", "(xt * wt + zt).sum()"),
        ("ct", "torch.sum(xt * wt) + torch.sum(zt)"),
        ("ct", "(wt * xt + zt).sum()"),
    ],
)
def test_backprop_equivalent_answers_pass(grader, lessons, blank, text):
    assert_accepted(grade(grader, lesson(lessons, "backprop-by-hand"), **{blank: text}), blank)


@pytest.mark.parametrize(
    "blank,text,diagnoses",
    [
        ("grad_x", "grad_a * x", ("wrong_value",)),  # the seed's bug: grad_x and grad_w swapped
        ("grad_w", "grad_a * w", ("wrong_value",)),
        ("grad_b", "grad_c", ("shape_mismatch",)),
        ("ct", "xt * wt + zt", ("shape_mismatch", "runtime_error")),
        ("to_float", "xt.to(torch.float32)", ("wrong_value", "no_effect", "dtype_mismatch")),  # the seed's `.to` bug
    ],
)
def test_backprop_typical_mistakes_are_named(grader, lessons, blank, text, diagnoses):
    report = grade(grader, lesson(lessons, "backprop-by-hand"), **{blank: text})
    assert_only_wrong(report, blank, diagnoses)
    if blank == "to_float":
        assert "returns a new tensor" in report.blanks[blank].hint
    if blank.startswith("grad_"):
        assert "OTHER factor" in report.blanks[blank].hint or blank == "grad_b"


def test_2features_boundary_chart(grader, lessons):
    from tutor import charts

    les = lesson(lessons, "logreg-2features")
    figs = {f.kind: f for f in charts.figures(les, None, grader.reference(les).captures)}
    roles = [s.role for s in figs["boundary"].series]
    assert roles.count("class0") == 1 and roles.count("class1") == 1 and "reference" in roles
    assert "100.0%" in figs["accuracy"].title
