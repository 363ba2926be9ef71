"""Builds the programs the grader runs from a lesson's template: reference, shadow, learner, isolation.

Each program is the lesson's setup, then every step's code with its blanks filled, then a capture
call after each step. Each step's template is walked with `tutor.lesson.template.walk`, the walk the
parser and the app's code view use too. Blanks are instrumented with the runtime hooks
(tutor/sandbox/runtime.py).
A line map keeps, for every generated line, the blank it came from and its line in the lesson file.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from tutor.lesson.model import Lesson
from tutor.lesson.template import TemplateBlank, walk

HOOK_INDENT = "    "


@dataclass
class Program:
    source: str
    origins: list[tuple[str | None, int]] = field(default_factory=list)  # per line: (blank, file line)
    index: dict[str, int] = field(default_factory=dict)  # blank name -> hook index
    compared: set[int] = field(default_factory=set)  # hook indices compared with the reference in this run

    def origin(self, line: int | None) -> tuple[str | None, int | None]:
        """(blank name, lesson file line) of a 1-based generated line."""
        if line is None or not 1 <= line <= len(self.origins):
            return None, None
        return self.origins[line - 1]


# Nodes whose body may run more than once (or never, then again later): a hook under one of them is
# not "reached once". Conservative: a loop's header and a function's defaults count as its body.
_REPEATING = (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
              ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_COMPARING_HOOKS = ("__tutor_blank__", "__tutor_check__")


def reached_once(source: str) -> list[int]:
    """Hook indices of the compared blanks (shadowed or checked in place) that `source` reaches at
    most once: each hook appears once, at the module's top level, outside every loop, function, class
    and comprehension (an `if`, `try` or `with` is fine). Their first compared call is their verdict,
    so a run that judges them may end there (Job.once). Read off the program as built, so a learner's
    answer that puts a hook in a loop is seen as such; nothing for a program that does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    seen: dict[int, int] = {}
    repeated: set[int] = set()
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, inside = stack.pop()
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _COMPARING_HOOKS
                and node.args and isinstance(node.args[0], ast.Constant) and type(node.args[0].value) is int):
            i = node.args[0].value
            seen[i] = seen.get(i, 0) + 1
            if inside:
                repeated.add(i)
        inside = inside or isinstance(node, _REPEATING)
        stack.extend((child, inside) for child in ast.iter_child_nodes(node))
    return sorted(i for i, n in seen.items() if n == 1 and i not in repeated)


def blank_index(lesson: Lesson) -> dict[str, int]:
    return {name: i for i, name in enumerate(lesson.blanks)}


def _paren(text: str) -> str:
    return "(" + text + "\n)" if "#" in text else "(" + text + ")"


class _Builder:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.origins: list[tuple[str | None, int]] = []
        self.buf = ""
        self.buf_blank: str | None = None
        self.buf_line = 0
        self.wrap: int | None = None  # hook index of a statement fragment on the current line
        self.compared: set[int] = set()

    def text(self, text: str, file_line_of, start_index: int) -> int:
        """Append template text; returns the template line index after it."""
        parts = text.split("\n")
        idx = start_index
        for k, part in enumerate(parts):
            if not self.buf:
                self.buf_line = file_line_of(idx)
            self.buf += part
            if k < len(parts) - 1:
                self.flush()
                idx += 1
        return idx

    def inline(self, text: str, blank: str, file_line: int) -> None:
        if not self.buf:
            self.buf_line = file_line
        # A multi-line inline answer (only from an answers file) stays inside its parentheses.
        pieces = text.split("\n")
        self.buf += pieces[0]
        self.buf_blank = blank
        for piece in pieces[1:]:
            self.flush()
            self.buf = piece
            self.buf_blank = blank
            self.buf_line = file_line

    def line(self, text: str, blank: str | None, file_line: int) -> None:
        self.lines.append(text)
        self.origins.append((blank, file_line))

    def flush(self) -> None:
        text, i = self.buf, self.wrap
        self.wrap = None
        if i is not None and _simple_statement(text):
            # A simple statement holding a learner fragment (`optimizer.step()`): mark the whole line.
            ind = text[: len(text) - len(text.lstrip())]
            for line in _wrapped(ind, i, [text.strip()]):
                self.lines.append(line)
                self.origins.append((self.buf_blank, self.buf_line))
        else:
            self.lines.append(text)
            self.origins.append((self.buf_blank, self.buf_line))
        self.buf = ""
        self.buf_blank = None

    def program(self, index: dict[str, int]) -> Program:
        if self.buf:
            self.flush()
        return Program("\n".join(self.lines) + "\n", self.origins, index, self.compared)


def _simple_statement(text: str) -> bool:
    """True when `text` is one complete simple statement that can stand inside a `try:`."""
    try:
        tree = ast.parse(text.strip())
    except SyntaxError:
        return False
    return len(tree.body) == 1 and not isinstance(
        tree.body[0], (ast.For, ast.While, ast.If, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef)
    )


def _wrapped(ind: str, i: int, body: list[str]) -> list[str]:
    """Statement lines wrapped so the runtime knows blank `i` is running, and which blank raised."""
    out = [f"{ind}try:", f"{ind}{HOOK_INDENT}__tutor_enter__({i})"]
    out += [f"{ind}{HOOK_INDENT}{line}" if line.strip() else "" for line in body]
    out += [
        f"{ind}except BaseException as __tutor_e:",
        f"{ind}{HOOK_INDENT}__tutor_fail__({i}, __tutor_e)",
        f"{ind}{HOOK_INDENT}raise",
        f"{ind}finally:",
        f"{ind}{HOOK_INDENT}__tutor_exit__({i})",
    ]
    return out


def _block(b: _Builder, blank: TemplateBlank, text: str, i: int, wrap: bool, first: int) -> None:
    """A block blank's lines at its indentation (`first`: the file line of its `{{name:` line);
    `wrap`: inside the hooks that tell the runtime blank `i` is running."""
    if b.buf.strip():
        b.flush()
    b.buf = ""
    body = text.rstrip("\n").split("\n") if text.strip() else ["pass"]
    ind = blank.indent
    if wrap:
        # The answer's lines keep their places after the `{{name:` line (as unwrapped below,
        # so a traceback names the line that raised); the hook's lines are at `{{name:`.
        for k, line in enumerate(_wrapped(ind, i, body)):
            b.line(line, blank.name, first + k - 1 if 2 <= k < 2 + len(body) else first)
    else:
        for k, line in enumerate(body):
            b.line(f"{ind}{line}" if line.strip() else "", blank.name, first + 1 + k)


def build(
    lesson: Lesson,
    *,
    answers: dict[str, str] | None = None,
    learner: set[str] | frozenset[str] = frozenset(),
    shadow: set[str] | frozenset[str] = frozenset(),
    mark: bool = True,
    check: set[str] | frozenset[str] = frozenset(),
) -> Program:
    """The lesson program with blanks in `learner` filled from `answers` (the rest: the reference).

    Expression blanks in `shadow` evaluate the reference and the learner's answer side by side
    (`__tutor_blank__`); learner blanks are wrapped so the runtime knows which blank was running
    when a run fails, hangs or blows its memory (`mark`). Learner expression blanks in `check` keep
    the learner's value but are compared with the reference in place (`__tutor_check__`).
    """
    answers = answers or {}
    index = blank_index(lesson)
    b = _Builder()
    setup_lines = lesson.setup_lines or []
    if lesson.setup.strip():
        for k, text in enumerate(lesson.setup.rstrip("\n").split("\n")):
            b.line(text, None, setup_lines[k] if k < len(setup_lines) else 1)
    for s, step in enumerate(lesson.steps):
        code_lines = step.code_lines or [1]

        def file_line(i: int, code_lines: list[int] = code_lines) -> int:
            return code_lines[min(i, len(code_lines) - 1)]

        for piece in walk(step.segments, lesson.blanks):
            blank = piece.blank
            if blank is None:
                b.text(piece.text, file_line, piece.line)
                continue
            i = index[blank.name]
            use_learner = blank.name in learner and blank.name in answers
            text = answers[blank.name] if use_learner else blank.answer
            if blank.kind == "block":
                _block(b, blank, text, i, use_learner and mark, file_line(blank.code_line))
                continue
            line_no = file_line(blank.code_line)
            if blank.kind == "expression":
                # The learner's expression runs before the reference's lambda is even made (runtime.py).
                if blank.name in shadow and blank.name in answers:
                    b.compared.add(i)
                    rendered = (f"__tutor_blank__({i}, __tutor_learner__({i}, lambda: {_paren(answers[blank.name])}), "
                                f"lambda: {_paren(blank.answer)})")
                elif use_learner and blank.name in check:
                    b.compared.add(i)
                    rendered = f"__tutor_check__({i}, __tutor_check_learner__({i}, lambda: {_paren(text)}), lambda: {_paren(blank.answer)})"
                elif use_learner and mark:
                    rendered = f"__tutor_run__({i}, lambda: {_paren(text)})"
                else:
                    rendered = _paren(text) if use_learner else text
                b.inline(rendered, blank.name, line_no)
                continue
            # statement blank
            whole_line = not b.buf.strip()
            if use_learner and mark and whole_line:
                ind = b.buf
                b.buf = ""
                body = text.split("\n") if text.strip() else ["pass"]
                for line in _wrapped(ind, i, body):
                    b.line(line, blank.name, line_no)
                # The template's newline after the blank now ends an empty line: harmless.
            else:
                if use_learner and mark:
                    b.wrap = i
                b.inline(text if text.strip() or not whole_line else "pass", blank.name, line_no)
        if b.buf.strip():
            b.flush()
        else:
            b.buf = ""
        last = code_lines[-1] if code_lines else 1
        b.line(f"__tutor_capture__({str(s)!r})", None, last)
    return b.program(index)
