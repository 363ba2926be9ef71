"""The lesson list: every lesson in teaching order with its status, opening where the learner left off.

Decisions, written down:

- Status per lesson: `done` (every blank right in some check since the last reset), `n/m right`
  (the latest check), `started` (answers typed, never checked), `new`.
- The list opens with the lesson last opened highlighted (else the first not done); enter opens
  it, and the lesson itself restores the answers and the blank last used.
- The list refreshes whenever it comes back on screen (after a lesson, a reset).
"""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tutor.app import keys
from tutor.app.screens.confirm import ConfirmScreen
from tutor.app.catalog import Entry
from tutor.app.widgets.footer import TutorFooter

STATUS_STYLE = {"done": "$text-success", "started": "$text-warning", "new": "$text-muted"}


def first_paragraph(markdown: str) -> str:
    """The first paragraph of a lesson's introduction, without Markdown emphasis."""
    para = []
    for line in markdown.strip().splitlines():
        if not line.strip():
            if para:
                break
            continue
        para.append(line.strip())
    return " ".join(para).replace("**", "").replace("`", "")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class LessonListScreen(Screen[None]):
    """All lessons with their status; enter opens one."""

    BINDINGS = [
        keys.key("up", "cursor(-1)", show=False, help="choose a lesson"),
        keys.key("down", "cursor(1)", show=False, help="choose a lesson"),
        keys.key("enter", "open", "Open", id="open", help="open it where you left off", title="Open lesson"),
        keys.key("r", "reset", "Reset", id="reset-lesson", help="start the highlighted lesson over (asks first)",
                 title="Reset lesson"),
        keys.key("question_mark", "app.help", "Help", id="help-list", show=False, help="this help"),
        keys.key("q", "app.quit", "Quit", id="quit-list", help="quit"),
    ]

    def __init__(self) -> None:
        super().__init__(id="lessons-screen")

    @property
    def lessons(self) -> list[Entry]:
        return self.app.entries  # type: ignore[attr-defined]

    @property
    def store(self) -> Any:
        return self.app.store  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        with Vertical(id="lessons-top"):
            yield Static(Content.assemble(("tutor", "bold $accent"), "  deep learning, one blank at a time"), id="app-title")
            yield Static(Content.styled("Choose a lesson: up/down, then enter. F1 lists every key.", "$text-muted"), id="lessons-help")
        yield OptionList(id="lessons")
        yield Static("", id="lesson-about")
        yield TutorFooter()

    def on_mount(self) -> None:
        self.refresh_list(initial=True)

    def on_key(self, event: events.Key) -> None:
        """Right after enter, what is typed belongs to the lesson being opened (not to `q` or `r`)."""
        if event.key == "enter" and self.selected is not None:
            self.app.typeahead = []  # type: ignore[attr-defined]  # before the lesson opens, as the key arrives
            return
        typeahead = getattr(self.app, "typeahead", None)
        if typeahead is not None and event.is_printable and event.character:
            typeahead.append(event.character)
            event.stop()
            event.prevent_default()

    def on_screen_resume(self) -> None:
        self.refresh_list(initial=True)  # the cursor on the lesson last opened (the next one, after ctrl+f)

    def _row(self, lesson: Entry, id_width: int = 0) -> Content:
        p = self.store.progress(lesson.id, lesson.blanks)
        if p.status == "done":
            mark, status = "✓", "done"
        elif p.status == "started" and p.attempts:
            mark, status = "◐", f"{p.correct}/{p.total} right"
        elif p.status == "started":
            mark, status = "◐", "started"
        else:
            mark, status = "○", "new"
        style = STATUS_STYLE[p.status]
        # The id before the title, in a column: a title too long for the line is the part cut short.
        return Content.assemble(
            (f"{mark} {status:<11}", style), " ", (f"{lesson.id:<{id_width}}  ", "$text-muted"), (lesson.title, "bold"),
        )

    def refresh_list(self, initial: bool = False) -> None:
        options = self.query_one("#lessons", OptionList)
        keep = options.highlighted
        options.clear_options()
        id_width = min(24, max((len(l.id) for l in self.lessons), default=0))
        options.add_options([Option(self._row(l, id_width), id=l.id) for l in self.lessons])
        if initial or keep is None:
            keep = self._where_left_off()
        if self.lessons:
            options.highlighted = min(keep, len(self.lessons) - 1)
        options.focus()
        self._describe()
        done = sum(1 for l in self.lessons if self.store.progress(l.id, l.blanks).status == "done")
        self.query_one("#app-title", Static).update(Content.assemble(
            ("tutor", "bold $accent"), "  deep learning, one blank at a time · ",
            (f"{done} of {len(self.lessons)} lessons done", "bold $text-success" if done else "bold")))

    def _where_left_off(self) -> int:
        last = self.store.last_lesson()
        for i, lesson in enumerate(self.lessons):
            if lesson.id == last:
                return i
        for i, lesson in enumerate(self.lessons):
            if self.store.progress(lesson.id, lesson.blanks).status != "done":
                return i
        return 0

    @property
    def selected(self) -> Entry | None:
        i = self.query_one("#lessons", OptionList).highlighted
        return self.lessons[i] if i is not None and 0 <= i < len(self.lessons) else None

    @on(OptionList.OptionHighlighted)
    def _describe(self) -> None:
        lesson = self.selected
        about = self.query_one("#lesson-about", Static)
        if lesson is None:
            about.update("")
            return
        p = self.store.progress(lesson.id, lesson.blanks)
        parsed = lesson.lesson
        if parsed is None:
            facts, intro = lesson.framework, ""
        else:
            facts = f"{_count(len(parsed.steps), 'step')} · {_count(len(parsed.blanks), 'blank')} · {parsed.framework}"
            intro = first_paragraph(parsed.intro)
        if p.attempts:
            facts += f" · {_count(p.attempts, 'check')}"
        about.update(Content.assemble((lesson.title, "bold"), "\n", (facts, "$text-muted"), "\n\n", intro))

    @on(OptionList.OptionSelected)
    def _selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        lesson = self.selected
        if lesson is not None:
            self.app.open_lesson(lesson)  # type: ignore[attr-defined]

    def action_reset(self) -> None:
        lesson = self.selected
        if lesson is None:
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.store.reset(lesson.id)
                self.refresh_list()
                self.notify(f"{lesson.title} starts over.", title="Reset", markup=False)

        self.app.push_screen(
            ConfirmScreen(f"Start “{lesson.title}” over?\n\nYour answers, hints and solutions shown and its done "
                          "mark are cleared. Your past checks stay in the history.", yes="Reset", id="confirm-reset"),
            answer,
        )

    def palette_extras(self) -> list[tuple[str, str, Any]]:
        """Besides its keys: every lesson by its id."""
        return [
            (f"Open {l.id}", l.title, (lambda l=l: self.app.open_lesson(l)))  # type: ignore[attr-defined]
            for l in self.lessons
        ]

    def action_cursor(self, delta: int) -> None:
        options = self.query_one("#lessons", OptionList)
        options.action_cursor_down() if delta > 0 else options.action_cursor_up()
