"""The blanks of a step's code: found, split from the code into segments, and given their kind.

Places here are 0-based (code line, code column) in the step's code; the parser maps them to the file.

Decisions:

- `{{name:` always opens a blank, even inside a string literal. `{{` then a few characters that
  are not a name and a `:` (`{{d-Z: ...}}`, `{{: ...}}`) is a blank with a wrong name, reported (as
  code it would be a set holding a dict, which never runs). Any other `{{` (an f-string's escaped
  brace, a set holding a set) is plain code.
- Braces are counted inside an answer to find its closing `}}`, without looking at string literals:
  braces inside an answer, strings included, must balance.
- A one-line blank's kind comes from the step's reference program with a placeholder name in the
  blank's place: it is a statement where the placeholder is a whole statement (a blank that is the
  whole line, `{{zero_grad: optimizer.zero_grad()}}`), an assignment target, or not a name at all
  (`optimizer.{{step: step()}}`); it is an expression where the placeholder is read as a value and
  the answer is an expression on its own. So a whole-line blank inside brackets (one argument per
  line) is an expression. An expression answer must keep its meaning when put in parentheses
  (`2 * {{a: b + c}}` is reported: write `{{a: (b + c)}}`).
- A block blank's answer drops blank lines at its start and its end, and is dedented.
- In a block, a line holding only `}}` always closes it; a `}}` that closes the block at the end of
  an answer line is reported.
"""

from __future__ import annotations

import ast
import bisect
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

from .model import Segment
from .pycode import PARSE_FAILURES, is_expression, parse_quiet
from .template import render

OPEN_RE = re.compile(r"\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*:")
# `{{` then a short run up to a `:` that is not a name (`{{d-Z:`, `{{2x:`, `{{: ...`): a blank whose name
# is wrong. As Python it would be a set holding a dict, which can never run (a dict is unhashable).
_BAD_OPEN_RE = re.compile(r"\{\{[ \t]*([^{}:\n]{0,40}?)[ \t]*:(?!:)")
_PLACEHOLDER = "__tutor_blank__"

# Records a problem at a 0-based (code line, code column) of the step's code.
CodeReport = Callable[[int, int, str], None]


@dataclass
class BlankDraft:
    """A blank as found in the code, before the lesson's `Blank` is made of it."""

    name: str
    kind: str | None  # "block" when known from the layout, else decided later
    answer: str
    code_line: int
    code_col: int
    indent: str = ""
    answer_line: int = 0  # code line of the answer's first character (block: first answer line)
    answer_col: int = 0  # code col of the answer's first character (block: dedent width)
    end_line: int = 0  # just past the closing `}}` (block: its `}}` line)
    end_col: int = 0


@dataclass
class Scan:
    """A step's code split into segments, its blanks, and the problems found (at code places)."""

    blanks: list[BlankDraft] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    problems: list[tuple[int, int, str]] = field(default_factory=list)


def line_starts(text: str) -> list[int]:
    """The offset where each line of `text` starts."""
    return [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]


def scan_blanks(code: str) -> Scan:
    """Find the `{{name: answer}}` blanks of a step's code and split it into segments."""
    return _Scanner(code).run()


class _Scanner:
    """One pass over a step's code, from each `{{name:` to its closing `}}`."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.starts = line_starts(code)
        self.lines = code.split("\n")
        self.scan = Scan()
        self.text_from = 0  # where the code not yet in a segment starts

    def place(self, pos: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, pos) - 1
        return line, pos - self.starts[line]

    def problem(self, line: int, col: int, message: str) -> None:
        self.scan.problems.append((line, col, message))

    def add_blank(self, draft: BlankDraft, begin: int, resume: int) -> int:
        """Add the code before the blank (from `begin` on is the blank's), then the blank."""
        if begin > self.text_from:
            self.scan.segments.append(Segment(text=self.code[self.text_from : begin]))
        self.scan.blanks.append(draft)
        self.scan.segments.append(Segment(blank=draft.name))
        self.text_from = resume
        return resume

    def run(self) -> Scan:
        code = self.code
        pos = 0
        while True:
            j = code.find("{{", pos)
            if j < 0:
                break
            opening = OPEN_RE.match(code, j)
            if not opening:
                self.bad_name(j)
                pos = j + 1
                continue
            line_end = code.find("\n", j)
            line_end = len(code) if line_end < 0 else line_end
            if code[opening.end() : line_end].strip():
                pos = self.inline(opening, line_end)
            else:
                pos = self.block(opening)
        if len(code) > self.text_from:
            self.scan.segments.append(Segment(text=code[self.text_from :]))
        return self.scan

    def bad_name(self, j: int) -> None:
        """A `{{` at `j` that opens a blank with a name that is not one."""
        bad = _BAD_OPEN_RE.match(self.code, j)
        if bad is None or (j > 0 and self.code[j - 1] == "{"):
            return
        line, col = self.place(j)
        name = bad.group(1).strip()
        if not name:
            self.problem(line, col, "this blank has no name: write it like {{loss: answer}}, its name before the colon")
            return
        self.problem(
            line,
            col,
            f"`{name}` is not a blank name: a name has only letters, digits and _ and does not start with a"
            " digit, like {{" + re.sub(r"\W", "_", name if not name[0].isdigit() else "_" + name) + ": ...}}",
        )

    def inline(self, opening: re.Match[str], line_end: int) -> int:
        """A one-line blank: add it and return where the scan goes on."""
        code, j, name = self.code, opening.start(), opening.group(1)
        line, col = self.place(j)
        end = self.closing(opening, line, col, line_end)
        if end is None:
            return opening.end()
        raw = code[opening.end() : end]
        answer = raw.strip()
        draft = BlankDraft(
            name,
            None,
            answer,
            line,
            col,
            answer_line=line,
            answer_col=col + (opening.end() - j) + len(raw) - len(raw.lstrip()),
            end_line=line,
            end_col=end + 2 - self.starts[line],
        )
        if not answer:
            self.problem(line, col, f"the blank `{name}` has no answer: write the reference answer after `{name}:`")
        return self.add_blank(draft, j, end + 2)

    def closing(self, opening: re.Match[str], line: int, col: int, line_end: int) -> int | None:
        """Where the `}}` closing a one-line blank is; None (after a problem) when there is none."""
        code, name = self.code, opening.group(1)
        depth = 0
        stray: int | None = None
        k = opening.end()
        while k < len(code):
            c = code[k]
            if c == "{":
                inner = OPEN_RE.match(code, k)
                if inner:
                    self.problem(
                        line,
                        col,
                        f"the blank `{name}` is never closed before the next blank `{inner.group(1)}` starts"
                        " (blanks cannot sit inside blanks): add }} after its answer",
                    )
                    return None
                depth += 1
            elif c == "}":
                if depth > 0:
                    depth -= 1
                elif code.startswith("}}", k):
                    if k > line_end:
                        self.problem(
                            line,
                            col,
                            f"the blank `{name}` runs over several lines: a one-line blank ends with }}}} on"
                            f" the same line, and a block blank has nothing after `{{{{{name}:` on its first"
                            " line and }} alone on its last line",
                        )
                        return None
                    if stray is not None:
                        self.problem(
                            line,
                            stray,
                            f"the answer of blank `{name}` has a }} that closes no {{: braces inside an"
                            " answer must balance",
                        )
                    return k
                elif stray is None and k < line_end:
                    stray = self.place(k)[1]
            k += 1
        self.problem(line, col, f"the blank `{name}` is never closed: add }}}} after its answer")
        return None

    def block(self, opening: re.Match[str]) -> int:
        """A block blank (`{{name:` ends its line; answer lines until a line holding only `}}`):
        add it and return where the scan goes on."""
        name = opening.group(1)
        line, col = self.place(opening.start())
        line_start = self.starts[line]
        prefix = self.code[line_start : opening.start()]
        if prefix.strip():
            self.problem(
                line,
                col,
                f"the block blank `{name}` must start on a line of its own: leave only spaces before"
                f" `{{{{{name}:` (put the code before it on the line above)",
            )
        indent = prefix[: len(prefix) - len(prefix.lstrip())]
        answer_lines, close_line, resume = self.block_lines(name, line, col)
        if close_line is None:
            return resume if resume is not None else opening.end()
        kept = [i for i, text in enumerate(answer_lines) if text.strip()]
        if not kept:
            self.problem(
                line,
                col,
                f"the block blank `{name}` has no answer: write the reference lines between"
                f" `{{{{{name}:` and }}}}",
            )
            answer, first, margin = "", line + 1, 0
        else:
            body = answer_lines[kept[0] : kept[-1] + 1]
            dedented = textwrap.dedent("\n".join(body))
            margin = len(body[0]) - len(dedented.split("\n")[0])
            answer, first = dedented, line + 1 + kept[0]
        draft = BlankDraft(
            name,
            "block",
            answer,
            line,
            col,
            indent=indent,
            answer_line=first,
            answer_col=margin,
            end_line=close_line,
            end_col=self.lines[close_line].index("}}") + 2,
        )
        after = self.starts[close_line + 1] if close_line + 1 < len(self.starts) else len(self.code)
        return self.add_blank(draft, line_start, after)

    def block_lines(self, name: str, line: int, col: int) -> tuple[list[str], int | None, int | None]:
        """A block's answer lines, the code line of its closing `}}` (None when it is not closed,
        after a problem), and where to go on when a `}}` closed it at the end of an answer line."""
        answer_lines: list[str] = []
        depth = 0
        k = line + 1
        while k < len(self.lines) and k < len(self.starts):
            text = self.lines[k]
            if text.strip() == "}}":
                return answer_lines, k, None
            inner = OPEN_RE.search(text)
            if inner:
                self.problem(
                    line,
                    col,
                    f"the block blank `{name}` is not closed before the blank `{inner.group(1)}` starts"
                    f" (blanks cannot sit inside blanks): add a line holding only }}}} after its last line",
                )
                return answer_lines, None, None
            cut, depth = _early_close(text, depth)
            if cut is not None:
                self.problem(
                    k,
                    cut,
                    f"the block blank `{name}` must end with }}}} alone on its own line: move this }}}}"
                    " to the next line",
                )
                return answer_lines, None, self.starts[k] + cut + 2
            answer_lines.append(text)
            k += 1
        self.problem(
            line, col, f"the block blank `{name}` is never closed: add a line holding only }}}} after its last line"
        )
        return answer_lines, None, None


def _early_close(text: str, depth: int) -> tuple[int | None, int]:
    """Column of a `}}` closing a block at the end of an answer line (if any), and the brace depth after."""
    for i, c in enumerate(text):
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                if text.startswith("}}", i) and not text[i + 2 :].strip():
                    return i, depth
            else:
                depth -= 1
    return None, depth


def decide_kinds(scan: Scan, reference: ast.AST, number: int, report: CodeReport) -> None:
    """Give each one-line blank its kind, from the step's reference program (parsed: `reference`);
    report an expression answer that means something else on its own."""
    by_name = {b.name: b for b in scan.blanks}
    try:
        dumped = ast.dump(reference)
        for blank in scan.blanks:
            if blank.kind == "block":
                continue
            blank.kind = _inline_kind(scan.segments, by_name, blank)
            if blank.kind == "expression" and not _keeps_meaning(scan.segments, by_name, blank, dumped):
                report(
                    blank.code_line,
                    blank.code_col,
                    f"the answer of blank `{blank.name}` mixes with the code around it, so it means"
                    " something else on its own: put it in parentheses, like"
                    f" {{{{{blank.name}: ({blank.answer})}}}}",
                )
    except (RecursionError, MemoryError):
        report(0, 0, f"the program of step {number} is too deeply nested to check: simplify it")


def _inline_kind(segments: list[Segment], blanks: dict[str, BlankDraft], blank: BlankDraft) -> str:
    """"expression" where the blank is read as a value on its own, else "statement"."""
    placeholder = _PLACEHOLDER
    while any(placeholder in s.text for s in segments) or any(placeholder in b.answer for b in blanks.values()):
        placeholder += "_"
    text, _ = render(segments, blanks, {blank.name: placeholder})
    try:
        tree = parse_quiet(text)
    except PARSE_FAILURES:
        return "statement"
    loaded = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Name) and node.value.id == placeholder:
            return "statement"
        if isinstance(node, ast.Name) and node.id == placeholder:
            if not isinstance(node.ctx, ast.Load):
                return "statement"
            loaded = True
    return "expression" if loaded and is_expression(blank.answer) else "statement"


def _keeps_meaning(segments: list[Segment], blanks: dict[str, BlankDraft], blank: BlankDraft, reference: str) -> bool:
    """Whether writing the answer in parentheses leaves the program unchanged (it stands alone)."""
    text, _ = render(segments, blanks, {blank.name: f"({blank.answer})"})
    try:
        return ast.dump(parse_quiet(text)) == reference
    except PARSE_FAILURES:
        return True
