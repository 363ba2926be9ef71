"""The key map, in one place: the keys, and `Key`, the binding that also documents itself.

Every screen and widget declares its keys as `Key`s in its `BINDINGS`: the footer shows their short
`description`, the help screen lists their `help` sentence (tutor/app/screens/help.py reads the
bindings, so there is no second table to keep in step), and the command palette offers every `Key`
with a `title` (TutorApp.get_system_commands). What is not a key (the marks beside a blank) is in
`MARK_ROWS`.

Decisions, written down:

- Actions that must work while the learner is typing in a blank use control keys that neither
  `Input` nor `TextArea` binds, that terminals deliver as distinct codes, and that browsers leave to
  the page (no ctrl+h/i/j/m, which terminals send as backspace, tab and enter; no ctrl+w/t/n;
  no F5/F11/F12): ctrl+r check (run), ctrl+g hint (get a hint), ctrl+o the charts and output panel,
  ctrl+s the solution, ctrl+l reset (like clearing a screen), ctrl+f forward to the next lesson
  (ctrl+n is the browser's new window; ctrl+b is tmux's prefix), F2 the lesson in your own editor
  (ctrl+e is end-of-line in a blank).
- ctrl+enter is not used: most terminals send it as plain enter.
- Moving between blanks: tab / shift+tab go round the blanks only (never to the page or the
  charts), and in a one-line blank also up / down and enter (a multi-line blank keeps up, down and
  enter for itself).
- In a blank: ctrl+z undoes, ctrl+shift+z (or ctrl+y, for terminals that send ctrl+shift+z as
  ctrl+z) redoes, ctrl+u clears to the start (and can be undone).
- escape goes back (to the lesson list, or out of a dialog); while a check runs it cancels it.
- F1 opens the help everywhere; `?` too where no blank has the focus. Every action is also in the
  command palette (ctrl+p).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from textual.binding import Binding

CHECK = "ctrl+r"
HINT = "ctrl+g"
CHARTS = "ctrl+o"
REVEAL = "ctrl+s"
RESET = "ctrl+l"
NEXT_LESSON = "ctrl+f"
EDITOR = "f2"
BACK = "escape"
HELP = "f1"
QUIT = "ctrl+q"
PALETTE = "ctrl+p"
UNDO = "ctrl+z"
REDO = "ctrl+shift+z,ctrl+y"


@dataclass(frozen=True)
class Key(Binding):
    """A binding that says what it does: `help` for the help screen (and the footer's tooltip),
    `title` for the command palette ("" keeps it out of the palette)."""

    help: str = ""
    title: str = ""


def key(keys: str, action: str, description: str = "", *, help: str, title: str = "", **options: object) -> Key:
    """A `Key` whose footer tooltip is its help sentence."""
    return Key(keys, action, description, tooltip=help, help=help, title=title, **options)  # type: ignore[arg-type]


def display(key: str) -> str:
    """A key as the Footer writes it: ctrl+r -> ^r; several keys joined with " / "."""
    return " / ".join(k.strip().replace("ctrl+", "^").replace("question_mark", "?") for k in key.split(","))


def rows(bindings: Iterable[object]) -> list[tuple[str, str]]:
    """The help rows of some bindings: (keys, help), one row per help sentence, keys in the order
    they are declared (tab and shift+tab with one sentence make one row)."""
    out: dict[str, list[str]] = {}
    for b in bindings:
        if isinstance(b, Key) and b.help:
            out.setdefault(b.help, []).append(display(b.key))
    return [(" / ".join(ks), help) for help, ks in out.items()]


def commands(bindings: Iterable[object]) -> list[Key]:
    """The bindings the command palette offers: every `Key` with a title."""
    return [b for b in bindings if isinstance(b, Key) and b.title]


def palette_help(b: Key) -> str:
    """A command's line in the palette: what it does, and its key."""
    return f"{b.help[:1].upper()}{b.help[1:]} ({display(b.key)})"


MARK_ROWS: list[tuple[str, str]] = [
    ("✓", "right"),
    ("✗", "wrong: the sentence below says why"),
    ("·", "missing: no answer yet"),
    ("!", "error: it does not run (syntax, a forbidden name, a crash)"),
    ("?", "not judged yet: no run reached it"),
    ("dim mark", "you changed the answer since the last check"),
]
