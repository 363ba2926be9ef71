"""The help screen: every key, by screen, and what the marks beside a blank mean."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from tutor.app import keys


class HelpScreen(ModalScreen[None]):
    """The keys of every screen; escape, F1 or q closes it, up/down scroll it."""

    BINDINGS = [
        Binding("escape,f1,q,question_mark", "close", "Close", id="close-help"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Content.styled("Keys", "bold"), id="help-title")
            with VerticalScroll(id="help-scroll"):
                for title, rows in keys.HELP_ROWS:
                    yield Static(Content.styled(title, "bold $accent"), classes="help-section")
                    for key, what in rows:
                        with Horizontal(classes="help-row"):
                            yield Static(Content.styled(keys.display(key), "bold $text-primary"), classes="help-key")
                            yield Static(what, classes="help-what", markup=False)
            yield Static("esc closes · up/down scroll · ctrl+p: any action by name", id="help-foot")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def help_text(self) -> str:
        """The help as plain text (for tests and screen readers)."""
        return "\n".join(str(w.render()) for w in self.query(".help-key, .help-what, .help-section"))

    def action_close(self) -> None:
        self.dismiss(None)
