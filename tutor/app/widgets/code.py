"""A step's program with its blanks typed in place.

Decision (how blanks are edited in place at 80x24): the program is shown line by line, read-only and
syntax-highlighted; a line that holds a one-line blank is a row of the code before it, an `Input`
where the blank stands (filling the rest of the line), and the code after it; a block blank is a small
`TextArea` at its indentation, as many lines high as its answer. So the learner types where the code
goes, sees the whole line while typing, and every blank is one focus stop. Each blank has a two-column
gutter for its mark (✓ ✗ · !) and a note under it for the grader's sentence, hints and the solution.

The widgets only show and edit; the lesson screen owns verdicts, hints and reveals and tells each
blank what to show (`BlankSlot.show`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.highlight import highlight
from textual.widgets import Input, Static, TextArea

from tutor.grading.verdicts import MARKS
from tutor.lesson.model import Blank, Lesson, Step
from tutor.lesson.template import walk

_PLACEHOLDER = "_tutor_blank_{}_"
_PLACEHOLDER_RE = re.compile(r"_tutor_blank_(\d+)_")


@dataclass
class Part:
    """A piece of a code line: plain code, a one-line blank, or a block blank (a whole line)."""

    kind: str  # "text", "blank", "block"
    text: str = ""
    blank: str = ""


def code_lines(step: Step, lesson: Lesson) -> list[list[Part]]:
    """The step's template as lines of parts (walked as the parser and the grader walk it); block
    blanks stand alone on their line."""
    lines: list[list[Part]] = [[]]
    for piece in walk(step.segments, lesson.blanks):
        blank = piece.blank
        if blank is None:
            for k, text in enumerate(piece.text.split("\n")):
                if k:
                    lines.append([])
                if text:
                    lines[-1].append(Part("text", text))
            continue
        if blank.kind == "block":
            if lines[-1]:
                lines.append([])
            lines[-1].append(Part("block", blank.indent, blank.name))
            lines.append([])
        else:
            lines[-1].append(Part("blank", "", blank.name))
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _highlighted(lines: list[list[Part]]) -> list[list[Content]]:
    """Syntax-highlighted text parts, highlighted as whole lines (blanks as placeholder names)."""
    names: list[str] = []
    source_lines = []
    for parts in lines:
        row = []
        for part in parts:
            if part.kind == "text":
                row.append(part.text)
            else:
                names.append(part.blank)
                name = _PLACEHOLDER.format(len(names) - 1)
                row.append(part.text + name if part.kind == "block" else name)
        source_lines.append("".join(row))
    text = highlight("\n".join(source_lines) + "\n", language="python")
    out: list[list[Content]] = []
    for parts, line in zip(lines, text.split("\n")):
        pieces: list[Content] = []
        pos = 0
        for part in parts:
            if part.kind == "text":
                pieces.append(line[pos:pos + len(part.text)])
                pos += len(part.text)
            else:
                match = _PLACEHOLDER_RE.match(line.plain, pos + (len(part.text) if part.kind == "block" else 0))
                pos = match.end() if match else pos
        out.append(pieces)
    return out


class BlankInput(Input):
    """A one-line blank. up/down move to the previous/next blank; enter moves on."""

    # Priority, like tab on the lesson screen: keys typed right after one of these go to the blank
    # it moves to, however fast they come.
    BINDINGS = [
        Binding("enter", "screen.next_blank", "Next blank", show=False, priority=True),
        Binding("down", "screen.next_blank", "Next blank", show=False, priority=True),
        Binding("up", "screen.previous_blank", "Previous blank", show=False, priority=True),
    ]

    def __init__(self, blank: Blank, value: str, blink: bool) -> None:
        super().__init__(value=value, placeholder="???", id=f"blank-{blank.name}", classes="blank",
                         select_on_focus=False, compact=True)
        self.blank_name = blank.name
        self.cursor_blink = blink


class BlockEditor(TextArea):
    """A multi-line blank (a function body, a few statements), typed without its indentation."""

    def __init__(self, blank: Blank, value: str, blink: bool) -> None:
        super().__init__(value, id=f"blank-{blank.name}", classes="blank", tab_behavior="focus",
                         soft_wrap=False, show_line_numbers=False, compact=True,
                         placeholder=f"??? ({blank.name}: several lines)")
        self.blank_name = blank.name
        self.cursor_blink = blink
        self.styles.height = self.wanted_height(value)

    @staticmethod
    def wanted_height(text: str) -> int:
        return max(2, min(12, text.count("\n") + 2))

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.styles.height = self.wanted_height(self.text)


class Mark(Static):
    """The gutter beside a blank: ✓ right, ✗ wrong, · missing, ! error; dim once edited since."""

    DEFAULT_CSS = """
    Mark { width: 2; height: 1; }
    """


class BlankNote(Static):
    """What is said under a blank: the grader's sentence, hints, the solution (never markup)."""

    DEFAULT_CSS = """
    BlankNote { height: auto; display: none; }
    BlankNote.-shown { display: block; }
    """


def note_content(lines: Iterable[tuple[str, str]]) -> Content:
    """(kind, text) lines as Content; `code` spans in the grader's sentences are emphasised."""
    parts: list[Content] = []
    style = {"message": "$text-error", "hint": "$text-warning", "solution": "$text-success", "info": "$text-muted"}
    for kind, text in lines:
        if parts:
            parts.append(Content("\n"))
        base = style.get(kind, "")
        for k, chunk in enumerate(text.split("`")):
            if chunk:
                parts.append(Content.styled(chunk, f"{base} bold" if k % 2 else base))
    return Content("").join(parts)


@dataclass
class BlankSlot:
    """The widgets of one blank: its editor, its mark and its note."""

    name: str
    editor: BlankInput | BlockEditor
    mark: Mark
    note: BlankNote

    @property
    def value(self) -> str:
        return self.editor.value if isinstance(self.editor, BlankInput) else self.editor.text

    def set_value(self, text: str) -> None:
        if isinstance(self.editor, BlankInput):
            self.editor.value = text
        else:
            self.editor.load_text(text)

    def show(self, verdict: str | None, stale: bool, lines: list[tuple[str, str]]) -> None:
        shown = (verdict, stale, tuple(lines))
        if shown == getattr(self, "_shown", None):
            return  # typing calls this on every key: no relayout when nothing changes
        self._shown = shown
        self.mark.update(MARKS.get(verdict or "", " "))
        for v in MARKS:
            self.mark.set_class(verdict == v, f"-{v}")
            self.editor.set_class(verdict == v and not stale, f"-{v}")
        self.mark.set_class(stale, "-stale")
        self.note.set_class(stale, "-stale")
        self.note.update(note_content(lines))
        self.note.set_class(bool(lines), "-shown")


class CodeView(Vertical):
    """One step's program, read-only, with an editor where each blank stands."""

    DEFAULT_CSS = """
    CodeView { height: auto; }
    CodeView .code-row { height: 1; width: 1fr; }
    CodeView .code-block-row { height: auto; width: 1fr; }
    CodeView .code-text { width: auto; height: 1; text-wrap: nowrap; }
    CodeView .code-lines { height: auto; padding-left: 2; }
    CodeView BlankInput { width: 1fr; min-width: 8; }
    CodeView BlockEditor { width: 1fr; }
    """

    def __init__(self, lesson: Lesson, step: Step, answers: dict[str, str], *, blink: bool = True,
                 id: str | None = None) -> None:
        super().__init__(id=id, classes="code-view")
        self.lesson = lesson
        self.step = step
        self.answers = answers
        self.blink = blink
        self.slots: dict[str, BlankSlot] = {}

    def compose(self) -> ComposeResult:
        lines = code_lines(self.step, self.lesson)
        pieces = _highlighted(lines)
        plain: list[Content] = []

        def flush() -> Iterable[Static]:
            if plain:
                yield Static(Content("\n").join(plain), classes="code-lines")
                plain.clear()

        for parts, texts in zip(lines, pieces):
            if not any(p.kind != "text" for p in parts):
                plain.append(Content("").join(texts) if texts else Content(""))
                continue
            yield from flush()
            names = [p.blank for p in parts if p.kind != "text"]
            if parts[0].kind == "block":
                blank = self.lesson.blanks[parts[0].blank]
                mark = Mark(" ", classes="mark")
                editor = BlockEditor(blank, self.answers.get(blank.name, ""), self.blink)
                with Horizontal(classes="code-block-row"):
                    yield mark
                    if blank.indent:
                        yield Static(blank.indent, classes="code-text code-indent", markup=False)
                    yield editor
                note = BlankNote(classes="blank-note")
                note.styles.padding = (0, 0, 0, 2 + len(blank.indent))
                yield note
                self.slots[blank.name] = BlankSlot(blank.name, editor, mark, note)
                continue
            marks: list[Mark] = []
            with Horizontal(classes="code-row"):
                mark = Mark(" ", classes="mark")
                marks.append(mark)
                yield mark
                texts_iter = iter(texts)
                for part in parts:
                    if part.kind == "text":
                        yield Static(next(texts_iter), classes="code-text")
                    else:
                        blank = self.lesson.blanks[part.blank]
                        editor = BlankInput(blank, self.answers.get(blank.name, ""), self.blink)
                        yield editor
                        self.slots[blank.name] = BlankSlot(blank.name, editor, mark, None)  # type: ignore[arg-type]
            indent = len(parts[0].text) - len(parts[0].text.lstrip()) if parts[0].kind == "text" else 0
            for name in names:
                note = BlankNote(classes="blank-note")
                note.styles.padding = (0, 0, 0, 2 + indent)
                yield note
                self.slots[name].note = note
            if len(names) > 1:
                # Several blanks on one line share the gutter: each keeps its own mark object.
                for name in names[1:]:
                    self.slots[name].mark = Mark(" ")
        yield from flush()
