"""Saved progress: every attempt, each lesson's last answers, resets and settings, in one SQLite file.

No Textual here: the app, the CLI and tests use the same store.

Decisions, written down:

- Where: `$TUTOR_HOME/progress.sqlite3` when `TUTOR_HOME` is set, else
  `platformdirs.user_data_path("tutor") / "progress.sqlite3"`.
- Durability: WAL journal with `synchronous=FULL`; each attempt is committed in its own transaction
  before `record_attempt` returns, so a process killed right after (even by SIGKILL) loses nothing
  it recorded. Several tutor processes may share the file (a busy timeout of 5 s).
- Attempts are history and are never deleted. A reset clears the lesson's saved answers, hints and
  "done" mark and records the last attempt id at that moment; the lesson's status and `attempts()`
  only count attempts after it (ids, not clock times, so a clock that goes back changes nothing).
- Status of a lesson: `done` once any attempt since the last reset got every blank right (it stays
  done when a later attempt is wrong); `started` when there are attempts or saved answers, with the
  right count of the latest attempt; else `new`.
- A file that is not a tutor progress database, a damaged one, or one written by a newer tutor
  raises `ProgressError` with one sentence saying where it is and what to do. Such a file is never
  written to, let alone overwritten: the checks run before anything is written.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

SCHEMA_VERSION = 1
FILE_NAME = "progress.sqlite3"
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    lesson TEXT NOT NULL,
    at REAL NOT NULL,
    answers TEXT NOT NULL,
    verdicts TEXT NOT NULL,
    passed INTEGER NOT NULL,
    correct INTEGER NOT NULL,
    total INTEGER NOT NULL,
    elapsed REAL
);
CREATE INDEX IF NOT EXISTS attempts_by_lesson ON attempts (lesson, id);
CREATE TABLE IF NOT EXISTS lessons (
    lesson TEXT PRIMARY KEY,
    answers TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT '{}',
    updated REAL,
    opened REAL,
    reset_at REAL,
    reset_id INTEGER NOT NULL DEFAULT 0,
    done_at REAL
);
CREATE TABLE IF NOT EXISTS runs (
    attempt INTEGER PRIMARY KEY,
    lesson TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_lesson ON runs (lesson);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class ProgressError(Exception):
    """The progress file cannot be used as it is; the message says where it is and what to do."""


@dataclass(frozen=True)
class Attempt:
    """One check of a lesson: the answers sent and what the grader said of each blank."""

    id: int
    lesson: str
    at: float
    answers: dict[str, str]
    verdicts: dict[str, dict[str, Any]]  # blank -> {"verdict", "diagnosis", "message"}
    passed: bool
    correct: int
    total: int
    elapsed: float | None = None


@dataclass(frozen=True)
class LessonProgress:
    """What the lesson list shows for a lesson."""

    lesson: str
    status: str  # "new", "started", "done"
    correct: int = 0
    total: int = 0
    attempts: int = 0
    last_at: float | None = None


@dataclass
class LessonState:
    """What is restored when a lesson is reopened: answers and what the learner has already seen."""

    answers: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # hints shown, reveals, the blank last focused


def default_path() -> Path:
    """Where progress lives: TUTOR_HOME if set, else the user data directory."""
    home = os.environ.get("TUTOR_HOME")
    if home:
        return Path(home).expanduser() / FILE_NAME
    import platformdirs

    return platformdirs.user_data_path("tutor", appauthor=False) / FILE_NAME


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        value = json.loads(text)
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


@runtime_checkable
class Store(Protocol):
    """What the app asks of its progress store (checked against ProgressStore in tests/test_seams.py)."""

    def record_attempt(self, lesson: str, answers: Mapping[str, str], verdicts: Mapping[str, Mapping[str, Any]], *,
                       elapsed: float | None = None, state: Mapping[str, Any] | None = None,
                       run: Mapping[str, Any] | None = None) -> Attempt: ...
    def save_answers(self, lesson: str, answers: Mapping[str, str], state: Mapping[str, Any] | None = None) -> None: ...
    def mark_opened(self, lesson: str) -> None: ...
    def reset(self, lesson: str) -> None: ...
    def set_setting(self, key: str, value: Any) -> None: ...
    def setting(self, key: str, default: Any = None) -> Any: ...
    def last_lesson(self) -> str | None: ...
    def lesson_state(self, lesson: str) -> LessonState: ...
    def last_attempt(self, lesson: str) -> Attempt | None: ...
    def last_run(self, lesson: str) -> dict[str, Any] | None: ...
    def progress(self, lesson: str, total: int | None = None) -> LessonProgress: ...


class ProgressStore:
    """The progress database. Open with `ProgressStore.open()`; every method is thread-safe."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None, clock: Callable[[], float] = time.time):
        self._conn = conn
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()

    # ---- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path | None = None, *, clock: Callable[[], float] = time.time) -> "ProgressStore":
        """Open (creating if needed) the progress file; ProgressError if it cannot be used as is."""
        file = Path(path) if path is not None else default_path()
        _check_file(file)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProgressError(
                f"cannot create the folder {file.parent} for your progress ({exc.strerror or exc}):"
                " set TUTOR_HOME to a folder you can write to"
            ) from None
        try:
            conn = sqlite3.connect(str(file), timeout=5.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ProgressError(f"cannot open your progress file {file} ({exc}): check its permissions, or set TUTOR_HOME to another folder") from None
        try:
            _prepare(conn, file)
        except BaseException:
            conn.close()
            raise
        return cls(conn, file, clock)

    @classmethod
    def memory(cls, *, clock: Callable[[], float] = time.time) -> "ProgressStore":
        """A store that lives in memory only (tests, or a session that should leave no trace)."""
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        _prepare(conn, None)
        return cls(conn, None, clock)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "ProgressStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing ------------------------------------------------------------------------------
    def record_attempt(
        self,
        lesson: str,
        answers: Mapping[str, str],
        verdicts: Mapping[str, Mapping[str, Any]],
        *,
        elapsed: float | None = None,
        state: Mapping[str, Any] | None = None,
        run: Mapping[str, Any] | None = None,
    ) -> Attempt:
        """Record one check (committed before returning) and keep its answers as the lesson's last.

        `run`: what the check's charts and output panel drew (tutor.charts.run_record), kept for the
        lesson's latest check only, so a reopened lesson shows them without checking again."""
        now = self._clock()
        clean = {str(k): {"verdict": v.get("verdict"), "diagnosis": v.get("diagnosis"), "message": v.get("message", "")}
                 for k, v in verdicts.items()}
        total = len(clean)
        correct = sum(1 for v in clean.values() if v["verdict"] == "correct")
        passed = total > 0 and correct == total
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            cur = self._conn.execute(
                "INSERT INTO attempts (lesson, at, answers, verdicts, passed, correct, total, elapsed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (lesson, now, _dumps(dict(answers)), _dumps(clean), int(passed), correct, total, elapsed),
            )
            attempt_id = int(cur.lastrowid or 0)
            self._conn.execute("DELETE FROM runs WHERE lesson = ?", (lesson,))
            if run is not None:
                self._conn.execute("INSERT INTO runs (attempt, lesson, data) VALUES (?, ?, ?)",
                                   (attempt_id, lesson, _dumps(dict(run))))
            self._upsert(lesson, answers=dict(answers), state=state, now=now)
            if passed:
                self._conn.execute("UPDATE lessons SET done_at = ? WHERE lesson = ? AND done_at IS NULL", (now, lesson))
        return Attempt(attempt_id, lesson, now, dict(answers), clean, passed, correct, total, elapsed)

    def save_answers(self, lesson: str, answers: Mapping[str, str], state: Mapping[str, Any] | None = None) -> None:
        """Keep the learner's current answers (and what they have seen) without grading them."""
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._upsert(lesson, answers=dict(answers), state=state, now=self._clock())

    def mark_opened(self, lesson: str) -> None:
        """Remember the lesson the learner opened last: the app opens there next time."""
        now = self._clock()
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO lessons (lesson, opened) VALUES (?, ?) ON CONFLICT(lesson) DO UPDATE SET opened = excluded.opened",
                (lesson, now),
            )
            self._conn.execute(
                "INSERT INTO settings (key, value) VALUES ('last_lesson', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_dumps(lesson),),
            )

    def reset(self, lesson: str) -> None:
        """Start the lesson over: no saved answers, hints or done mark. Past attempts stay as history."""
        now = self._clock()
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            last_id = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM attempts").fetchone()[0]
            self._conn.execute(
                "INSERT INTO lessons (lesson, answers, state, updated, reset_at, reset_id, done_at)"
                " VALUES (?, '{}', '{}', ?, ?, ?, NULL)"
                " ON CONFLICT(lesson) DO UPDATE SET answers = '{}', state = '{}', updated = excluded.updated,"
                " reset_at = excluded.reset_at, reset_id = excluded.reset_id, done_at = NULL",
                (lesson, now, now, last_id),
            )

    def set_setting(self, key: str, value: Any) -> None:
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, _dumps(value)),
            )

    def _upsert(self, lesson: str, *, answers: dict[str, str], state: Mapping[str, Any] | None, now: float) -> None:
        if state is None:
            self._conn.execute(
                "INSERT INTO lessons (lesson, answers, updated) VALUES (?, ?, ?)"
                " ON CONFLICT(lesson) DO UPDATE SET answers = excluded.answers, updated = excluded.updated",
                (lesson, _dumps(answers), now),
            )
        else:
            self._conn.execute(
                "INSERT INTO lessons (lesson, answers, state, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(lesson) DO UPDATE SET answers = excluded.answers, state = excluded.state,"
                " updated = excluded.updated",
                (lesson, _dumps(answers), _dumps(dict(state)), now),
            )

    # ---- reading ------------------------------------------------------------------------------
    def setting(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except ValueError:
            return default

    def last_lesson(self) -> str | None:
        value = self.setting("last_lesson")
        return value if isinstance(value, str) else None

    def lesson_state(self, lesson: str) -> LessonState:
        """The answers and state saved for a lesson (empty after a reset or before any)."""
        with self._lock:
            row = self._conn.execute("SELECT answers, state FROM lessons WHERE lesson = ?", (lesson,)).fetchone()
        if row is None:
            return LessonState()
        answers = {str(k): v for k, v in _loads(row[0], {}).items() if isinstance(v, str)}
        return LessonState(answers, _loads(row[1], {}))

    def attempts(self, lesson: str, *, since_reset: bool = True) -> list[Attempt]:
        """The lesson's attempts, oldest first (by default only those since its last reset)."""
        with self._lock:
            after = self._reset_id(lesson) if since_reset else 0
            rows = self._conn.execute(
                "SELECT id, lesson, at, answers, verdicts, passed, correct, total, elapsed FROM attempts"
                " WHERE lesson = ? AND id > ? ORDER BY id",
                (lesson, after),
            ).fetchall()
        return [
            Attempt(r[0], r[1], r[2], _loads(r[3], {}), _loads(r[4], {}), bool(r[5]), r[6], r[7], r[8])
            for r in rows
        ]

    def last_attempt(self, lesson: str) -> Attempt | None:
        found = self.attempts(lesson)
        return found[-1] if found else None

    def last_run(self, lesson: str) -> dict[str, Any] | None:
        """What the lesson's latest check drew (see `record_attempt`), unless the lesson was reset since."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM runs WHERE lesson = ? AND attempt > ? ORDER BY attempt DESC LIMIT 1",
                (lesson, self._reset_id(lesson)),
            ).fetchone()
        if row is None:
            return None
        return _loads(row[0], {}) or None

    def progress(self, lesson: str, total: int | None = None) -> LessonProgress:
        """The lesson's status for the list (`total`: its number of blanks; None: as last checked)."""
        with self._lock:
            row = self._conn.execute("SELECT answers, reset_id, done_at FROM lessons WHERE lesson = ?", (lesson,)).fetchone()
            after = row[1] if row else 0
            count, last_at = self._conn.execute(
                "SELECT COUNT(*), MAX(at) FROM attempts WHERE lesson = ? AND id > ?", (lesson, after)
            ).fetchone()
            last = self._conn.execute(
                "SELECT correct, total FROM attempts WHERE lesson = ? AND id > ? ORDER BY id DESC LIMIT 1", (lesson, after)
            ).fetchone()
        answers = _loads(row[0], {}) if row else {}
        done = bool(row and row[2] is not None)
        correct = int(last[0]) if last else 0
        if total is None:
            total = int(last[1]) if last else 0
        if done:
            status = "done"
        elif count or any(isinstance(v, str) and v.strip() for v in answers.values()):
            status = "started"
        else:
            status = "new"
        return LessonProgress(lesson, status, min(correct, total), total, int(count), last_at)

    def _reset_id(self, lesson: str) -> int:
        row = self._conn.execute("SELECT reset_id FROM lessons WHERE lesson = ?", (lesson,)).fetchone()
        return int(row[0]) if row else 0


def _check_file(file: Path) -> None:
    """Refuse, before anything is written, a file that is not an SQLite database."""
    try:
        if not file.exists():
            return
        if file.is_dir():
            raise ProgressError(f"{file} is a folder, not a progress file: move it aside, or set TUTOR_HOME to another folder")
        with file.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ProgressError(f"cannot read your progress file {file} ({exc.strerror or exc}): check its permissions") from None
    if head and head != _SQLITE_MAGIC:
        raise _damaged(file, "it is not an SQLite database")


def _damaged(file: Path | None, why: str) -> ProgressError:
    return ProgressError(
        f"your progress file {file} cannot be used ({why}); it was left untouched: move it aside"
        " (the tutor then starts a new one), or set TUTOR_HOME to another folder"
    )


def _prepare(conn: sqlite3.Connection, file: Path | None) -> None:
    """Check the version and integrity, then (only then) switch to WAL and create the tables."""
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ProgressError(
                f"your progress file {file} was written by a newer version of the tutor (format {version},"
                f" this one reads up to {SCHEMA_VERSION}); it was left untouched: upgrade the tutor,"
                " or set TUTOR_HOME to another folder"
            )
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "attempts" not in tables:
            raise _damaged(file, "it is some other SQLite database")
        if tables:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise _damaged(file, f"the database is damaged: {check}")
        conn.execute("PRAGMA busy_timeout = 5000")
        if file is not None:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ProgressError(f"your progress file {file} cannot use a write-ahead log (journal mode {mode}): set TUTOR_HOME to a local folder")
        conn.execute("PRAGMA synchronous = FULL")
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                conn.execute(statement)
            if version == 0:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except ProgressError:
        raise
    except sqlite3.DatabaseError as exc:
        raise _damaged(file, f"SQLite says: {exc}") from None
