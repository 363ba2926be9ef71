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

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from tutor.app.screens.confirm import ConfirmScreen
from tutor.app.catalog import Entry

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
        Binding("enter", "open", "Open", id="open"),
        Binding("r", "reset", "Reset", id="reset-lesson"),
        Binding("question_mark", "app.help", "Help", id="help-list", show=False),
        Binding("q", "app.quit", "Quit", id="quit-list"),
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
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_list(initial=True)

    def on_screen_resume(self) -> None:
        self.refresh_list()

    def _row(self, lesson: Entry) -> Content:
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
        return Content.assemble(
            (f"{mark} {status:<11}", style), " ", (lesson.title, "bold"), (f"  {lesson.id}", "$text-muted"),
        )

    def refresh_list(self, initial: bool = False) -> None:
        options = self.query_one("#lessons", OptionList)
        keep = options.highlighted
        options.clear_options()
        options.add_options([Option(self._row(l), id=l.id) for l in self.lessons])
        if initial or keep is None:
            keep = self._where_left_off()
        if self.lessons:
            options.highlighted = min(keep, len(self.lessons) - 1)
        options.focus()
        self._describe()

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

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [
            ("Open lesson", "Open the highlighted lesson (enter)", self.action_open),
            ("Reset lesson", "Start the highlighted lesson over (r)", self.action_reset),
        ] + [
            (f"Open {l.id}", l.title, (lambda l=l: self.app.open_lesson(l)))  # type: ignore[attr-defined]
            for l in self.lessons
        ]
