"""Blanks judged by the run (`judge = "run"`), accepted conventions, and the built-in equivalent forms
`tutor check` tries (issue 15)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tutor.grading.rewrites import rewrites
from tutor.lesson import parse_lesson, parse_lesson_text

ROOT = Path(__file__).resolve().parent.parent
MOMENTUM = ROOT / "tests" / "fixtures" / "judge" / "010-momentum.md"

# The other convention: the velocity carries the learning rate, and the step adds it.
OTHER = {"v_w": "mu * v_w - lr * g_w", "v_b": "mu * v_b - lr * g_b", "w": "w + v_w", "b": "b + v_b"}


def test_tutor_check_accepts_both_conventions_of_the_momentum_lesson():
    out = subprocess.run([sys.executable, "-m", "tutor", "check", str(MOMENTUM.parent)], capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1/1 lessons pass" in out.stdout and "missed" in out.stdout


def test_both_conventions_are_right_and_a_wrong_one_is_named(grader):
    lesson = parse_lesson(MOMENTUM)
    assert grader.grade(lesson, lesson.reference_answers()).passed
    other = grader.grade(lesson, OTHER)
    assert other.passed, {n: b.message for n, b in other.blanks.items()}
    # In the other convention, a step that subtracts the velocity is wrong, and only that blank.
    wrong = grader.grade(lesson, {**OTHER, "w": "w - v_w"})
    assert [n for n, b in wrong.blanks.items() if b.verdict != "correct"] == ["w"]
    assert wrong.blanks["w"].diagnosis in ("wrong_value", "diverged"), wrong.blanks["w"].message
    # Half of one convention and half of the other: the odd one out is wrong.
    mixed = grader.grade(lesson, {**lesson.reference_answers(), "v_w": "mu * v_w - lr * g_w"})
    assert [n for n, b in mixed.blanks.items() if b.verdict != "correct"] == ["v_w"]


def test_without_judge_run_the_other_convention_is_refused_value_by_value(grader):
    lesson = parse_lesson_text(MOMENTUM.read_text().replace('judge = "run"\n', ""), MOMENTUM)
    report = grader.grade(lesson, OTHER)
    assert not report.passed
    assert report.blanks["v_w"].verdict == "incorrect"


def test_the_check_block_keeps_accept_and_judge_with_their_lines():
    lesson = parse_lesson(MOMENTUM)
    lines = MOMENTUM.read_text().splitlines()
    v_w = lesson.blanks["v_w"]
    assert v_w.judge == "run" and v_w.accept == ["mu * v_w - lr * g_w"]
    assert lines[v_w.setting_lines["accept"] - 1].startswith("accept = ")


def blank(answer: str, kind: str = "expression"):
    text = f"+++\nid = \"r\"\ntitle = \"R\"\n+++\n\n## S\n\n```python\nx = 1.0\ny = 2.0\nv = {{{{v: {answer}}}}}\n```\n"
    return parse_lesson_text(text).blanks["v"]


def test_equivalent_forms_are_valid_different_code():
    forms = {f.label: f.text for f in rewrites(blank("np.mean((y - (w * X + b)) ** 2)"), "numpy", limit=10)}
    assert forms["operand order of +"] == "np.mean((y - (b + w * X)) ** 2)"
    assert forms["mean or sum as a function"] == "((y - (w * X + b)) ** 2).mean()"
    assert forms["regrouped"] == "np.mean((y - w * X - b) ** 2)"
    assert forms["square as a product"] == "np.mean((y - (w * X + b)) * (y - (w * X + b)))"
    dot = {f.label: f.text for f in rewrites(blank("x.T @ g / n"), "numpy", limit=10)}
    assert dot["matrix product"] == "np.dot(x.T, g) / n"
    torch = {f.label: f.text for f in rewrites(blank("torch.mean(a - b)"), "torch", limit=10)}
    assert torch["mean or sum as a function"] == "(a - b).mean()"
    assert torch["negated difference"] == "torch.mean(-(b - a))"
    assert rewrites(blank("[0.0] + xs"), "numpy", limit=10) == []  # a list's + does not commute
    assert len(rewrites(blank("np.mean((y - (w * X + b)) ** 2)"), "numpy")) == 3  # few: each costs runs
