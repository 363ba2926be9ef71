"""The Markdown structure of a lesson's body: the introduction, the setup block, and the steps with
their prose, their ```python blocks and their ```toml check block.

Decisions:

- Every line starting `## ` starts a step; its text is the step's title. Prose before the first one
  is the lesson's introduction. A `## ` line inside any fence is not a step heading.
- A ```python, ```python setup or ```toml check fence must start at the line's first column (an
  indented one is reported, and read without the indentation); a fence marked `python WORD` or
  `toml WORD` is reported as a likely typo; any other fence (```text, ~~~) stays in the prose.
- Several ```python blocks of one step are one program, in order; one setup block, before the
  first step; at most one check block per step.
- A blank (`{{name:`) outside a fence (in a paragraph, a heading, a list, the introduction) is a
  problem: the learner would read its answer. One inside another fence (```text) is left alone: an
  author may show the format itself.

Decision (markdown-it-py, which Textual brings, was tried and not used): it reads CommonMark, and
a lesson file is not read as CommonMark here. It makes a step of a setext heading (`Intro` over
`---`) and of an indented `  ## S`, sees no heading inside an HTML block, opens fences inside list
items, closes an unclosed fence at the end of the file without saying so (the "never closed"
problem and its line would be lost) and replaces a NUL character before the code can be checked.
So this one-pass line scanner stays: it keeps every problem and its place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .blanks import OPEN_RE
from .model import Report

_FENCE_OPEN_RE = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)")
_FENCE_CLOSE_RE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")


@dataclass
class Fence:
    """A fenced block of the body, with its content lines."""

    kind: str  # "python", "setup", "check" or "other"
    char: str
    length: int
    line: int  # file line of the opening fence
    info: str
    shift: int = 0  # spaces removed from each content line (an indented fence)
    body: list[str] = field(default_factory=list)
    close_line: int = 0


@dataclass
class StepDraft:
    """A step as written: its heading, prose lines, program blocks and check block."""

    title: str
    line: int
    prose: list[str] = field(default_factory=list)
    blocks: list[Fence] = field(default_factory=list)
    check: Fence | None = None
    unclosed: bool = False  # its last fence is never closed: it ate the rest of the file


@dataclass
class Body:
    """A lesson's body as read: the introduction's lines, the setup block and the steps."""

    intro: list[str] = field(default_factory=list)
    setup: Fence | None = None
    steps: list[StepDraft] = field(default_factory=list)
    swallowed: bool = False  # an unclosed fence ate the rest of the file


def read_body(lines: list[str], start: int, report: Report) -> Body:
    """Read the body (from index `start` of the file's lines) into its parts, reporting problems."""
    scanner = _Scanner(report)
    scanner.scan(lines, start)
    return scanner.body


def trim_blank_lines(lines: list[str]) -> str:
    """Lines joined, without the blank lines at both ends."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end])


class _Scanner:
    """One pass over the body's lines."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.body = Body()
        self.removed = False  # a code block was just taken out of the prose

    def prose(self, line: str) -> None:
        target = self.body.steps[-1].prose if self.body.steps else self.body.intro
        if self.removed and not line.strip() and (not target or not target[-1].strip()):
            return
        if line.strip():
            self.removed = False
        target.append(line)

    def scan(self, lines: list[str], start: int) -> None:
        fence: Fence | None = None
        for index in range(start, len(lines)):
            number, line = index + 1, lines[index]
            if fence is not None:
                if self.fence_line(fence, line, number):
                    fence = None
                continue
            opening = _FENCE_OPEN_RE.fullmatch(line)
            if opening and not (opening.group(2)[0] == "`" and "`" in opening.group(3)):
                fence = self.open_fence(opening, number)
                if fence.kind == "other":
                    self.prose(line)
                continue
            self.no_blank(line, number)
            if line.startswith("## "):
                self.body.steps.append(StepDraft(title=line[3:].strip(), line=number))
                self.removed = False
                continue
            self.prose(line)
        if fence is not None:
            marks = fence.char * fence.length
            self.report(
                fence.line,
                1,
                f"the code block that starts at line {fence.line} with {marks} is never closed:"
                f" add a line {marks} after its last line",
            )
            self.body.swallowed = True
            if self.body.steps:
                self.body.steps[-1].unclosed = True

    def no_blank(self, line: str, number: int) -> None:
        """A blank belongs in a program: written in prose (a paragraph, a heading, a list, the
        introduction), the learner would see `{{name: answer}}`, its answer included."""
        for m in OPEN_RE.finditer(line):
            self.report(
                number,
                m.start() + 1,
                f"the blank `{m.group(1)}` is written in the prose, where the learner would see it with its"
                " answer: blanks go inside a step's ```python block; in prose, write the text without {{",
            )

    def fence_line(self, fence: Fence, line: str, number: int) -> bool:
        """Take one line inside an open fence; True when it closes the fence."""
        close = _FENCE_CLOSE_RE.fullmatch(line)
        if close and close.group(1)[0] == fence.char and len(close.group(1)) >= fence.length:
            fence.close_line = number
            if fence.kind == "other":
                self.prose(line)
            self.finish(fence)
            return True
        if fence.kind == "other":
            self.prose(line)
        elif fence.shift:
            cut = len(line) - len(line.lstrip(" "))
            line = line[min(cut, fence.shift) :]
        fence.body.append(line)
        return False

    def open_fence(self, match: re.Match[str], number: int) -> Fence:
        indent, marks, info = match.group(1), match.group(2), match.group(3).strip()
        words = info.lower().split()
        kind = "other"
        if words == ["python"]:
            kind = "python"
        elif words == ["python", "setup"]:
            kind = "setup"
        elif words == ["toml", "check"]:
            kind = "check"
        elif len(words) > 1 and words[0] in ("python", "toml"):
            self.report(
                number,
                len(indent) + len(marks) + 1,
                f"the code block marked `{info}` is not understood: mark a step's program ```python,"
                " the setup code ```python setup and a check block ```toml check",
            )
        if kind != "other" and indent:
            self.report(
                number,
                1,
                f"the {marks}{info} line must start at the beginning of the line: remove the spaces before it",
            )
        return Fence(kind, marks[0], len(marks), number, info, shift=len(indent))

    def finish(self, fence: Fence) -> None:
        """Attach a closed python, setup or check block to where it belongs."""
        if fence.kind == "other":
            return
        self.removed = True
        steps = self.body.steps
        step = steps[-1] if steps else None
        if fence.kind == "python":
            if step is None:
                self.report(
                    fence.line,
                    1,
                    f"the program at line {fence.line} comes before the first step: put a step heading"
                    " like `## Fit a line` above it, or mark it ```python setup if it is setup code",
                )
            else:
                step.blocks.append(fence)
        elif fence.kind == "setup":
            self.finish_setup(fence)
        elif step is None:
            self.report(
                fence.line,
                1,
                "a ```toml check block belongs to a step: move it below the step's `## ` heading",
            )
        elif step.check is not None:
            self.report(
                fence.line,
                1,
                f"step {len(steps)} has a second ```toml check block (the first is at line {step.check.line}):"
                " merge them into one",
            )
        else:
            step.check = fence

    def finish_setup(self, fence: Fence) -> None:
        if self.body.steps:
            self.report(
                fence.line,
                1,
                "the setup code must come before the first step: move this ```python setup block"
                f" above line {self.body.steps[0].line}",
            )
        elif self.body.setup is not None:
            self.report(
                fence.line,
                1,
                f"there is a second ```python setup block (the first is at line {self.body.setup.line}):"
                " keep only one setup block",
            )
        else:
            self.body.setup = fence
