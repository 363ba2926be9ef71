"""The help screen: every key, by screen, and what the marks beside a blank mean.

The rows are read from the screens' and widgets' `BINDINGS` (their `keys.Key` help sentences), so a
key added, changed or removed there shows here without a second table.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from tutor.app import keys


def help_sections() -> list[tuple[str, list[tuple[str, str]]]]:
    """(section, [(keys, what they do)]) for every screen, from the bindings themselves."""
    from tutor.app.app import TutorApp
    from tutor.app.screens.lesson import LessonScreen
    from tutor.app.screens.lessons import LessonListScreen
    from tutor.app.widgets.charts_panel import ChartsPanel
    from tutor.app.widgets.code import BlankInput

    return [
        ("Everywhere", keys.rows(TutorApp.BINDINGS) + [(keys.display(keys.PALETTE), "the command palette: every action by name")]),
        ("Lesson list", keys.rows(LessonListScreen.BINDINGS)),
        ("Lesson", keys.rows(LessonScreen.BINDINGS) + keys.rows(BlankInput.BINDINGS) + [
            ("typing", "with no blank in focus, goes to the blank you were in (or the first unanswered one)"),
            ("enter", "in a multi-line blank: a new line with the same indentation (one more after a `:`)"),
        ]),
        ("Charts panel", keys.rows(ChartsPanel.BINDINGS)),
        ("Marks beside a blank", keys.MARK_ROWS),
    ]


class HelpScreen(ModalScreen[None]):
    """The keys of every screen; escape, F1 or q closes it, up/down scroll it."""

    BINDINGS = [
        keys.key("escape,f1,q,question_mark", "close", "Close", id="close-help", help="close the help"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Content.styled("Keys", "bold"), id="help-title")
            with VerticalScroll(id="help-scroll"):
                for title, rows in help_sections():
                    yield Static(Content.styled(title, "bold $accent"), classes="help-section")
                    for key, what in rows:
                        with Horizontal(classes="help-row"):
                            yield Static(Content.styled(key, "bold $text-primary"), classes="help-key")
                            yield Static(what, classes="help-what", markup=False)
            yield Static("esc closes · up/down scroll · ctrl+p: any action by name", id="help-foot")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def help_text(self) -> str:
        """The help as plain text (for tests and screen readers)."""
        return "\n".join(str(w.render()) for w in self.query(".help-key, .help-what, .help-section"))

    def action_close(self) -> None:
        self.dismiss(None)
