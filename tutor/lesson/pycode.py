"""A lesson's code as Python: parsed without warnings, and a syntax error put back at its place in
the lesson file, in the answer of the blank it comes from when it comes from one.

The code of a step or of the setup is gathered from fenced blocks (markdown.py): `Code` keeps, for
each of its lines, the file line it came from and the columns an indented fence took off, so any
0-based place in the code is a 1-based place in the file. A program rendered from a template
(template.py) is mapped back through the anchors `render` gives with it.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

from .model import Report
from .template import Anchor

# What ast.parse raises for a text that is not a program it can read (deep nesting, NUL, huge).
PARSE_FAILURES = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)

_ON_LINE_RE = re.compile(r"\bon line (\d+)")
_BLANK_EXAMPLE = "{{name: answer}}"


@dataclass
class Code:
    """Code gathered from fenced blocks, and where each of its lines is in the file."""

    text: str
    lines: list[int]  # file line of each code line
    shifts: list[int]  # columns removed from each code line

    def place(self, code_line: int, code_col: int) -> tuple[int, int]:
        """The 1-based file line and column of a 0-based place in the code."""
        if not self.lines:
            return 1, 1
        i = min(max(code_line, 0), len(self.lines) - 1)
        return self.lines[i], max(code_col, 0) + self.shifts[i] + 1


def parse_quiet(source: str, mode: str = "exec") -> ast.AST:
    """ast.parse without SyntaxWarnings on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, mode=mode)


def is_expression(source: str) -> bool:
    """Whether `source` is one Python expression on its own."""
    try:
        parse_quiet(source, "eval")
    except PARSE_FAILURES:
        return False
    return True


def check_syntax(
    text: str,
    code: Code,
    anchors: list[list[Anchor]] | None,
    what: str,
    file_lines: list[str],
    report: Report,
) -> ast.AST | None:
    """Parse a program (`code`'s text, or rendered from it with `anchors`); report a syntax error at
    its place in the file (`file_lines`: the file's lines) and return None."""
    try:
        return parse_quiet(text)
    except SyntaxError as exc:
        line, col, blank = _map(code, anchors, exc.lineno or 1, exc.offset or 1)
        message = _ON_LINE_RE.sub(
            lambda m: "on line " + str(_map(code, anchors, int(m.group(1)), 1)[0]),
            exc.msg or "invalid syntax",
        )
        if "null byte" in message:
            report(line, col, f"{what} contains a null character, which Python does not allow: remove it")
            return None
        sentence = f"{what} is not valid Python at line {line}: {message}"
        if blank:
            sentence += f" (in the answer of blank `{blank}`)"
        elif "{{" in file_lines[min(line, len(file_lines)) - 1]:
            sentence += f" (a blank is written like {_BLANK_EXAMPLE})"
        report(line, col, sentence)
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        first = code.lines[0] if code.lines else 1
        if "null" in str(exc):
            report(first, 1, f"{what} contains a null character, which Python does not allow: remove it")
        else:
            report(first, 1, f"{what} is too deeply nested or too large to check: simplify it")
    return None


def _map(code: Code, anchors: list[list[Anchor]] | None, lineno: int, offset: int) -> tuple[int, int, str | None]:
    """A place in a rendered program (1-based) as a file line, column and blank name."""
    if anchors is None:
        line, col = code.place(lineno - 1, offset - 1)
        return line, col, None
    i = min(max(lineno - 1, 0), len(anchors) - 1)
    while i > 0 and not anchors[i]:
        i -= 1
    if not anchors[i]:
        line, col = code.place(0, 0)
        return line, col, None
    rendered_col = max(offset - 1, 0) if i == lineno - 1 else 0
    chosen = anchors[i][0]
    for anchor in anchors[i]:
        if anchor[0] <= rendered_col:
            chosen = anchor
    start, code_line, code_col, blank = chosen
    line, col = code.place(code_line, code_col + max(rendered_col - start, 0))
    return line, col, blank
