"""The key map, in one place: the screens bind these keys and the help screen lists them.

Decisions, written down:

- Actions that must work while the learner is typing in a blank use control keys that neither
  `Input` nor `TextArea` binds, that terminals deliver as distinct codes, and that browsers leave to
  the page (no ctrl+h/i/j/m, which terminals send as backspace, tab and enter; no ctrl+w/t/n;
  no F5/F11/F12): ctrl+r check (run), ctrl+g hint (get a hint), ctrl+o the charts and output panel,
  ctrl+s the solution, ctrl+l reset (like clearing a screen).
- ctrl+enter is not used: most terminals send it as plain enter.
- Moving between blanks: tab / shift+tab (Textual's focus chain), and in a one-line blank also
  up / down and enter (a multi-line blank keeps up, down and enter for itself).
- escape goes back (to the lesson list, or out of a dialog); while a check runs it cancels it.
- F1 opens the help everywhere; `?` too where no blank has the focus. Every action is also in the
  command palette (ctrl+p).
"""

from __future__ import annotations

CHECK = "ctrl+r"
HINT = "ctrl+g"
CHARTS = "ctrl+o"
REVEAL = "ctrl+s"
RESET = "ctrl+l"
BACK = "escape"
HELP = "f1"
QUIT = "ctrl+q"
PALETTE = "ctrl+p"

HELP_ROWS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Everywhere", [
        (HELP, "this help"),
        (PALETTE, "the command palette: every action by name"),
        (QUIT, "quit (your answers are saved)"),
    ]),
    ("Lesson list", [
        ("up / down", "choose a lesson"),
        ("enter", "open it where you left off"),
        ("r", "reset the lesson (asks first)"),
        ("q", "quit"),
    ]),
    ("Lesson", [
        ("tab / shift+tab", "next / previous blank"),
        ("up / down, enter", "previous / next blank from a one-line blank"),
        ("space", "indents in a multi-line blank (tab moves on to the next blank)"),
        (CHECK, "check your answers (run the program beside the reference)"),
        (HINT, "a hint for this blank; press again for the next one"),
        (CHARTS, "show the charts and your program's output (and back)"),
        (REVEAL, "the reference answer to this blank (after a check; asks first)"),
        (RESET, "start the lesson over (asks first)"),
        (BACK, "back to the lessons; cancels a running check"),
    ]),
    ("Charts panel", [
        ("left / right", "previous / next epoch of the epoch-by-epoch fit"),
        ("up / down", "previous / next chart"),
        (f"{CHARTS} / {BACK}", "back to the code"),
    ]),
    ("Marks beside a blank", [
        ("✓", "right"),
        ("✗", "wrong: the sentence below says why"),
        ("·", "missing: no answer yet"),
        ("!", "error: it does not run (syntax, a forbidden name, a crash)"),
        ("?", "not judged yet: no run reached it"),
        ("dim mark", "you changed the answer since the last check"),
    ]),
]


def display(key: str) -> str:
    """A key as the Footer writes it: ctrl+r -> ^r."""
    return key.replace("ctrl+", "^")
