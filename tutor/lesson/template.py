"""The one walk over a step's template: its code pieces and its blanks, in order, with their places.

A step's program is a list of `Segment`s (model.py): plain code, and blanks standing for
`{{name: answer}}` (one-line) or for whole lines (blocks). Everyone who turns a template into
something else walks it here: the parser (the reference program it checks, the programs that decide
a blank's kind), `render_step` (a program with a learner's answers), the grader's program builder
(tutor/grading/programs.py) and the app's code view (tutor/app/widgets/code.py).

The walk yields each piece with the 0-based line and column of the step's code where it starts, so
a consumer can name the lesson-file line of anything it writes. Nothing is scanned again: a text
piece's place follows from the text before it, and a blank carries its own start (`code_line`,
`code_col`) and end (`end_line`, `end_col`, just past its `}}`), stored when the file was parsed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple, Protocol

from .model import Lesson, Segment, Step


class TemplateBlank(Protocol):
    """What the walk needs of a blank: the model's `Blank`, or the parser's draft of one."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str | None: ...  # "block", or a one-line kind (None: not decided yet)
    @property
    def answer(self) -> str: ...
    @property
    def indent(self) -> str: ...
    @property
    def code_line(self) -> int: ...
    @property
    def code_col(self) -> int: ...
    @property
    def answer_line(self) -> int: ...
    @property
    def answer_col(self) -> int: ...
    @property
    def end_line(self) -> int: ...
    @property
    def end_col(self) -> int: ...


class Piece(NamedTuple):
    """One piece of a template: code `text` (blank None), or a blank (text "").

    `line` and `col` (0-based, in the step's code) are where the piece starts: for a one-line blank
    its `{{`, for a block the start of its `{{name:` line.
    """

    text: str
    line: int
    col: int
    blank: TemplateBlank | None = None


def walk(segments: Sequence[Segment], blanks: Mapping[str, TemplateBlank]) -> Iterator[Piece]:
    """The pieces of a template in order; `blanks` gives each blank segment's blank by name."""
    line = col = 0
    for segment in segments:
        if segment.blank is None:
            yield Piece(segment.text, line, col)
            newlines = segment.text.count("\n")
            if newlines:
                line += newlines
                col = len(segment.text) - segment.text.rfind("\n") - 1
            else:
                col += len(segment.text)
            continue
        blank = blanks[segment.blank]
        if blank.kind == "block":
            yield Piece("", blank.code_line, 0, blank)
            line, col = blank.end_line + 1, 0  # a block stands for whole lines, its `}}` line included
        else:
            yield Piece("", blank.code_line, blank.code_col, blank)
            line, col = blank.end_line, blank.end_col


def block_lines(answer: str) -> list[str]:
    """A block answer as the lines to write: newlines unified, dedented, no blank end lines."""
    lines = textwrap.dedent(answer.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines or [""]


# One anchor per piece written on a rendered line: (rendered col, code line, code col, blank name).
Anchor = tuple[int, int, int, "str | None"]


def render(
    segments: Sequence[Segment], blanks: Mapping[str, TemplateBlank], answers: Mapping[str, str]
) -> tuple[str, list[list[Anchor]]]:
    """Write the template with `answers` (a missing name: the reference), and map each rendered
    line back to the code: the anchors of line k say where each piece written on it came from."""
    out: list[str] = []
    anchors: list[list[Anchor]] = [[]]
    col = 0

    def write(text: str, code_line: int, code_col: int, blank: str | None) -> None:
        nonlocal col
        for k, part in enumerate(text.split("\n")):
            if k:
                out.append("\n")
                anchors.append([])
                col = 0
                code_line, code_col = code_line + (blank is None), 0
            if part or k or not anchors[-1]:
                anchors[-1].append((col, code_line, code_col, blank))
            out.append(part)
            col += len(part)

    for piece in walk(segments, blanks):
        blank = piece.blank
        if blank is None:
            write(piece.text, piece.line, piece.col, None)
            continue
        answer = answers.get(blank.name)
        if answer is None:
            answer = blank.answer
        if blank.kind == "block":
            for k, line in enumerate(block_lines(answer)):
                anchors[-1].append((col, blank.answer_line + k, 0, blank.name))
                anchors[-1].append((col + len(blank.indent), blank.answer_line + k, blank.answer_col, blank.name))
                out.append(blank.indent + line + "\n")
                anchors.append([])
                col = 0
        else:
            write(answer.strip(), blank.answer_line, blank.answer_col, blank.name)
    return "".join(out), anchors


def render_step(step: Step, lesson: Lesson, answers: Mapping[str, str]) -> str:
    """The step's program with `answers` written into its blanks (a missing name: the reference).

    Inline answers are stripped and written in place of `{{...}}`; block answers are dedented,
    stripped of blank lines at both ends, and each line written as `indent + line + "\\n"`.
    `render_step(step, lesson, {})` is the step's reference program.
    """
    text, _ = render(step.segments, lesson.blanks, answers)
    return text


def reference_program(lesson: Lesson) -> str:
    """The whole reference program: the setup code, then every step with its reference answers."""
    parts = [lesson.setup] if lesson.setup.strip() else []
    parts.extend(render_step(step, lesson, {}) for step in lesson.steps)
    return "\n".join(parts)
