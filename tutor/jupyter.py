"""`tutor` in JupyterLab, through jupyter-server-proxy (the extra `tutor[jupyter]`).

jupyter-server-proxy finds `server_config` by its entry point (group `jupyter_serverproxy_servers`,
name `tutor`, in pyproject.toml), puts "tutor" in JupyterLab's launcher, and on the first request to
`{base_url}tutor/` starts `tutor serve` on a free port of 127.0.0.1 and proxies to it, path prefix
stripped: so `tutor serve` is told that prefix (`--base-path`) and its page names no host.

Under JupyterHub the single-user server runs as the learner, with the learner's HOME and the
environment the hub gives (jupyter-server-proxy starts the command with the server's own environment),
so each learner's progress lands in their own data folder (or in TUTOR_HOME), and the hub's settings
reach the tutor by the environment (docs/deploy.md):

- TUTOR_LESSONS: a course's lesson folder, read here and passed as `--lessons`;
- TUTOR_REQUIRE_ISOLATION=1: `--require-isolation` for the server and every app it starts (read by
  `tutor` itself, tutor/cli.py), so a hub never runs learner code with a sandbox layer missing.

Nothing here imports jupyter-server-proxy: the configuration is a plain dict of its documented keys.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NAME = "tutor"  # the entry point's name: jupyter-server-proxy serves the app under {base_url}tutor/
ICON = Path(__file__).resolve().parent / "icons" / "tutor.svg"
LESSONS_ENV = "TUTOR_LESSONS"
START_TIMEOUT_S = 60.0  # python, the lessons and textual-serve on a busy shared server; the proxy waits this long


class LessonsEnvError(Exception):
    """TUTOR_LESSONS names no folder: one sentence, which jupyter-server-proxy writes to the server's log."""


def course_lessons(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The course's lesson folder from TUTOR_LESSONS (None: the built-in lessons)."""
    value = environ.get(LESSONS_ENV, "").strip()
    if not value:
        return None
    folder = Path(value).expanduser().resolve()
    if not folder.is_dir():
        raise LessonsEnvError(f"{LESSONS_ENV}={value} is not a folder: set it to the course's lesson folder "
                              "(readable by every learner), or unset it for the built-in lessons")
    return folder


def _literal(text: str) -> str:
    """`text` unchanged through jupyter-server-proxy's str.format of each command word."""
    return text.replace("{", "{{").replace("}", "}}")


def server_config() -> dict[str, Any]:
    """The entry point: how jupyter-server-proxy starts, reaches and shows `tutor serve`."""
    command = [_literal(sys.executable), "-m", "tutor"]
    lessons = course_lessons()
    if lessons is not None:
        command += ["--lessons", _literal(str(lessons))]
    command += ["serve", "--host", "127.0.0.1", "--port", "{port}", "--base-path", "{base_url}" + NAME + "/"]
    return {
        "command": command,
        "timeout": START_TIMEOUT_S,
        "absolute_url": False,  # the proxy strips {base_url}tutor; --base-path gives it back to the page
        "new_browser_tab": True,  # a tab of its own: JupyterLab's shortcuts would take the app's keys
        "launcher_entry": {"enabled": True, "title": NAME, "icon_path": str(ICON)},
    }
