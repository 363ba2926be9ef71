"""What the grader reads off a lesson once: its learning rates (a `scaled` factor may be one), the
sizes of the data its charts draw, the expressions its charts need captured."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from tutor.grading.diagnose import RATE_NAMES
from tutor.lesson import reference_program
from tutor.lesson.model import Lesson
from tutor.sandbox.results import RunResult


_OPTIMIZERS = frozenset({"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD"})


def learning_rates(lesson: Lesson) -> tuple[float, ...]:
    """The learning rates written in the lesson's reference program: numbers assigned to a name like
    `lr`, `learning_rate`, `alpha`, `eta` or `step_size` (`RATE_NAMES`, any case, also in `a, lr = 1, 0.1`),
    given as `lr=` to a call, or as an optimizer's second argument (`optim.SGD(params, 0.1)`). Only
    positive numbers other than 1 (a factor 1 is no difference), in the order they appear."""
    try:
        tree = ast.parse(reference_program(lesson))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    found: list[float] = []

    def add(node: ast.AST | None) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            v = float(node.value)
            if 0 < v < float("inf") and v != 1 and v not in found:
                found.append(v)

    def assigned(target: ast.AST, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name) and target.id.lower() in RATE_NAMES:
            add(value)
        elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
                and len(target.elts) == len(value.elts):
            for t, v in zip(target.elts, value.elts):
                assigned(t, v)

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                assigned(target, node.value)
        elif isinstance(node, ast.AnnAssign):
            assigned(node.target, node.value)
        elif isinstance(node, ast.keyword) and node.arg is not None and node.arg.lower() in RATE_NAMES:
            add(node.value)
        elif isinstance(node, ast.Call) and len(node.args) >= 2:
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name in _OPTIMIZERS:
                add(node.args[1])
    return tuple(found)


def _chart_data_sizes(lesson: Lesson, ref: RunResult) -> set[int]:
    """The leading length of the data the lesson's charts draw (their `x` and `y`) in the reference run."""
    out: set[int] = set()
    for s, step in enumerate(lesson.steps):
        caps = ref.captures.get(str(s), {})
        for spec in step.charts.values():
            if not isinstance(spec, dict):
                continue
            for key in ("x", "y"):
                v = caps.get(spec.get(key)) if isinstance(spec.get(key), str) else None
                if v is not None and v.is_numeric and len(v.shape) >= 1 and v.shape[0] > 1:
                    out.add(int(v.shape[0]))
    return out


def _chart_exprs(value: Any) -> list[str]:
    """Expressions a chart spec refers to ("loss_list", {"x": "X", "line": "y_pred"}...)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [v for k, v in value.items() if isinstance(v, str) and k not in ("title", "kind", "scale")]
    return []


def header_line(lesson: Lesson, key: str) -> int:
    """The file line of `key` in the lesson's header (1 when the file cannot be read again)."""
    from tutor.lesson.header import lesson_lines, read_lesson_text, split_header
    from tutor.lesson.toml_section import find_line

    text, _ = read_lesson_text(Path(lesson.path))
    split = split_header(lesson_lines(text)) if text is not None else None
    if split is None or split.lines is None:
        return 1
    return find_line(split.lines, 2, (), key)


def dataset_problem(lesson: Lesson, message: str) -> str:
    """A dataset that cannot be given to the program, as a lesson problem at its header line."""
    where = str(lesson.path)
    if message.startswith(where + ":"):
        return message  # already placed (an instructor's own data file)
    return f"{where}:{header_line(lesson, 'datasets')}: {message}"


def conventions(lesson: Lesson) -> list[dict[str, str]]:
    """The answers of the `judge = "run"` blanks in each convention the lesson knows: the reference's
    first, then one per place k of their `accept` lists (a blank without a k-th entry keeps its
    reference answer there)."""
    run = [b for b in lesson.blanks.values() if b.judge == "run"]
    out = [{b.name: b.answer for b in run}]
    for k in range(max((len(b.accept) for b in run), default=0)):
        out.append({b.name: b.accept[k] if k < len(b.accept) else b.answer for b in run})
    return out
