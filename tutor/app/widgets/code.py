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
import time
from dataclasses import dataclass
from typing import Any, Iterable

from textual.app import ComposeResult
from textual.binding import NoBinding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.highlight import highlight
from textual.widget import Widget
from textual.widgets import Input, Static, TextArea

from tutor.app import keys
from tutor.app.widgets.inline import inline_code
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


async def run_own_binding(editor: Widget, event: Any) -> bool:
    """A key a blank binds itself (home, backspace, ctrl+z...) runs now, in the order it was typed.

    Textual runs a widget's non-priority bindings only once the key has bubbled up to the app, a few
    message hops later; a printable key typed right after it is inserted first (home then `x` typed
    together wrote `x` at the end). Marks the key as seen by a blank for the lesson screen."""
    event.tutor_in_blank = True  # the lesson screen leaves keys that came through a blank alone
    if event.is_printable:
        return False  # the editor's own handler inserts it
    try:
        binding = editor._bindings.get_bindings_for_key(event.key)[0]
    except NoBinding:
        return False  # a screen's or the app's key: it bubbles on
    if binding.priority:
        return False
    event.stop()
    event.prevent_default()
    await editor.run_action(binding.action)
    return True


class BlankInput(Input):
    """A one-line blank. up/down move to the previous/next blank; enter moves on; ctrl+z undoes.

    Undo keeps the blank's earlier texts: a run of typing (keys less than a second apart) is one
    step, and clearing (ctrl+u, ctrl+k, ctrl+w), cutting or pasting is always a step of its own.
    """

    # Priority, like tab on the lesson screen: keys typed right after one of these go to the blank
    # it moves to, however fast they come.
    BINDINGS = [
        keys.key("enter", "screen.next_blank(False)", "Next blank", show=False, priority=True,
                 help="next / previous blank from a one-line blank"),
        keys.key("down", "screen.next_blank(False)", "Next blank", show=False, priority=True,
                 help="next / previous blank from a one-line blank"),
        keys.key("up", "screen.previous_blank(False)", "Previous blank", show=False, priority=True,
                 help="next / previous blank from a one-line blank"),
        keys.key(keys.UNDO, "undo", "Undo", show=False, help="undo / redo in a blank (ctrl+u clears, and can be undone)"),
        keys.key(keys.REDO, "redo", "Redo", show=False, help="undo / redo in a blank (ctrl+u clears, and can be undone)"),
    ]

    UNDO_DEPTH = 200
    TYPING_PAUSE = 1.0  # seconds between keys that start a new undo step

    def __init__(self, blank: Blank, value: str, blink: bool) -> None:
        self._undo: list[tuple[str, int]] = []
        self._redo: list[tuple[str, int]] = []
        self._shown = (value, len(value))  # the text and cursor before the change being made
        self._last_edit = 0.0
        self._step_edge = True
        self._restoring = True  # the value Input's own __init__ sets is no edit
        super().__init__(value=value, placeholder="???", id=f"blank-{blank.name}", classes="blank",
                         select_on_focus=False, compact=True)
        self._restoring = False
        self.blank_name = blank.name
        self.cursor_blink = blink

    def watch_value(self, value: str) -> None:
        if self._restoring:
            return
        before, self._shown = self._shown, (value, self.cursor_position)
        if before[0] == value:
            return
        now = time.monotonic()
        if self._step_edge or now - self._last_edit > self.TYPING_PAUSE or not self._undo:
            self._undo.append(before)
            del self._undo[:-self.UNDO_DEPTH]
        self._redo.clear()
        self._last_edit = now
        self._step_edge = False

    def _edge(self) -> None:
        self._step_edge = True

    def action_delete_left_all(self) -> None:
        self._edge()
        super().action_delete_left_all()
        self._edge()

    def action_delete_right_all(self) -> None:
        self._edge()
        super().action_delete_right_all()
        self._edge()

    def action_delete_left_word(self) -> None:
        self._edge()
        super().action_delete_left_word()
        self._edge()

    def action_cut(self) -> None:
        self._edge()
        super().action_cut()
        self._edge()

    # Textual calls each class's `_on_*` handler in turn (this one before Input's): no super() calls.
    def _on_paste(self, event: Any) -> None:
        self._edge()  # a paste is an undo step of its own
        self.call_after_refresh(self._edge)

    async def _on_key(self, event: Any) -> None:
        await run_own_binding(self, event)

    def _restore(self, state: tuple[str, int]) -> None:
        self._restoring = True
        try:
            self.value = state[0]
        finally:
            self._restoring = False
        self.cursor_position = min(state[1], len(state[0]))
        self._shown = (self.value, self.cursor_position)
        self._edge()

    def action_undo(self) -> None:
        if self._undo:
            self._redo.append((self.value, self.cursor_position))
            self._restore(self._undo.pop())

    def action_redo(self) -> None:
        if self._redo:
            self._undo.append((self.value, self.cursor_position))
            self._restore(self._redo.pop())

    def _on_blur(self, event: Any) -> None:
        # Left with a long answer, the blank shows its start (not the end, where typing stopped).
        self.call_after_refresh(self._show_start)
        self._edge()

    def _show_start(self) -> None:
        if not self.has_focus:
            self.scroll_to(x=0, animate=False, immediate=True)


def _python_highlighting() -> str | None:
    """"python" where the tree-sitter grammar is installed (a dependency), else plain text."""
    try:
        import tree_sitter_python  # noqa: F401
    except ImportError:
        return None
    return "python"


class BlockEditor(TextArea):
    """A multi-line blank (a function body, a few statements), typed without its indentation: a
    small code editor (Python highlighting, enter keeps the line's indentation, ctrl+z / ctrl+y
    undo and redo, TextArea's own)."""


    def __init__(self, blank: Blank, value: str, blink: bool) -> None:
        super().__init__(value, id=f"blank-{blank.name}", classes="blank", tab_behavior="focus",
                         soft_wrap=False, show_line_numbers=False, compact=True,
                         placeholder=f"??? ({blank.name}: several lines)", language=_python_highlighting())
        self.blank_name = blank.name
        self.cursor_blink = blink
        self.styles.height = self.wanted_height(value)

    async def _on_key(self, event: Any) -> None:
        """enter keeps the line's indentation (one level more after a `:`)."""
        if await run_own_binding(self, event) or self.read_only or event.key != "enter":
            return  # TextArea's own handler runs next (Textual calls each class's, unless prevented)
        event.stop()
        event.prevent_default()
        start, end = self.selection
        row, col = min(start, end)
        before = self.document[row][:col]
        indent = before[: len(before) - len(before.lstrip(" "))]
        more = " " * self.indent_width if before.rstrip().endswith(":") else ""
        self._replace_via_keyboard("\n" + indent + more, start, end)

    def action_delete_left(self) -> None:
        """backspace in a line's indentation goes back a whole level."""
        start, end = self.selection
        row, col = end
        before = self.document[row][:col]
        if start == end and before and not before.strip(" "):
            self._replace_via_keyboard("", (row, col - ((len(before) - 1) % self.indent_width + 1)), (row, col))
            return
        super().action_delete_left()

    @staticmethod
    def wanted_height(text: str) -> int:
        return max(2, min(12, text.count("\n") + 2))

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.styles.height = self.wanted_height(self.text)


class CodeLines(Widget):
    """Read-only code lines. A line longer than the width wraps under its own indentation, after a dim
    `↪`, so a wrapped piece never passes for a new line of the program."""

    DEFAULT_CSS = """
    CodeLines { height: auto; text-wrap: nowrap; }
    """

    def __init__(self, lines: list[Content], *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.lines = lines

    def wrapped(self, width: int) -> list[Content]:
        out: list[Content] = []
        for line in self.lines:
            plain = line.plain
            if width < 16 or len(plain) <= width:
                out.append(line)
                continue
            indent = min(len(plain) - len(plain.lstrip(" ")) + 2, width // 2)
            out.append(line[:width])
            pos, room = width, width - indent - 2
            while pos < len(plain):
                out.append(Content(" " * indent) + Content.styled("↪ ", "dim") + line[pos:pos + room])
                pos += room
        return out

    def render(self) -> Content:
        return Content("\n").join(self.wrapped(self.content_region.width or self.size.width))

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return max(1, len(self.wrapped(width)))


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
    """(kind, text) lines as Content; `code` spans in the grader's sentences are set as code."""
    style = {"message": "$text-error", "hint": "$text-warning", "solution": "$text-success", "info": "$text-muted"}
    return Content("\n").join(inline_code(text, style.get(kind, "")) for kind, text in lines)


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

        def flush() -> Iterable[CodeLines]:
            if plain:
                yield CodeLines(list(plain), classes="code-lines")
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
