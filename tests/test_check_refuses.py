"""`tutor check` refuses every broken lesson with the file, the line and one sentence (issue 15).

Each test writes a small lesson into tmp_path with one authoring mistake, runs `tutor check PATH`
as an instructor would, and reads what it prints: a non-zero exit and `FILE:LINE` of the mistake.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tutor.lesson import parse_lesson

ROOT = Path(__file__).resolve().parent.parent

BASE = """+++
id = "base"
title = "A line, fitted"
datasets = ["linear_regression"]
timeout = 5
+++

Fit a line to the points.

## Fit

Fill the loss and the gradient.

```python
w, b = 0.0, 0.0
loss_list = []
for i in range(40):
    loss = {{loss: np.mean((y - (w * X + b)) ** 2)}}
    dw = {{dw: -2 * np.mean((y - (w * X + b)) * X)}}
    w = w - 0.1 * dw
    b = b + 0.01
    loss_list.append(loss)
```

```toml check
[compare]
loss_list = { rtol = 1e-4 }

[charts]
loss = "loss_list"
```
"""


def check(tmp_path: Path, text: str, name: str = "010-lesson.md") -> tuple[subprocess.CompletedProcess, str, list[str]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "tutor", "check", str(path)], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    return out, str(path), text.splitlines()


def with_settings(settings: str) -> str:
    """BASE with `settings` added at the end of its check block."""
    return BASE.replace('loss = "loss_list"\n```', 'loss = "loss_list"\n' + settings + "```")


def line_of(lines: list[str], needle: str) -> int:
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def said(out: subprocess.CompletedProcess) -> str:
    return out.stdout + out.stderr


def test_the_base_lesson_passes(tmp_path):
    out, _, _ = check(tmp_path, BASE)
    assert out.returncode == 0, said(out)
    assert "1/1 lessons pass" in out.stdout


@pytest.mark.parametrize("where,edit", [
    ("paragraph", ("Fill the loss and the gradient.", "Fill the loss, {{mean: np.mean(y)}}, and the gradient.")),
    ("heading", ("## Fit", "## Fit {{title: w * X + b}}")),
    ("list", ("Fit a line to the points.", "- the model is {{model: w * X + b}}")),
    ("introduction", ("Fit a line to the points.", "Fit a line: {{line: w * X + b}}.")),
])
def test_a_blank_in_the_prose_is_refused_at_its_line(tmp_path, where, edit):
    out, path, lines = check(tmp_path, BASE.replace(*edit))
    assert out.returncode == 2, said(out)
    assert f"{path}:{line_of(lines, '{{')}:" in out.stderr
    assert "prose" in out.stderr and "Traceback" not in said(out)


def test_a_compare_entry_the_program_never_defines(tmp_path):
    out, path, lines = check(tmp_path, BASE.replace("loss_list = { rtol = 1e-4 }", "loss_list = { rtol = 1e-4 }\nlosses = {}"))
    assert out.returncode != 0, said(out)
    assert f"{path}:{line_of(lines, 'losses = {}')}: " in out.stdout
    assert "`losses`" in out.stdout and "never defines" in out.stdout
    assert "0/1 lessons pass" in out.stdout


def test_a_chart_entry_the_program_never_defines(tmp_path):
    out, path, lines = check(tmp_path, BASE.replace('loss = "loss_list"', 'loss = "loss_history"'))
    assert out.returncode != 0, said(out)
    assert f"{path}:{line_of(lines, 'loss_history')}: " in out.stdout
    assert "chart `loss`" in out.stdout and "never defines" in out.stdout


def test_a_reference_whose_compared_values_become_inf_or_nan(tmp_path):
    text = BASE.replace("range(40)", "range(300)").replace("w = w - 0.1 * dw", "w = w - 50.0 * dw")
    out, path, lines = check(tmp_path, text)
    assert out.returncode != 0, said(out)
    assert f"{path}:{line_of(lines, 'loss_list = {')}: " in out.stdout
    assert "NaN or infinite" in out.stdout


def test_a_tolerance_tighter_than_rounding_is_a_problem_at_its_line(tmp_path):
    out, path, lines = check(tmp_path, BASE.replace("loss_list = { rtol = 1e-4 }", "loss_list = { rtol = 0, atol = 0 }"))
    assert out.returncode != 0, said(out)
    assert f"{path}:{line_of(lines, 'rtol = 0')}: " in out.stdout
    assert "tighter than rounding" in out.stdout and "allow at least rtol" in out.stdout
    assert "times the expected value" not in said(out)


def test_a_rounding_difference_is_never_called_a_factor(tmp_path, grader):
    path = tmp_path / "010-tight.md"
    path.write_text(BASE.replace("loss_list = { rtol = 1e-4 }", "loss_list = { rtol = 0, atol = 0 }"))
    lesson = parse_lesson(path)
    report = grader.grade(lesson, {**lesson.reference_answers(), "loss": "np.mean((y - w * X - b) ** 2)"})
    got = report.blanks["loss"]
    assert "times the expected value" not in got.message
    assert "up to rounding" in got.message, got.message


def test_an_invalid_blank_name_is_a_problem_at_its_line(tmp_path):
    out, path, lines = check(tmp_path, BASE.replace("{{dw:", "{{d-Z:"))
    assert out.returncode == 2, said(out)
    assert f"{path}:{line_of(lines, '{{d-Z:')}:" in out.stderr
    assert "`d-Z` is not a blank name" in out.stderr
    assert "TypeError" not in said(out) and "NameError" not in said(out) and "reference program" not in said(out)


def test_duplicate_blank_names_are_one_problem_without_a_spurious_remedy(tmp_path):
    out, path, lines = check(tmp_path, BASE.replace("{{dw:", "{{loss:"))
    assert out.returncode == 2, said(out)
    assert f"{path}:{line_of(lines, 'dw = {{loss:')}:" in out.stderr
    assert "two blanks are named `loss`" in out.stderr
    assert "parentheses" not in out.stderr
    assert "1 problem(s)" in out.stderr


def test_an_unclosed_header_string_says_the_quote_is_missing(tmp_path):
    out, path, lines = check(tmp_path, BASE.replace('title = "A line, fitted"', 'title = "A line, fitted'))
    assert out.returncode == 2, said(out)
    assert f"{path}:{line_of(lines, 'title =')}:" in out.stderr
    assert "closing quote" in out.stderr and "invisible" not in out.stderr


def test_an_unknown_dataset_is_a_sentence_at_the_header_line(tmp_path):
    out, path, lines = check(tmp_path, BASE.replace('datasets = ["linear_regression"]', 'datasets = ["iris_flowers"]'))
    assert out.returncode == 2, said(out)
    assert f"{path}:{line_of(lines, 'datasets =')}: unknown dataset `iris_flowers`" in said(out)
    assert "Traceback" not in said(out)


@pytest.mark.parametrize("edit,needle", [
    (("    b = b + 0.01\n", "    if False:\n        b = {{b_step: b + 0.01}}\n"), "{{b_step:"),
    (("w, b = 0.0, 0.0\n", "def scale(z):\n    return {{scaled: 2 * z}}\n\n\nw, b = 0.0, 0.0\n"), "{{scaled:"),
], ids=["if-false", "function-never-called"])
def test_a_blank_that_never_runs_is_reported_at_its_line(tmp_path, edit, needle):
    out, path, lines = check(tmp_path, BASE.replace(*edit))
    assert out.returncode != 0, said(out)
    assert f"{path}:{line_of(lines, needle)}: " in out.stdout
    assert "never runs" in out.stdout


ACCEPT = """
[blanks.loss]
accept = ["np.mean((w * X + b - y) ** 2)", "np.square(y - w * X - b).mean()"]

[blanks.dw]
accept = ["2 * np.mean((w * X + b - y) * X)", "np.mean((y - (w * X + b)) * X)"]
"""


def test_accepted_answers_are_graded_and_a_wrong_one_is_named_with_its_line(tmp_path):
    right = ACCEPT.replace(', "np.mean((y - (w * X + b)) * X)"', "")
    out, _, _ = check(tmp_path, with_settings(right))
    assert out.returncode == 0, said(out)
    out, path, lines = check(tmp_path, with_settings(ACCEPT), "020-wrong-accept.md")
    assert out.returncode != 0, said(out)
    dw_accept = line_of(lines, 'accept = ["2 * np.mean')
    assert f"{path}:{dw_accept}: " in out.stdout
    assert "`np.mean((y - (w * X + b)) * X)` is not accepted" in out.stdout
    assert "`np.square(y - w * X - b).mean()`" not in out.stdout  # a right one is not reported


def test_an_unknown_judge_is_a_parser_problem(tmp_path):
    out, path, lines = check(tmp_path, with_settings('\n[blanks.loss]\njudge = "outcome"\n'))
    assert out.returncode == 2, said(out)
    assert f"{path}:{line_of(lines, 'judge =')}:" in out.stderr and 'judge = "run"' in out.stderr
