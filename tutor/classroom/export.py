"""Hand-in: a learner's saved answers to a lesson, written as an answers file (`tutor export`).

The file is what `tutor grade LESSON --answers FILE` reads: TOML, one `blank = "answer"` a line, in
lesson order, under a comment header (the lesson, the tutor's version, when, and what the last
check in the app said). Decisions, written down:

- The answers are those the app saved for the lesson (the progress store's `lesson_state`: what the
  learner last typed, checked or not). A blank with no answer, or only spaces, is left out (the
  grader calls it `missing` either way) and named in the header. Saved answers to names that are no
  longer blanks of the lesson (it was edited since) are left out.
- Every answer comes back from the file exactly as it was saved, whatever it holds: a multi-line
  answer is written as a TOML multi-line literal string (`'''`, no escapes, the block readable as
  typed) only when that is exact: it holds no `'''`, does not end with `'`, and has no control
  character but the line break and tab; otherwise, and for every one-line answer, a basic string
  (`"..."`) with escapes: `\\\\`, `\\"`, `\\n`, `\\t`, ..., and `\\uXXXX` for any other control or
  invisible character (a bidi override shows as `\\u202E` instead of reordering the line in an
  editor). A lone surrogate cannot be stored in a UTF-8 file at all: `ExportError` says which blank.
- The file is written whole or not at all (a temporary file beside it, then renamed over it), and
  only its owner may read it (mode 0600): on a shared server, other learners cannot copy it.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from pathlib import Path
from typing import Any, Mapping

from tutor import __version__
from tutor.editing import write_atomic
from tutor.lesson.model import Lesson
from tutor.safe_text import one_line

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


class ExportError(Exception):
    """The answers cannot be written as a file: one sentence saying why and what to do."""


def _needs_escape(ch: str) -> bool:
    """A character written as an escape in a basic string: a control, an invisible format character,
    a line or paragraph separator, a private-use or unassigned code point."""
    return unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp")


def toml_basic(text: str, what: str = "the text") -> str:
    """`text` as a TOML basic string ("..."), read back exactly by any TOML reader."""
    out = []
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif "\ud800" <= ch <= "\udfff":
            raise ExportError(f"{what} holds a broken character (a lone surrogate, U+{ord(ch):04X}) that no file can store:"
                              " retype it in the tutor")
        elif _needs_escape(ch):
            out.append(f"\\u{ord(ch):04X}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def literal_block_ok(text: str) -> bool:
    """Whether `'''` + newline + text + `'''` reads back as exactly `text` (TOML's multi-line literal string)."""
    return ("\n" in text and "'''" not in text and not text.endswith("'")
            and all(ch in "\n\t" or not _needs_escape(ch) for ch in text))


def toml_key(name: str) -> str:
    return name if _BARE_KEY.match(name) else toml_basic(name, "a blank's name")


def toml_answer(name: str, text: str) -> str:
    """One `key = value` line (or lines) for a blank's answer."""
    if literal_block_ok(text):
        return f"{toml_key(name)} = '''\n{text}'''"
    return f"{toml_key(name)} = {toml_basic(text, f'the answer to `{name}`')}"


def _comment(text: str) -> str:
    """A header line: one line, and nothing a TOML comment may not hold (controls) or a reader would miss."""
    return "# " + "".join(ch for ch in one_line(text) if not _needs_escape(ch) or ch == "\t")


def _when(at: float | None) -> str:
    if at is None:
        return "an unknown time"
    return _dt.datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")


def last_check_summary(lesson: Lesson, last: Any, answers: Mapping[str, str]) -> str:
    """What the app's last check said (an `Attempt` from the progress store), on one line."""
    if last is None:
        return "Last check: none (these answers were never checked in the tutor)."
    verdicts = last.verdicts if isinstance(last.verdicts, dict) else {}
    wrong = []
    for name in lesson.blanks:
        v = verdicts.get(name)
        if isinstance(v, dict) and v.get("verdict") != "correct":
            wrong.append(f"{name} {v.get('diagnosis') or v.get('verdict')}")
    line = f"Last check: {_when(last.at)}, {last.correct} of {last.total} blanks right"
    line += f" (not yet: {', '.join(wrong)})." if wrong else "."
    if {k: v for k, v in last.answers.items() if str(v).strip()} != dict(answers):
        line += " The answers changed since."
    return line


def answers_toml(lesson: Lesson, answers: Mapping[str, str], last: Any = None,
                 now: _dt.datetime | None = None) -> str:
    """The answers file's text: the header, then each answered blank, in lesson order."""
    now = now or _dt.datetime.now().astimezone()
    kept = {n: answers[n] for n in lesson.blanks if isinstance(answers.get(n), str) and answers[n].strip()}
    lines = [
        _comment(f"Answers to {lesson.id}: {lesson.title}"),
        _comment(f"Written by tutor {__version__} on {now.isoformat(timespec='seconds')}."),
        _comment(last_check_summary(lesson, last, kept)),
    ]
    missing = [n for n in lesson.blanks if n not in kept]
    if missing:
        lines.append(_comment(f"Not answered: {', '.join(missing)}."))
    lines.append(_comment(f"Grade it with: tutor grade {lesson.id} --answers THIS-FILE"))
    lines.append("")
    lines += [toml_answer(n, text) for n, text in kept.items()]
    return "\n".join(lines) + "\n"


def saved_answers(store: Any, lesson: Lesson) -> dict[str, str]:
    """The answers the app saved for `lesson` that a hand-in holds (non-blank, blanks of the lesson)."""
    saved = store.lesson_state(lesson.id).answers
    return {n: saved[n] for n in lesson.blanks if isinstance(saved.get(n), str) and saved[n].strip()}


def export_lesson(store: Any, lesson: Lesson, path: Path, *, now: _dt.datetime | None = None) -> Path:
    """Write the learner's saved answers to `lesson` as an answers file at `path` (its folder made
    if needed, a file there replaced). Raises ExportError for answers no file can hold, OSError when
    the file cannot be written. Returns `path`."""
    text = answers_toml(lesson, saved_answers(store, lesson), store.last_attempt(lesson.id), now)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)  # whole or not at all; mkstemp's mode 0600: not for other learners' eyes
    return path
