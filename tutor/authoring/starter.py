"""`tutor new ID`: a commented starter lesson that passes `tutor check` as it stands.

The starter is a complete small lesson (a line fitted by gradient descent, on data the setup makes
with a seeded generator, so it needs no file), and its comments say what each part is for and point
to docs/authoring.md. Comments live where the learner never reads them as prose: in the TOML header
and check blocks, and in the code (which the author rewrites anyway). The id is checked as the
lesson header checks it; the file is never overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path

FRAMEWORKS = ("numpy", "torch")
_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")


class StarterError(Exception):
    """The starter cannot be written: one sentence saying why and what to do."""


_HEADER = '''+++
# The lesson header (TOML). docs/authoring.md lists every key.
id = "{id}"                          # stable: answers files and progress refer to it
title = "{title}"
framework = "{framework}"                 # "numpy": np only; "torch": np, torch, nn, optim, F
# datasets = ["linear_regression"]  # built-in data (docs/authoring.md, "Datasets")
# data = {{ iris = "iris.csv" }}       # your own .csv or .npy file beside this file, as an array `iris`
timeout = 10                        # seconds one run may take
seed = 0                            # numpy, torch and random are seeded with it before every run
+++

Replace this introduction: what the learner will build and why it matters. Everything before the
first `## ` heading is the introduction; it is Markdown.

```python setup
# The setup runs before the first step; the learner sees it but cannot change it.
# Make small data here with a seeded generator, or load it with `datasets` / `data` in the header.
rng = np.random.default_rng(0)
X = rng.uniform(0, 1, 100)
y = 3 * X + 2 + rng.normal(0, 0.1, 100)
n = len(X)
```
'''

_NUMPY = '''
## Fit a line by gradient descent

Each `## ` heading starts a step: its prose, its program and its check block. Tell the learner what
to fill in: here the mean squared error, its two gradients and the two updates.

```python
# Each blank holds its name and its reference answer between double braces; the learner sees ???.
w, b = 0.0, 0.0
learning_rate = 0.5
loss_list = []

for epoch in range(200):
    y_hat = w * X + b
    loss = {{loss: np.mean((y_hat - y) ** 2)}}
    dw = {{dw: 2 * np.mean((y_hat - y) * X)}}
    db = {{db: 2 * np.mean(y_hat - y)}}
    w = {{w: w - learning_rate * dw}}
    b = b - learning_rate * db
    loss_list.append(loss)

print(f"w = {w:.3f}, b = {b:.3f}")
```

```toml check
# What the learner's run is compared with the reference's on, after this step (rtol, atol).
[compare]
loss_list = { rtol = 1e-6, atol = 1e-9 }
w = {}
b = {}

# What the app draws after a check: the loss per epoch, and the line over the data.
[charts]
loss = "loss_list"
fit = { x = "X", y = "y", line = "w * X + b" }

# Hints, shown one at a time; the last may give the answer away, the others must not.
[blanks.loss]
hints = ["The mean of the squared differences between prediction and target.", "np.mean((y_hat - y) ** 2)"]
sign_flipped = "A squared error is never negative."   # a hint for one diagnosis (docs/authoring.md)

[blanks.dw]
hints = ["Differentiate the loss with respect to w: the chain rule brings down a factor 2 and X."]
scaled = "Check the constant factor: the square brings down exactly one 2."

[blanks.db]
hints = ["Like dw, without the factor X."]

[blanks.w]
hints = ["Step against the gradient: subtract learning_rate times dw."]
```
'''

_TORCH = '''
## Fit a line with PyTorch

Each `## ` heading starts a step: its prose, its program and its check block. Tell the learner what
to fill in: here the model, the loss, and the three calls of every training step.

```python
# Each blank holds its name and its reference answer between double braces; the learner sees ???.
X_t = torch.tensor(X, dtype=torch.float32).reshape(-1, 1)
y_t = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)

model = {{model: nn.Linear(1, 1)}}
optimizer = optim.SGD(model.parameters(), lr=0.5)
losses = []

for epoch in range(200):
    optimizer.{{zero_grad: zero_grad()}}
    loss = {{loss: F.mse_loss(model(X_t), y_t)}}
    loss.{{backward: backward()}}
    optimizer.{{step: step()}}
    losses.append(loss.item())

print("weight", round(model.weight.item(), 3), "bias", round(model.bias.item(), 3))
```

```toml check
# What the learner's run is compared with the reference's on, after this step (rtol, atol).
[compare]
losses = { rtol = 1e-4, atol = 1e-6 }
"model.weight" = {}
"model.bias" = {}

# What the app draws after a check: the loss per epoch.
[charts]
loss = "losses"

# Hints, shown one at a time; the last may give the answer away, the others must not.
[blanks.model]
hints = ["One input feature, one output.", "nn.Linear(1, 1)"]

[blanks.zero_grad]
hints = ["PyTorch adds new gradients to the old ones: clear them first."]

[blanks.loss]
hints = ["The mean squared error between the model's prediction and y_t, from F."]

[blanks.backward]
hints = ["Fill every parameter's .grad from the loss."]

[blanks.step]
hints = ["Let the optimizer move the parameters."]
```
'''


def starter_text(lesson_id: str, framework: str = "numpy") -> str:
    """The starter lesson's text for `lesson_id`; StarterError for an id or framework that cannot be used."""
    if not _ID_RE.fullmatch(lesson_id):
        raise StarterError(
            f"the id {lesson_id!r} may only use lowercase letters, digits and hyphens: write it like linreg-momentum"
        )
    if framework not in FRAMEWORKS:
        raise StarterError(f"the framework {framework!r} is not known: use numpy or torch")
    title = lesson_id.replace("-", " ").capitalize()
    return _HEADER.format(id=lesson_id, title=title, framework=framework) + (_TORCH if framework == "torch" else _NUMPY)


def write_starter(lesson_id: str, framework: str, folder: Path) -> Path:
    """Write `folder/ID.md` (never over an existing file); its path."""
    text = starter_text(lesson_id, framework)
    path = folder / f"{lesson_id}.md"
    try:
        with open(path, "x", encoding="utf-8") as f:  # "x": fails if anything is there, a link included
            f.write(text)
    except FileExistsError:
        raise StarterError(f"{path} already exists: choose another id, or move that file away first") from None
    except OSError as exc:
        raise StarterError(f"{path} cannot be written ({(exc.strerror or str(exc)).lower()}): check the folder") from None
    return path
