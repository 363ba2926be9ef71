"""Authoring: `tutor new` writes a starter that passes `tutor check`, and `tutor import` turns a `???`
exercise (with its solution) or an nbgrader notebook into a lesson that passes it, or says which cell
and line need the author."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.authoring.cells import Namer, Note, blank_base
from tutor.authoring.notebook import _nbformat, build

nbformat = _nbformat()  # as `tutor import` loads it: without jsonschema's iri checker, 1.4 s to import
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: E402
from tutor.authoring.transform import module_expr
from tutor.lesson import parse_lesson

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = Path(__file__).parent / "fixtures" / "notebooks"


def tutor(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tutor", *args], capture_output=True, text=True, timeout=600, cwd=cwd)


# ---- tutor new ------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_new_writes_a_starter_that_passes_check(tmp_path, framework):
    out = tutor("new", "my-lesson", "--framework", framework, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    path = tmp_path / "my-lesson.md"
    assert f"wrote {path.name}" in out.stdout or f"wrote {path}" in out.stdout
    lesson = parse_lesson(path)
    assert lesson.id == "my-lesson" and lesson.framework == framework and len(lesson.blanks) >= 4
    assert "# The lesson header" in path.read_text()  # commented for the author
    check = tutor("check", str(path), cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "1/1 lessons pass" in check.stdout and " 0 missed" in check.stdout


def test_new_never_overwrites_and_checks_the_id(tmp_path):
    (tmp_path / "taken.md").write_text("mine", encoding="utf-8")
    out = tutor("new", "taken", cwd=tmp_path)
    assert out.returncode == 2 and "taken.md already exists" in out.stderr
    assert (tmp_path / "taken.md").read_text() == "mine"
    out = tutor("new", "Bad_Id", cwd=tmp_path)
    assert out.returncode == 2 and "may only use lowercase letters, digits and hyphens" in out.stderr
    assert "Traceback" not in out.stderr
    out = tutor("new", "in-dir", "--dir", str(tmp_path / "sub"), cwd=tmp_path)
    assert out.returncode == 2 and "cannot be written" in out.stderr


# ---- tutor import: a ??? exercise and its solution --------------------------------------------------


def test_import_a_pair_gives_a_lesson_that_passes_check(tmp_path):
    out = tutor("import", str(NOTEBOOKS / "linreg-exercise.ipynb"), "--solution", str(NOTEBOOKS / "linreg-solution.ipynb"),
                "-o", "010-linreg.md", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1/1 lessons pass" in out.stdout
    lesson = parse_lesson(tmp_path / "010-linreg.md")
    assert lesson.id == "linreg" and lesson.title == "Understanding gradient descent" and lesson.framework == "numpy"
    answers = {n: b.answer for n, b in lesson.blanks.items()}
    assert answers == {
        "loss": "np.mean((y - (w * X + b)) ** 2)",
        "dw": "-2 * np.mean((y - (w * X + b)) * X)",
        "db": "-2 * np.mean(y - (w * X + b))",
        "w": "w - learning_rate * dw",
        "b": "b - learning_rate * db",
        "y_pred": "w * X + b",
        "y_pred_2": "w * X + b",  # a repeated target is numbered
    }
    assert all(b.kind == "expression" for b in lesson.blanks.values())
    # np.loadtxt of a file beside the notebook became the lesson's own data, copied beside the lesson.
    assert (tmp_path / "linear.csv").read_text() == (NOTEBOOKS / "linear.csv").read_text()
    assert lesson.data["table"].array.shape == (50, 2)
    # plt.plot(loss_list) became the loss chart; plt.scatter(X, y) + plt.plot(X, y_pred) the fit.
    charts = {k: v for step in lesson.steps for k, v in step.charts.items()}
    assert charts["loss"] == "loss_list" and charts["fit"] == {"x": "X", "y": "y", "line": "y_pred"}
    text = (tmp_path / "010-linreg.md").read_text()
    assert "plt." not in text and "import" not in text and "%matplotlib" not in text
    assert "```py\nloss = mean" in text  # a code fence in a markdown cell stays prose
    # What was dropped is said at its cell and line, and where each blank comes from.
    assert "cell 1, line 6: `%matplotlib inline` is an IPython magic or shell line: dropped" in out.stdout
    assert "cell 1, line 2: `pickle` is not available in lessons" in out.stdout
    assert "blank loss           cell 7, line 13" in out.stdout


# ---- tutor import: one nbgrader notebook ------------------------------------------------------------


def test_import_nbgrader_gives_block_blanks_that_pass_check(tmp_path):
    out = tutor("import", str(NOTEBOOKS / "torch-nbgrader.ipynb"), "-o", str(tmp_path / "020-torch.md"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1/1 lessons pass" in out.stdout
    lesson = parse_lesson(tmp_path / "020-torch.md")
    assert lesson.framework == "torch" and lesson.title == "PyTorch basics"
    assert {n: b.kind for n, b in lesson.blanks.items()} == {"model": "block", "prediction": "block", "predict": "block"}
    assert lesson.blanks["prediction"].answer.splitlines() == [
        "prediction = model(x_train)", "loss = F.mse_loss(prediction, y_train)", "optimizer.zero_grad()",
        "loss.backward()", "optimizer.step()",
    ]
    assert lesson.blanks["predict"].answer == "return model(torch.FloatTensor([[x]]))"
    assert "init = nn.init" in lesson.setup and "import" not in lesson.setup  # import torch.nn.init as init
    assert any(step.charts.get("loss") == "losses" for step in lesson.steps)
    text = (tmp_path / "020-torch.md").read_text()
    assert "HIDDEN TESTS" not in text and "assert losses" not in text and "YOUR ANSWER HERE" not in text
    assert "cell 9, line 1: nbgrader's hidden tests were dropped" in out.stdout
    assert "cell 1, line 1: `!pip install torch` is an IPython magic or shell line: dropped" in out.stdout


# ---- what needs the author ------------------------------------------------------------------------------


def _write(path: Path, cells: list[tuple[str, str]]) -> Path:
    nb = new_notebook()
    for kind, src in cells:
        nb.cells.append(new_code_cell(src) if kind == "code" else new_markdown_cell(src))
    nbformat.write(nb, path)
    return path


def test_import_says_which_cell_and_line_need_the_author(tmp_path):
    ex = _write(tmp_path / "ex.ipynb", [
        ("markdown", "## Load"),
        ("code", "import numpy as np\nwith open('/somewhere/data.pkl', 'rb') as f:\n    X = pickle.load(f)\nZ = np.loadtxt('/elsewhere/z.csv')"),
        ("markdown", "## Fit"),
        ("code", "total = ???\nprint(total)"),
    ])
    so = _write(tmp_path / "so.ipynb", [
        ("markdown", "## Load"),
        ("code", "import numpy as np\nwith open('/somewhere/data.pkl', 'rb') as f:\n    X = pickle.load(f)\nZ = np.loadtxt('/elsewhere/z.csv')"),
        ("markdown", "## Fit"),
        ("code", "total = float(np.sum(X)) + float(np.sum(Z))\nprint(total)"),
    ])
    out = tutor("import", str(ex), "--solution", str(so), "-o", "les.md", cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "needs you: cell 2, line 2: this statement uses `open`, which lessons do not have: dropped; X, f must come from" in out.stdout
    assert "needs you: cell 2, line 4: the file load of `Z` was dropped: '/elsewhere/z.csv' is not beside the notebook" in out.stdout
    # The check runs and fails (X is never defined); the command says the lesson needs the author.
    assert "does not pass `tutor check` yet" in out.stderr and "Traceback" not in out.stderr
    assert "blank total          cell 4, line 1" in out.stdout


def test_import_refusals_are_one_sentence(tmp_path):
    ex = _write(tmp_path / "ex.ipynb", [("code", "y = ???")])
    out = tutor("import", str(ex), cwd=tmp_path)
    assert out.returncode == 2 and "its ??? need their answers: give the solution notebook with --solution" in out.stderr
    (tmp_path / "junk.ipynb").write_text("{not json", encoding="utf-8")
    out = tutor("import", "junk.ipynb", "--solution", str(ex), cwd=tmp_path)
    assert out.returncode == 2 and "is not a Jupyter notebook nbformat can read" in out.stderr
    assert "Traceback" not in out.stderr
    plain = _write(tmp_path / "plain.ipynb", [("code", "x = 1")])
    out = tutor("import", str(plain), cwd=tmp_path)
    assert out.returncode == 2 and "no blanks found" in out.stderr
    (tmp_path / "taken.md").write_text("mine", encoding="utf-8")
    out = tutor("import", str(ex), "--solution", str(ex), "-o", "taken.md", cwd=tmp_path)
    assert out.returncode == 2 and "taken.md already exists" in out.stderr
    assert (tmp_path / "taken.md").read_text() == "mine"


def test_import_line_problems_point_back_at_the_notebook(tmp_path):
    ex = _write(tmp_path / "ex.ipynb", [("markdown", "## S"), ("code", "x = 1\ny = ???\n")])
    so = _write(tmp_path / "so.ipynb", [("markdown", "## S"), ("code", "x = 1\ny = (x +\n")])
    out = tutor("import", str(ex), "--solution", str(so), "-o", "les.md", "--no-check", cwd=tmp_path)
    assert out.returncode == 1
    assert "(notebook cell 2, line 2)" in out.stderr, out.stdout + out.stderr


# ---- the parts --------------------------------------------------------------------------------------


def test_blank_names():
    assert blank_base("    loss = ???", 11, "np.mean(x)") == "loss"
    assert blank_base("self.linear = ???", 14, "nn.Linear(1, 1)") == "linear"
    assert blank_base("a, b = ???", 7, "1, 2") == "a_b"
    assert blank_base("optimizer.???", 10, "zero_grad()") == "zero_grad"
    assert blank_base("for ???", 4, "i in range(3):") == "loop"
    assert blank_base("print(???)", 6, "x") == "blank"
    namer = Namer()
    assert [namer("y_pred"), namer("y_pred"), namer("y_pred"), namer("2x")] == ["y_pred", "y_pred_2", "y_pred_3", "b_2x"]
    assert [namer("None"), namer("blank")] == ["blank", "blank_2"]  # a keyword is no blank name


def test_numpy_and_torch_imports_become_names_the_lesson_gives():
    assert module_expr("torch.nn.init", "torch") == "nn.init"
    assert module_expr("torch.nn.functional", "torch") == "F"
    assert module_expr("torch.utils.data", "torch") == "torch.utils.data"
    assert module_expr("numpy.random", "numpy") == "np.random"
    assert module_expr("torch", "numpy") is None and module_expr("pandas", "torch") is None


def test_imports_and_magics_in_a_built_lesson(tmp_path):
    ex = _write(tmp_path / "ex.ipynb", [
        ("code", "%load_ext autoreload\nimport torch\nfrom torch import nn\nfrom torch.utils.data import DataLoader\n"
                 "import numpy.random as npr\nimport seaborn as sns\nimport sklearn\n"),
        ("markdown", "## Step"),
        ("code", "for epoch in range(2):\n    sns.lineplot([1, 2])\nloss = ???\n"),
    ])
    so = _write(tmp_path / "so.ipynb", [
        ("code", "import torch\n"),
        ("markdown", "## Step"),
        ("code", "for epoch in range(2):\n    sns.lineplot([1, 2])\nloss = torch.tensor(1.0)\n"),
    ])
    imported = build(ex, so, tmp_path / "les.md")
    (tmp_path / "les.md").write_text(imported.text, encoding="utf-8")
    lesson = parse_lesson(tmp_path / "les.md")
    assert lesson.setup.splitlines() == ["DataLoader = torch.utils.data.DataLoader", "npr = np.random"]
    assert "for epoch in range(2):\n    pass\n" in lesson.steps[0].code  # a loop left empty keeps `pass`
    places = {(n.cell, n.line): n.text for n in imported.notes if isinstance(n, Note)}
    assert "IPython magic" in places[(1, 1)] and "`sklearn` is not available" in places[(1, 7)]


def test_reading_a_notebook_skips_the_slow_iri_checker_and_still_validates(tmp_path):
    """jsonschema's `iri` format checker (rfc3987_syntax, which builds a parser at import: 1.4 s of
    every `tutor import`) is not loaded for a notebook, whose schema has no formats; the schema is
    still checked."""
    good = _write(tmp_path / "ok.ipynb", [("code", "x = 1")])
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}))
    probe = (
        "import sys\nfrom pathlib import Path\nfrom tutor.authoring.notebook import read_notebook, AuthoringError\n"
        f"print(len(read_notebook(Path({str(good)!r})).cells))\n"
        "try:\n"
        f"    read_notebook(Path({str(bad)!r}))\n"
        "except AuthoringError as exc:\n"
        "    print('refused:', exc)\n"
        "print('rfc3987_syntax' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "1" and "refused:" in lines[1] and "nbformat can read" in lines[1] and lines[2] == "False"
