"""Handing a file to the learner's own editor: written whole, then opened in $VISUAL or $EDITOR.

Used by `tutor edit` (tutor/editor_cli.py) and by the app's editor key (the lesson screen), so both
write and open the lesson's Python file the same way. Imports nothing of ours, and no Textual.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file at once: a temporary file beside it, renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def open_editor(editor: str, path: Path) -> str | None:
    """Run the learner's editor on the file and wait for it; a sentence when it could not be run."""
    try:
        argv = shlex.split(editor)
    except ValueError as exc:
        return f"$EDITOR ({editor}) cannot be read as a command ({exc}): set it to an editor's command, e.g. vim"
    if not argv:
        return "$EDITOR is empty: set it to an editor's command, e.g. vim"
    try:
        subprocess.run([*argv, str(path)], check=False)
    except OSError as exc:
        return f"cannot start your editor `{editor}` ({exc.strerror or exc}): set $VISUAL or $EDITOR to an editor's command"
    return None
