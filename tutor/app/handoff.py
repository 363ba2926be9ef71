"""Handing a lesson over and back: to the learner's own editor (F2) and out as a hand-in (the palette's
"Export answers"), for the lesson screen.

The editor: the app is suspended, the lesson is written as `tutor edit`'s Python file (in the folder
the app was started from, `LESSON-ID.py`), `$VISUAL` or `$EDITOR` opens it, and on return its
answers go back into the blanks and are checked. A file edited outside its `???` places is not read:
the notice names the line, and the blanks stay as they were. The export: `tutor export`'s file,
`LESSON-ID.toml` in that folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tutor.app import keys


def edit_in_editor(screen: Any) -> None:
    """Suspend the app, open the lesson as a Python file (`tutor edit`'s) in $VISUAL or $EDITOR,
    then read its answers back into the blanks and check them."""
    from tutor.editing import open_editor, write_atomic
    from tutor.lesson.program_file import ProgramFileError, read_program, render_program

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        screen.notify("Set $EDITOR to your editor's command (for example `export EDITOR=vim`), then start tutor "
                      "again; `tutor edit` and `tutor watch` do the same from the shell.", title="No editor", severity="warning")
        return
    path = Path.cwd() / f"{screen.lesson.id}.py"
    try:
        write_atomic(path, render_program(screen.lesson, screen.answers()))
    except OSError as exc:
        screen.notify(f"Cannot write {path} ({exc.strerror or exc}): start tutor from a folder you can write to.",
                      title="Editor", severity="error")
        return
    screen.save_draft()
    try:
        with screen.app.suspend():
            problem = open_editor(editor, path)
    except Exception as exc:  # SuspendNotSupported: no terminal to hand over
        screen.notify(f"The app cannot hand the terminal to an editor here ({type(exc).__name__}): "
                    f"use `tutor edit {screen.lesson.id}` from a shell.", title="Editor", severity="warning")
        return
    if problem:
        screen.notify(problem, title="Editor", severity="error")
        return
    try:
        answers = read_program(screen.lesson, str(path))
    except ProgramFileError as exc:
        screen.notify(f"{exc}. Your blanks are as they were; fix the file and press {keys.display(keys.EDITOR)} again.",
                    title="Not read", severity="error", timeout=12)
        return
    for name, slot in screen.slots.items():
        slot.set_value(answers.get(name, ""))
    screen.notify(f"Read {sum(1 for a in answers.values() if a.strip())} answers back from {path.name}; checking.",
                title="Editor")
    screen.action_check()


def export_answers(screen: Any) -> None:
    """The hand-in (`tutor export`'s file), from the palette; the notice says where it went."""
    from tutor.classroom.export import ExportError, export_lesson, saved_answers

    screen.save_draft()
    if not saved_answers(screen.store, screen.lesson):
        screen.notify("No answers to export yet: fill a blank first.", title="Export", severity="warning")
        return
    path = Path.cwd() / f"{screen.lesson.id}.toml"
    try:
        export_lesson(screen.store, screen.lesson, path)
    except (ExportError, OSError) as exc:
        screen.notify(f"Not exported: {exc}", title="Export", severity="error", timeout=12)
        return
    screen.notify(f"Your answers are in {path}: hand in that file.", title="Exported", timeout=10)
