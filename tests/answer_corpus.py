"""The learner-answer corpus: answers a learner would type into each built-in lesson, and the verdict
each one deserves.

Data only: `tests/test_answer_corpus.py` grades every case and `benchmarks/corpus_report.py` prints the
per-lesson counts for a closing note.

A case is one answers file a learner could hand in:

- `changes`: the blanks the learner wrote their own way (blank -> answer text); every other blank
  takes the lesson's reference answer, or, for a partial case, only the blanks in `answered` (or in
  the steps `answered_steps`) have an answer and the rest are left empty (a learner mid-lesson);
- `expect`: "accept" (every answered blank must come back `correct`) or "reject";
- for a reject, `blank`: the blank the verdict must name (and no other blank may be blamed), and
  `diagnoses`: the specific diagnosis codes that are acceptable for it.

How the answers were chosen and checked:

- An EQUIVALENT answer computes the same program: the same values (within the lesson's float
  tolerances: a different summation order is the same answer), the same dtype and shape, the same
  `requires_grad` and leaf status, the same random draws (a layer created in another order, or a layer
  with different sizes, draws another initialisation and is NOT equivalent). Each was reasoned about
  and run: plain, outside the sandbox, every variable of the program after every step compared with
  the reference program's (rtol 1e-5), and through the grader. The only differences that check let
  through: a functional loss (`F.mse_loss`) where the reference holds a loss module, a helper name the
  reference's block defines and the learner's does not (`pred`, `output`), and in l1-regression the SGD
  step written by hand, whose weights drift 3e-5 from `optimizer.step()`'s (float32 rounding through
  the L1 loss's sign), well within the lesson's rtol 1e-3.
- A WRONG answer changes what the program computes (a compared variable, or the run fails). Answers
  that are wrong in general but happen to give the reference's numbers in this lesson (`nn.Linear(
  output_dim, input_dim)` when both are 1, `torch.sum(z - target)` when every error is positive,
  `best_state = model.state_dict()` when no model trains after it is saved) are left out of both lists.
- A case whose verdict the grader gets wrong today carries `finding` (what the grader says), and a
  comment: it stays in the corpus, so the test fails until the grader is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACCEPT = "accept"
REJECT = "reject"

DIAGNOSES = frozenset({
    "syntax_error", "forbidden", "runtime_error", "timeout", "memory", "shape_mismatch", "dtype_mismatch",
    "sign_flipped", "scaled", "nan_or_inf", "wrong_type", "no_effect", "diverged", "wrong_value",
})

# Lessons whose every grade runs a long program (seconds each on a busy 2-core host): their part of
# the corpus is kept to the minimum, with several equivalent answers graded in one answers file.
SLOW_LESSONS = ("mlp-regression", "digits-lr-vs-mlp")


@dataclass(frozen=True)
class Case:
    lesson: str
    changes: dict[str, str]
    expect: str
    blank: str | None = None  # rejects: the blank that must be named
    diagnoses: frozenset[str] = frozenset()  # rejects: the acceptable specific diagnoses
    answered: tuple[str, ...] | None = None  # partial: only these blanks are answered
    answered_steps: tuple[int, ...] | None = None  # partial: only the blanks of these steps (0-based)
    why: str = ""  # what the learner was thinking, or the mistake
    finding: str = ""  # non-empty when today's grader mis-judges the case: what it says
    id: str = field(default="", compare=False)

    @property
    def partial(self) -> bool:
        return self.answered is not None or self.answered_steps is not None

    def answered_blanks(self, lesson) -> list[str]:
        """The blanks this answers file fills, in the lesson's order."""
        names = list(lesson.blanks)
        if self.answered is not None:
            keep = set(self.answered) | set(self.changes)
        elif self.answered_steps is not None:
            keep = {n for n in names if lesson.blanks[n].step in self.answered_steps} | set(self.changes)
        else:
            keep = set(names)
        return [n for n in names if n in keep]

    def answers(self, lesson) -> dict[str, str]:
        """The answers file: the changed blanks, the reference for the other answered ones."""
        ref = lesson.reference_answers()
        unknown = set(self.changes) - set(ref)
        assert not unknown, (self.lesson, unknown)
        return {n: self.changes.get(n, ref[n]) for n in self.answered_blanks(lesson)}


CASES: list[Case] = []


def eq(lesson: str, why: str = "", *, finding: str = "", answered=None, answered_steps=None, **changes: str) -> None:
    """An equivalent answer (or several, for a slow lesson): every answered blank must be accepted."""
    CASES.append(Case(lesson, changes, ACCEPT, why=why, finding=finding, answered=answered, answered_steps=answered_steps))


def bad(lesson: str, blank: str, text: str, diagnoses, why: str = "", *, finding: str = "",
        answered=None, answered_steps=None) -> None:
    """A wrong answer to `blank`: it must be named, with one of `diagnoses`, and nothing else blamed."""
    ds = frozenset((diagnoses,) if isinstance(diagnoses, str) else diagnoses)
    assert ds and ds <= DIAGNOSES, ds
    CASES.append(Case(lesson, {blank: text}, REJECT, blank, ds, why=why, finding=finding,
                      answered=answered, answered_steps=answered_steps))


# ==== linreg-numpy ===============================================================================
L = "linreg-numpy"
eq(L, "np.square and the error's sign swapped", loss="np.mean(np.square(w * X + b - y))")
eq(L, "np.average is np.mean", loss="np.average((y - w * X - b) ** 2)")
eq(L, "a dot product of the errors with themselves, over n", loss="np.dot(y - w * X - b, y - w * X - b) / X.size")
eq(L, "factors in another order", dw="-2 * np.mean(X * (y - w * X - b))")
eq(L, "a matrix product over n", dw="2 * (X @ (w * X + b - y)) / len(y)")
eq(L, "np.average", db="-2 * np.average(y - (w * X + b))")
eq(L, "mean of predictions minus mean of targets", db="2 * (np.mean(w * X + b) - np.mean(y))")
eq(L, "np.subtract", w="np.subtract(w, learning_rate * dw)")
eq(L, "terms in another order", w="-(learning_rate * dw) + w")
eq(L, "adding the negative step", b="b + learning_rate * -db")
eq(L, "ufuncs", y_pred="np.add(np.multiply(w, X), b)")
bad(L, "loss", "np.mean(y - (w * X + b)) ** 2", "wrong_value", "the square of the mean error, not the mean squared error")
bad(L, "loss", "np.mean(np.abs(y - (w * X + b)))", "wrong_value", "the mean absolute error")
bad(L, "dw", "-np.mean((y - (w * X + b)) * X)", "scaled", "the factor 2 forgotten")
bad(L, "dw", "-2 * np.mean(y - (w * X + b))", "wrong_value", "the multiplication by X forgotten (db copied)")
bad(L, "db", "-2 * np.sum(y - (w * X + b))", "scaled", "a sum for the mean")
bad(L, "w", "w - dw", ("scaled", "wrong_value", "diverged"), "the learning rate forgotten")
bad(L, "b", "learning_rate * db", ("sign_flipped", "wrong_value"), "the step alone, not b minus the step")
bad(L, "y_pred", "w * X", "wrong_value", "the bias forgotten")
bad(L, "y_pred", "(w * X + b)[:, None]", "shape_mismatch", "a (400, 1) column where (400,) is expected")
# A learner who has written only the training loop (step 1) and checks it.
eq(L, "step 1 only, dw written its own way", answered_steps=(0,), dw="2 * np.mean((w * X + b - y) * X)")
bad(L, "dw", "2 * np.mean((y - (w * X + b)) * X)", "sign_flipped", "step 1 only, the sign of dw flipped", answered_steps=(0,))
bad(L, "db", "-2 * np.mean(y + (w * X + b))", "wrong_value", "only loss, dw and db written so far; db adds the prediction",
    answered=("loss", "dw", "db"))

# ==== linreg-torch ===============================================================================
L = "linreg-torch"
eq(L, "as_tensor, then float", X_tensor="torch.as_tensor(X).float().reshape(-1, 1)")
eq(L, "a numpy column, then a float32 tensor", X_tensor="torch.tensor(X[:, None], dtype=torch.float32)")
eq(L, "the legacy constructor makes float32", X_tensor="torch.Tensor(X).view(-1, 1)")
eq(L, "from_numpy of a float32 copy", y_tensor="torch.from_numpy(y.astype(np.float32)).unsqueeze(-1)")
eq(L, "the bias said out loud", model="nn.Linear(1, 1, bias=True)")
eq(L, "the full module path", criterion="torch.nn.MSELoss()")
# FINDING: the functional loss works wherever the module is called (criterion(pred_y, y_tensor)) and the
# whole run is identical, but the grader rejects it for its type (the lesson's prose asks for "a loss
# module from nn"; the program does not need one).
eq(L, "the loss as a function rather than a module", criterion="F.mse_loss")
eq(L, "the learning rate by position, momentum 0 said out loud", optimizer="torch.optim.SGD(model.parameters(), 0.5, momentum=0.0)")
eq(L, "gradients set to zero rather than None", zero_grad="zero_grad(set_to_none=False)")
eq(L, "the functional linear layer on the model's own parameters", pred_y="F.linear(X_tensor, model.weight, model.bias)")
eq(L, "MSE is symmetric", loss="criterion(y_tensor, pred_y)")
eq(L, "written out", loss="torch.mean((y_tensor - pred_y) ** 2)")
eq(L, "the graph kept (harmless here)", backward="backward(retain_graph=True)")
eq(L, "the starting gradient given", backward="backward(torch.tensor(1.0))")
eq(L, "closure said out loud", step="step(closure=None)")
eq(L, "through the CPU first", y_pred="model(X_tensor).detach().cpu().numpy()")
bad(L, "X_tensor", "torch.tensor(X, dtype=torch.float64).reshape(400, 1)", "dtype_mismatch", "float64 asked for")
bad(L, "y_tensor", "torch.tensor(y, dtype=torch.float32).reshape(1, 400)", "shape_mismatch", "a row where a column is needed")
bad(L, "model", "nn.Linear(400, 1)", ("shape_mismatch", "runtime_error", "wrong_type"), "400 samples taken for 400 features")
bad(L, "criterion", "nn.MSELoss(reduction='sum')", ("wrong_type", "scaled"), "the summed squared error")
bad(L, "optimizer", "optim.SGD(model.parameters(), lr=0.05)", ("wrong_type", "wrong_value"), "a learning rate ten times too small")
bad(L, "zero_grad", "zero_grad", ("no_effect", "wrong_value", "diverged"), "zero_grad named but not called")
bad(L, "pred_y", "model(y_tensor)", "wrong_value", "the model called on the targets")
bad(L, "loss", "criterion(pred_y, X_tensor)", "wrong_value", "the inputs taken as targets")
bad(L, "backward", "backward", "no_effect", "backward named but not called")
bad(L, "step", "zero_grad()", "no_effect", "zero_grad called where step belongs")
bad(L, "y_pred", "model(X_tensor).detach().numpy().ravel()", "shape_mismatch", "flattened: (400,) where (400, 1) is expected")
bad(L, "y_pred", "model(X_tensor).numpy()", "runtime_error", "numpy() on a tensor that requires grad")
eq(L, "step 1 only: the data as tensors", answered_steps=(0,), X_tensor="torch.from_numpy(X).float().reshape(400, 1)")
bad(L, "y_tensor", "torch.tensor(y).reshape(400, 1)", "dtype_mismatch", "step 1 only: y left float64", answered_steps=(0,))
bad(L, "optimizer", "optim.SGD(model.parameters(), lr=5)", ("wrong_type", "wrong_value", "diverged"),
    "steps 1 and 2 only: a learning rate ten times too large", answered_steps=(0, 1))

# ==== logreg-numpy ===============================================================================
L = "logreg-numpy"
eq(L, "float constants, the minus spread", y_pred="1.0 / (1.0 + np.exp(-(X * w) - b))")
eq(L, "the sigmoid through tanh", y_pred="0.5 * (1 + np.tanh(0.5 * (w * X + b)))")
eq(L, "two means", loss="-(y * np.log(y_pred)).mean() - ((1 - y) * np.log(1 - y_pred)).mean()")
eq(L, "the log-probability of the true answer", loss="np.mean(-np.log(np.where(y == 1, y_pred, 1 - y_pred)))")
eq(L, "factors in another order", dw="np.mean(X * (y_pred - y))")
eq(L, "a matrix product over n", dw="(X @ (y_pred - y)) / len(y)")
eq(L, "np.average", db="np.average(y_pred - y)")
eq(L, "np.subtract", w="np.subtract(w, learning_rate * dw)")
eq(L, "dividing by 1000", b="b - db / 1000")
eq(L, "the labels as booleans", correct="(y_pred > 0.5) == y.astype(bool)")
eq(L, "np.equal", correct="np.equal(y_pred > 0.5, y == 1)")
eq(L, "count over the size", accuracy="np.count_nonzero(correct) / correct.shape[0]")
bad(L, "y_pred", "1 / (1 + np.exp(-w * X + b))", "wrong_value", "the minus sign reaches w only (right while b is 0)")
bad(L, "loss", "-np.mean(y * np.log(y_pred))", "wrong_value", "the non-buyers' term forgotten")
bad(L, "dw", "np.mean(y_pred - y)", "wrong_value", "the X forgotten (db copied)")
bad(L, "dw", "np.mean((y_pred - y) * X) / len(X)", "scaled", "divided by n twice")
bad(L, "db", "np.mean((y_pred - y) * X)", "wrong_value", "dw copied")
bad(L, "b", "b + learning_rate * db", ("sign_flipped", "wrong_value"), "a step up the gradient")
bad(L, "correct", "(y_pred < 0.5) == (y == 1)", "wrong_value", "the threshold the wrong way round")
bad(L, "accuracy", "np.mean(correct) * 100", "scaled", "a percentage where a share is expected")
eq(L, "step 1 only", answered_steps=(0,), dw="np.dot(X, y_pred - y) / X.shape[0]")
bad(L, "db", "np.sum(y_pred - y)", "scaled", "step 1 only: a sum for the mean", answered_steps=(0,))

# ==== logreg-torch ===============================================================================
L = "logreg-torch"
eq(L, "a numpy column, then a float32 tensor", X_tensor="torch.tensor(X[:, None], dtype=torch.float32)")
eq(L, "from_numpy, then to()", y_tensor="torch.from_numpy(y).to(torch.float32).reshape(400, 1)")
eq(L, "another path to the same class", base="torch.nn.modules.Module")
# The explicit base-class call: nn.Module's own __init__ on self.
eq(L, "the base class's __init__ called directly", super_init="nn.Module.__init__(self)")
eq(L, "bias by position", linear="nn.Linear(input_dim, output_dim, True)")
eq(L, "the tensor method", forward="return self.linear(x).sigmoid()")
eq(L, "torch.special.expit is the sigmoid", forward="h = self.linear.forward(x)\nreturn torch.special.expit(h)")
eq(L, "one name reused", forward="out = self.linear(x)\nout = torch.sigmoid(out)\nreturn out")
eq(L, "keywords in another order", model="LogisticRegression(output_dim=1, input_dim=1)")
# FINDING: as in linreg-torch, the functional loss is refused for its type; the run is identical.
eq(L, "the loss as a function", criterion="F.binary_cross_entropy")
eq(L, "momentum 0 said out loud", optimizer="optim.SGD(model.parameters(), lr=1e-3, momentum=0.0)")
eq(L, "predict and measure first, then clear", train=(
    "for epoch in range(epochs):\n    pred = model(X_tensor)\n    loss = criterion(pred, y_tensor)\n"
    "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n    losses += [loss.item()]"))
eq(L, "the SGD step written by hand", train=(
    "for epoch in range(epochs):\n    model.zero_grad()\n    loss = criterion(model(X_tensor), y_tensor)\n"
    "    loss.backward()\n    with torch.no_grad():\n        for p in model.parameters():\n            p -= 1e-3 * p.grad\n"
    "    losses.append(float(loss))"))
eq(L, "squeeze before numpy", y_pred="model(X_tensor).detach().squeeze(1).numpy()")
bad(L, "X_tensor", "torch.tensor(X, dtype=torch.float32)", "shape_mismatch", "a flat (400,) tensor")
bad(L, "y_tensor", "torch.tensor(y, dtype=torch.float64).reshape(-1, 1)", "dtype_mismatch", "float64 targets")
bad(L, "super_init", "super().__init__", ("runtime_error", "no_effect"), "__init__ named but not called: the line does nothing")
bad(L, "linear", "nn.Linear(input_dim, 2)", ("shape_mismatch", "runtime_error", "wrong_type"), "two outputs")
bad(L, "forward", "return torch.relu(self.linear(x))", ("wrong_value", "no_effect"),
    "ReLU for the sigmoid: at the zero start its gradient is 0, so nothing trains")
bad(L, "forward", "out = torch.sigmoid(self.linear(x))\nreturn x", ("wrong_value", "runtime_error"),
    "returns the input (BCELoss then refuses values outside [0, 1])")
bad(L, "criterion", "nn.BCEWithLogitsLoss()", ("wrong_type", "wrong_value"), "the sigmoid applied twice")
bad(L, "train", (
    "for epoch in range(epochs):\n    optimizer.zero_grad()\n    pred = model(X_tensor)\n    loss = criterion(pred, y_tensor)\n"
    "    loss.backward()\n    optimizer.step\n    losses.append(loss.item())"), "no_effect", "step named but not called")
bad(L, "train", (
    "for epoch in range(epochs):\n    optimizer.zero_grad()\n    pred = model(X_tensor)\n    loss = criterion(pred, y_tensor)\n"
    "    pred.mean().backward()\n    optimizer.step()\n    losses.append(loss.item())"), ("wrong_value", "diverged"),
    "back-propagated from the prediction, not the loss")
bad(L, "y_pred", "model(X_tensor).numpy().reshape(-1)", "runtime_error", "numpy() without detach()")
eq(L, "step 1 only", answered_steps=(0,), y_tensor="torch.FloatTensor(y).view(400, 1)")
bad(L, "X_tensor", "torch.tensor(X).reshape(-1, 1)", "dtype_mismatch", "step 1 only: X left float64", answered_steps=(0,))
bad(L, "forward", "return self.linear(x)", ("wrong_value", "runtime_error"),
    "steps 1 and 2 only: the sigmoid forgotten (BCELoss then refuses values outside [0, 1])", answered_steps=(0, 1))

# ==== autograd-basics ============================================================================
L = "autograd-basics"
eq(L, "requires_grad_ with its argument", w="torch.tensor(2.0).requires_grad_(True)")
eq(L, "scalar_tensor", w="torch.scalar_tensor(2.0, requires_grad=True)")
eq(L, "computed without tracking, then tracked: still a leaf", w="(2 * torch.ones(())).requires_grad_()")
eq(L, "the graph kept", backward="z.backward(retain_graph=True)")
eq(L, "the starting gradient given", backward="z.backward(gradient=torch.ones_like(z))")
eq(L, "float and order", dz_dw="w.item() * 4.0")
eq(L, "the tensor method", loss="torch.abs(z - target).sum()")
eq(L, "the L1 distance", loss="torch.dist(z, target, p=1)")
eq(L, "the 1-norm", loss="torch.linalg.vector_norm(z - target, ord=1)")
eq(L, "factors in another order", update="with torch.no_grad():\n    x -= x.grad * lr")
eq(L, "add_ with alpha", update="with torch.no_grad():\n    x.add_(x.grad, alpha=-lr)")
eq(L, "slice assignment", update="with torch.no_grad():\n    x[:] = x - lr * x.grad")
eq(L, "an optimizer's step does it in place, untracked", update="optim.SGD([x], lr=lr).step()")
eq(L, "the data replaced, outside autograd", update="x.data = x.data - lr * x.grad")
bad(L, "w", "2 * torch.ones((), requires_grad=True)", ("wrong_type", "runtime_error"), "a computed, non-leaf tensor: its .grad stays None")
bad(L, "w", "torch.tensor(2.0)", ("runtime_error", "wrong_type"), "requires_grad forgotten")
bad(L, "backward", "z.backward", "no_effect", "backward named but not called")
bad(L, "backward", "y.backward()", ("scaled", "wrong_value"), "back-propagated from y, not z")
bad(L, "dz_dw", "4 * w.item() + 5", "wrong_value", "the constant differentiated too")
bad(L, "loss", "torch.sum((z - target) ** 2)", "wrong_value", "squared errors for absolute ones")
# One number cannot show a constant factor (any number is a multiple of any other): the grader then
# says "wrong_value" with both numbers, by design (diagnose.explain_factor, MIN_NUMBERS).
bad(L, "loss", "torch.sum(torch.abs(z - target)) / 2", ("scaled", "wrong_value"), "halved")
bad(L, "update", "with torch.no_grad():\n    x - lr * x.grad", "no_effect", "the update computed and thrown away")
bad(L, "update", "with torch.no_grad():\n    x -= x.grad", "wrong_value", "the learning rate forgotten")
bad(L, "update", "with torch.no_grad():\n    x = x - lr * x.grad", ("wrong_value", "wrong_type"), "a new, untracked x")
eq(L, "step 1 only", answered_steps=(0,), w="torch.tensor(2.0, dtype=torch.float32).requires_grad_()")
bad(L, "w", "torch.tensor(2, requires_grad=True)", "runtime_error", "step 1 only: an integer tensor cannot require grad",
    answered_steps=(0,))

# ==== backprop-by-hand ===========================================================================
L = "backprop-by-hand"
eq(L, "ones of the shape, times grad_c", grad_b="np.ones((N, D)) * grad_c")
eq(L, "grad_c first, b's shape", grad_b="grad_c * np.ones(b.shape)")
eq(L, "np.copy", grad_a="np.copy(grad_b)")
eq(L, "a copy of grad_a", grad_z="np.copy(grad_a)")
eq(L, "np.multiply, other order", grad_x="np.multiply(w, grad_b)")
eq(L, "np.multiply", grad_w="np.multiply(grad_a, x)")
eq(L, "type()", to_float="xt = xt.type(torch.float32)")
eq(L, "torch.float is float32", to_float="xt = xt.to(torch.float)")
eq(L, "a new float32 tensor from x", to_float="xt = torch.tensor(x, dtype=torch.float32)")
eq(L, "two sums", ct="(xt * wt).sum() + zt.sum()")
eq(L, "the function forms", ct="torch.sum(torch.add(torch.mul(xt, wt), zt))")
bad(L, "grad_b", "np.ones(N)", "shape_mismatch", "one entry per row, not per element")
bad(L, "grad_a", "-grad_b", "sign_flipped", "the addition taken for a subtraction")
bad(L, "grad_z", "np.zeros((N, D))", "wrong_value", "z thought to get no gradient")
bad(L, "grad_x", "grad_a", "wrong_value", "the other factor forgotten")
bad(L, "grad_w", "grad_a @ x.T", "shape_mismatch", "a matrix product for an element-wise one")
bad(L, "to_float", "xt = xt.double()", ("no_effect", "dtype_mismatch", "wrong_value"),
    "float64 asked for: xt already is, so the line changes nothing")
bad(L, "to_float", "xt.float()", ("no_effect", "dtype_mismatch", "wrong_value"), "the converted tensor thrown away")
bad(L, "ct", "torch.mean(xt * wt + zt)", ("scaled", "wrong_value"), "a mean for the sum (one number: 1/12 cannot be shown)")
bad(L, "ct", "torch.sum(xt * wt + zt).detach()", ("runtime_error", "wrong_type"), "detached: backward() has no graph")
eq(L, "step 1 only", answered_steps=(0,), grad_x="grad_b * w")
bad(L, "grad_w", "grad_a * w", "wrong_value", "step 1 only: the factors swapped", answered_steps=(0,))

# ==== linreg-y2x =================================================================================
L = "linreg-y2x"
eq(L, "bias by position", model="nn.Linear(1, 1, True)")
eq(L, "momentum 0 said out loud", optimizer="optim.SGD(model.parameters(), lr=0.01, momentum=0.0)")
eq(L, "no weight decay said out loud", optimizer="optim.SGD(model.parameters(), lr=1e-2, weight_decay=0)")
eq(L, "the functional layer", prediction="F.linear(x_train, model.weight, model.bias)")
eq(L, "written out", loss="torch.mean(torch.square(prediction - y_train))")
eq(L, "MSE is symmetric", loss="F.mse_loss(y_train, prediction)")
eq(L, "set_to_none by position", zero_grad="zero_grad(True)")
eq(L, "the starting gradient given", backward="backward(torch.ones_like(loss))")
eq(L, "no closure", step="step(None)")
eq(L, "torch.full", pred_y="model(torch.full((1, 1), 4.0))")
eq(L, "a scalar reshaped", pred_y="model(torch.tensor(4.0).reshape(1, 1))")
bad(L, "model", "nn.Linear(3, 1)", ("shape_mismatch", "runtime_error", "wrong_type"), "three samples taken for three features")
bad(L, "optimizer", "optim.Adam(model.parameters(), lr=0.01)", "wrong_type", "Adam for SGD")
bad(L, "prediction", "model(y_train)", "wrong_value", "the model called on the targets")
bad(L, "loss", "F.mse_loss(prediction, x_train)", "wrong_value", "the inputs taken as targets")
bad(L, "zero_grad", "zero_grad", ("no_effect", "wrong_value", "diverged"), "zero_grad named but not called")
bad(L, "backward", "backward", "no_effect", "backward named but not called")
bad(L, "step", "zero_grad()", "no_effect", "zero_grad called where step belongs")
bad(L, "pred_y", "model(torch.tensor([[4.0]], dtype=torch.float64))", ("dtype_mismatch", "runtime_error"), "a float64 input")
bad(L, "pred_y", "model(torch.tensor([[4.0]])).item()", ("wrong_type", "runtime_error"), "a Python number where the tensor is used")
eq(L, "step 1 only", answered_steps=(0,), model="nn.Linear(in_features=1, out_features=1, bias=True)")
bad(L, "model", "nn.Linear(2, 1)", ("shape_mismatch", "runtime_error", "wrong_type"), "step 1 only: two inputs",
    answered_steps=(0,))

# ==== logreg-2features ===========================================================================
L = "logreg-2features"
eq(L, "a list unpacked", model="nn.Sequential(*[nn.Linear(2, 1), nn.Sigmoid()])")
eq(L, "mixed paths and keywords", model="nn.Sequential(nn.Linear(2, out_features=1), torch.nn.Sigmoid())")
eq(L, "reduction said out loud", loss="F.binary_cross_entropy(hypothesis, y_train, reduction='mean')")
eq(L, "written out", loss="torch.mean(-y_train * torch.log(hypothesis) - (1 - y_train) * torch.log(1 - hypothesis))")
eq(L, "torch.ge", prediction="torch.ge(hypothesis, 0.5)")
eq(L, "the method", prediction="hypothesis.ge(0.5)")
eq(L, "eq()", correct="prediction.float().eq(y_train)")
eq(L, "to(float32)", correct="prediction.to(torch.float32) == y_train")
eq(L, "the count over the number of rows", accuracy="correct.sum().item() / correct.shape[0]")
eq(L, "count_nonzero", accuracy="correct.count_nonzero().item() / len(correct)")
bad(L, "model", "nn.Sequential(nn.Linear(2, 1), nn.ReLU())", ("wrong_type", "wrong_value", "runtime_error"), "ReLU for the sigmoid")
bad(L, "model", "nn.Sequential(nn.Sigmoid(), nn.Linear(2, 1))", ("wrong_type", "wrong_value", "runtime_error"), "the layers the wrong way round")
bad(L, "loss", "-F.binary_cross_entropy(hypothesis, y_train)", "sign_flipped", "negated")
bad(L, "loss", "F.binary_cross_entropy(hypothesis, y_train, reduction='sum')", "scaled", "a sum for the mean")
bad(L, "loss", "F.binary_cross_entropy(y_train, hypothesis)", ("wrong_value", "runtime_error"), "the arguments swapped")
bad(L, "prediction", "hypothesis <= 0.5", "wrong_value", "the threshold the wrong way round")
bad(L, "correct", "prediction.float() != y_train", "wrong_value", "counts the mistakes")
bad(L, "accuracy", "1 - correct.sum().item() / len(correct)", "wrong_value", "the error rate")
eq(L, "only the model and the loss written so far", answered=("model", "loss"), loss="nn.BCELoss()(hypothesis, y_train)")
bad(L, "loss", "F.binary_cross_entropy(hypothesis, y_train) * 2", "scaled", "only the model and the loss written so far: doubled",
    answered=("model", "loss"))

# ==== zero-grad ==================================================================================
L = "zero-grad"
eq(L, "the full path, reduction said", loss_func="torch.nn.MSELoss(reduction='mean')")
# FINDING: the functional loss is refused for its type; every loss_func(...) call gives the same values.
eq(L, "the loss as a function: called the same way", loss_func="F.mse_loss")
eq(L, "the functional layer", output="F.linear(x, model.weight, model.bias)")
eq(L, "written out", loss="torch.mean((label - output) ** 2)")
eq(L, "a fresh module", loss="nn.MSELoss()(output, label)")
eq(L, "detached copy of a tensor that needs no grad", label="y_noise.detach()")
eq(L, "torch.clone", label="torch.clone(y_noise)")
eq(L, "the method", expected_twice="g_once.mul(2)")
eq(L, "the function", expected_twice="torch.mul(g_once, 2)")
eq(L, "through the model, set to None", zero_grad="model.zero_grad(set_to_none=True)")
eq(L, "every gradient set to None by hand", zero_grad="for p in model.parameters(): p.grad = None")
bad(L, "loss_func", "nn.MSELoss(reduction='sum')", ("wrong_type", "scaled"), "the summed squared error")
bad(L, "output", "model(label)", "wrong_value", "the model called on the labels")
bad(L, "loss", "loss_func(output, x)", "wrong_value", "the inputs taken as labels")
bad(L, "label", "noise", "wrong_value", "the noise alone")
bad(L, "label", "y_noise.reshape(-1)", "shape_mismatch", "flattened labels broadcast against a column")
bad(L, "expected_twice", "g_once ** 2", "wrong_value", "squared, not doubled")
bad(L, "expected_twice", "g_once / 2", ("scaled", "wrong_value"), "halved (one number: the factor 1/4 cannot be shown)")
bad(L, "zero_grad", "optimizer.zero_grad", ("no_effect", "wrong_value", "diverged"), "zero_grad named but not called")
bad(L, "zero_grad", "optimizer.step()", ("wrong_value", "diverged"), "step for zero_grad: an extra step with stale gradients")
eq(L, "step 1 only", answered_steps=(0,), output="model.forward(x)")
bad(L, "loss", "loss_func(output, x)", "wrong_value", "step 1 only: the inputs taken as labels", answered_steps=(0,))

# ==== l1-regression ==============================================================================
L = "l1-regression"
eq(L, "the full path, reduction said", loss_func="torch.nn.L1Loss(reduction='mean')")
# FINDING: the functional loss is refused for its type; every loss_func(...) call gives the same values.
eq(L, "the loss as a function: called the same way", loss_func="F.l1_loss")
eq(L, "the parameters listed, in the model's order", optimizer="optim.SGD([model.weight, model.bias], lr=0.01)")
eq(L, "momentum 0 said out loud", optimizer="optim.SGD(model.parameters(), lr=1e-2, momentum=0)")
eq(L, "no output variable", epoch="optimizer.zero_grad()\nloss = loss_func(model(x), label)\nloss.backward()\noptimizer.step()")
eq(L, "the L1 loss written out", epoch=(
    "optimizer.zero_grad()\noutput = model(x)\nloss = torch.mean(torch.abs(output - label))\nloss.backward()\noptimizer.step()"))
eq(L, "the SGD step by hand", epoch=(
    "model.zero_grad()\nloss = loss_func(model(x), label)\nloss.backward()\nwith torch.no_grad():\n"
    "    for p in model.parameters():\n        p -= 0.01 * p.grad"))
eq(L, "F.l1_loss with the arguments swapped (symmetric)", epoch=(
    "optimizer.zero_grad(set_to_none=True)\noutput = model.forward(x)\nloss = F.l1_loss(label, output)\nloss.backward()\noptimizer.step()"))
bad(L, "loss_func", "nn.L1Loss(reduction='sum')", ("wrong_type", "scaled"), "the summed absolute error")
bad(L, "loss_func", "nn.SmoothL1Loss()", "wrong_type", "the smooth L1 (Huber) loss")
bad(L, "optimizer", "optim.SGD(model.parameters(), lr=0.01, momentum=0.9)", "wrong_type", "momentum added")
bad(L, "optimizer", "optim.Adam(model.parameters(), lr=0.01)", "wrong_type", "Adam for SGD")
bad(L, "epoch", "optimizer.zero_grad()\noutput = model(x)\nloss = loss_func(output, label)\noutput.mean().backward()\noptimizer.step()",
    ("wrong_value", "diverged"), "back-propagated from the output, not the loss")
bad(L, "epoch", "optimizer.zero_grad()\noutput = model(x)\nloss = loss_func(output, label)\nloss.backward()\noptimizer.step",
    "no_effect", "step named but not called")
bad(L, "epoch", "optimizer.zero_grad()\noutput = model(x)\nloss = loss_func(output, label)\nloss.backward\noptimizer.step()",
    "no_effect", "backward named but not called")
bad(L, "epoch", "optimizer.zero_grad()\noutput = model(x)\nloss = loss_func(output, y)\nloss.backward()\noptimizer.step()",
    "wrong_value", "the clean labels for the noisy ones")
bad(L, "epoch", "optimizer.zero_grad()\noutput = model(x).detach()\nloss = loss_func(output, label)\nloss.backward()\noptimizer.step()",
    "runtime_error", "the output detached: nothing to back-propagate")
bad(L, "epoch", "output = model(x)\nloss = loss_func(output, label)\nloss.backward()\noptimizer.zero_grad()\noptimizer.step()",
    "no_effect", "the gradients cleared between backward and step")
eq(L, "step 1 only", answered_steps=(0,), optimizer="optim.SGD(params=model.parameters(), lr=0.01, momentum=0.0)")
bad(L, "optimizer", "optim.SGD(model.parameters(), lr=0.001)", ("wrong_type",), "step 1 only: a learning rate ten times too small",
    answered_steps=(0,))

# ==== mlp-regression (slow: about 12-15 s a grade) ================================================
L = "mlp-regression"
eq(L, "in-place ReLUs; reduction and momentum said out loud; the prediction moved to the CPU", model=(
    "nn.Sequential(nn.Linear(1, 10), nn.ReLU(inplace=True), nn.Linear(10, 20), nn.ReLU(inplace=True), "
    "nn.Linear(20, 10), nn.ReLU(inplace=True), nn.Linear(10, 1))"),
    loss_func="torch.nn.L1Loss(reduction='mean')", optimizer="optim.SGD(model.parameters(), lr=2e-4, momentum=0)",
    output="model(x).detach().cpu()")
# FINDING: the same four Linear layers and three ReLUs, created in the same order (same initial weights),
# grouped in nested Sequentials: n_params, model(x) and the whole run are identical, but the grader
# counts the top-level children.
# FINDING: the functional loss is refused for its type (as in the other lessons).
# (One set: each of its four blanks another way; a 10000-epoch run a set.)
eq(L, "nested Sequentials (same layers, same order); the prediction moved to the device; the loss as a"
   " function; dampening said out loud", model=(
    "nn.Sequential(nn.Sequential(nn.Linear(1, 10), nn.ReLU()), nn.Sequential(nn.Linear(10, 20), nn.ReLU()), "
    "nn.Sequential(nn.Linear(20, 10), nn.ReLU()), nn.Linear(10, 1))"), output="model(x).detach().to(device)",
   loss_func="F.l1_loss", optimizer="optim.SGD(params=model.parameters(), lr=0.0002, dampening=0)")
bad(L, "model", "nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 20), nn.ReLU(), nn.Linear(10, 1))",
    ("shape_mismatch", "runtime_error"), "layer sizes that do not chain")
bad(L, "model", "nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU())",
    ("shape_mismatch", "wrong_type"), "the output layer forgotten: 10 outputs")
bad(L, "loss_func", "nn.MSELoss()", ("wrong_type", "diverged"), "the squared error for the absolute one")
bad(L, "optimizer", "optim.Adam(model.parameters(), lr=0.0002)", "wrong_type", "Adam for SGD")
bad(L, "output", "model(x)", ("wrong_type",), "not detached: still part of the graph")
bad(L, "model", "nn.Sequential(nn.Linear(1, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 1))",
    ("shape_mismatch", "wrong_type", "wrong_value"), "step 1 only: a first hidden layer of 20", answered_steps=(0,))

# ==== digits-lr-vs-mlp (slow: about 15 s a grade) =================================================
L = "digits-lr-vs-mlp"
# (One set: every blank another way; `mlp_forward` with a hidden name `h` is in tests/test_lessons_digits.py.)
eq(L, "as_tensor, shape[0], keywords in another order, the sizes as numbers, relu as a function; set_to_none,"
   " torch.sum, label smoothing 0, weight decay 0, clone then detach",
   getitem="return torch.as_tensor(self.X[index], dtype=torch.float32), torch.as_tensor(self.y[index], dtype=torch.int64)",
   len="return self.y.shape[0]",
   train_loader="train_loader = DataLoader(train_dataset, shuffle=True, batch_size=64, generator=g)",
   val_loader="val_loader = DataLoader(val_dataset, batch_size=64, shuffle=False, drop_last=False)",
   lr_fc="nn.Linear(64, 10)",
   mlp_forward="return self.fc2(torch.relu(self.fc1(x)))",
   train_step="self.optimizer.zero_grad(set_to_none=True)\nloss = self.criterion(self.model(inputs), labels)\nloss.backward()\nself.optimizer.step()",
   count_correct="torch.sum(output.argmax(1) == labels).item()",
   criterion="nn.CrossEntropyLoss(label_smoothing=0.0)",
   optimizer="optim.Adam(model.parameters(), lr=lr, weight_decay=0)",
   keep_best="best_state = {k: v.clone().detach() for k, v in model.state_dict().items()}")
bad(L, "getitem", "x = torch.tensor(self.X[index], dtype=torch.float64)\nlabel = torch.tensor(self.y[index], dtype=torch.int64)\nreturn x, label",
    ("dtype_mismatch", "runtime_error"), "float64 pixels")
bad(L, "len", "return self.X.shape[1]", "wrong_value", "the number of pixels, not of samples")
bad(L, "mlp_forward", "x = self.fc1(x)\nx = self.relu(x)\nx = self.fc2(x)", ("runtime_error", "wrong_type", "wrong_value"), "no return")
bad(L, "criterion", "nn.MSELoss()", ("wrong_type", "runtime_error"), "the squared error against class indices")
bad(L, "count_correct", "(output.argmax(dim=1) == labels).float().mean().item()", ("scaled", "wrong_value"), "the batch's share, not its count")
bad(L, "optimizer", "optim.Adam(model.parameters(), lr=0.01)", ("wrong_type", "wrong_value"), "a fixed rate, not the sweep's lr")
eq(L, "step 1 only", answered_steps=(0,), len="return self.y.size")
bad(L, "getitem", "x = torch.tensor(self.X[index], dtype=torch.float32)\nlabel = torch.tensor(self.y[index], dtype=torch.float32)\nreturn x, label",
    ("dtype_mismatch", "runtime_error"), "step 1 only: a float label", answered_steps=(0,))


def _name_cases() -> None:
    seen: dict[tuple[str, str], int] = {}
    for c in CASES:
        kind = ("eq" if c.expect == ACCEPT else "bad") + ("-partial" if c.partial else "")
        k = seen[(c.lesson, kind)] = seen.get((c.lesson, kind), 0) + 1
        object.__setattr__(c, "id", f"{c.lesson}-{kind}{k}-{'+'.join(c.changes)}")
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


_name_cases()


def by_lesson() -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = {}
    for c in CASES:
        out.setdefault(c.lesson, []).append(c)
    return out
