"""The app's start and end, as a learner meets them (issue 13): quitting never waits for the
evaluator and leaves none of its processes behind, drafts are saved on the way out, and a check
made while the evaluator still warms up says what it waits for, with the seconds going up.

The quit tests run the real `tutor` command in a pseudo-terminal of 80x24, with its progress folder
and its temporary folder (where each evaluator worker gets its working directory) under the test's
own, so every process of its sandbox can be found: the worker is the app's child, the pre-forked
children the worker's, and any of them still running has its working directory in that folder. The
bound here is generous (a loaded CI host); benchmarks/bench_first_paint.py measures the real figure.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tutor.grading.report import BlankResult, GradeReport
from tutor.lesson import load_lessons
from tutor.paths import builtin_lessons_dir
from tutor.progress import ProgressStore

QUIT_BOUND_S = 2.0  # a learner's "instant" is 0.3 s (the benchmark); a busy CI host gets room
MARKER = b"Choose a lesson"


# ---- the real command in a pseudo-terminal ------------------------------------------------------


class Terminal:
    """`tutor` running in an 80x24 pseudo-terminal; what it writes is read all along (so it never blocks)."""

    def __init__(self, tmp: Path) -> None:
        self.home, self.tmp = tmp / "home", tmp / "tmp"
        self.home.mkdir()
        self.tmp.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUTOR_")}
        env.update(TUTOR_HOME=str(self.home), TMPDIR=str(self.tmp), TERM="xterm-256color", COLUMNS="80", LINES="24")
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.proc = subprocess.Popen([sys.executable, "-m", "tutor"], stdin=slave, stdout=slave, stderr=slave,
                                     env=env, cwd=tmp, close_fds=True, start_new_session=True)
        os.close(slave)
        self.seen = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                if not select.select([self.master], [], [], 0.05)[0]:
                    if self.proc.poll() is not None:
                        return
                    continue
                chunk = os.read(self.master, 65536)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            with self._lock:
                self.seen += chunk

    def wait_for(self, text: bytes, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if text in self.seen:
                    return
            assert self.proc.poll() is None, f"tutor ended ({self.proc.returncode}) before showing {text!r}: {self.tail()}"
            time.sleep(0.01)
        raise AssertionError(f"tutor did not show {text!r} within {timeout} s: {self.tail()}")

    def tail(self) -> str:
        with self._lock:
            return bytes(self.seen[-600:]).decode("utf-8", "replace")

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def exit_time(self, timeout: float = 30.0) -> float:
        """Seconds from now to the process's end."""
        start = time.perf_counter()
        self.proc.wait(timeout)
        return time.perf_counter() - start

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._reader.join(2)
        os.close(self.master)


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _stat(int(entry))[1] == pid:
            out.append(int(entry))
    return out


def _stat(pid: int) -> tuple[str, int]:
    """(state, parent pid) of a process; ("", 0) when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return "", 0


def running(pid: int) -> bool:
    return _stat(pid)[0] not in ("", "Z", "X")  # a zombie has ended; only its reaper is late


def evaluator_worker(term: Terminal, timeout: float) -> int:
    """The evaluator worker's pid, once the app has started it."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for pid in children(term.proc.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"tutor.sandbox.worker" in cmdline:
                return pid
        time.sleep(0.02)
    raise AssertionError(f"the app started no evaluator worker within {timeout} s")


def sandbox_left(tmp: Path) -> list[int]:
    """Processes still running with their working directory in the app's temporary folder."""
    left = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd.startswith(str(tmp)) and running(int(entry)):
            left.append(int(entry))
    return left


def assert_all_ended(pids: list[int], tmp: Path, within: float = 2.0) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not any(running(p) for p in pids) and not sandbox_left(tmp):
            return
        time.sleep(0.02)
    alive = [p for p in pids if running(p)] + sandbox_left(tmp)
    raise AssertionError(f"evaluator processes still running {within} s after the app ended: {sorted(set(alive))}")


@pytest.fixture
def terminal(tmp_path: Path):
    term = Terminal(tmp_path)
    try:
        yield term
    finally:
        term.close()


def test_q_right_after_the_first_paint_quits_at_once_and_kills_the_starting_evaluator(terminal: Terminal) -> None:
    terminal.wait_for(MARKER, 60)
    worker = evaluator_worker(terminal, 30)  # importing numpy and torch: seconds before it is ready
    terminal.send(b"q")
    took = terminal.exit_time()
    assert terminal.proc.returncode == 0, terminal.tail()
    assert took < QUIT_BOUND_S, f"q took {took:.2f} s to end the app (the evaluator was starting)"
    assert_all_ended([worker], terminal.tmp)


def test_ctrl_q_in_a_lesson_saves_the_draft_and_kills_the_ready_evaluator_and_its_children(terminal: Terminal) -> None:
    terminal.wait_for(MARKER, 60)
    worker = evaluator_worker(terminal, 30)
    end = time.monotonic() + 120
    while not children(worker):  # ready: it pre-forks its children once numpy and torch are warm
        assert time.monotonic() < end and running(worker), "the evaluator never became ready"
        time.sleep(0.05)
    forked = children(worker)
    terminal.send(b"\r")  # the lesson under the cursor
    terminal.wait_for(b"Step 1 of", 60)
    terminal.send(b"\tzz_draft\x11")  # ctrl+q right behind the typed keys, in one write: they are saved too
    took = terminal.exit_time()
    assert terminal.proc.returncode == 0, terminal.tail()
    assert took < QUIT_BOUND_S, f"ctrl+q took {took:.2f} s to end the app"
    assert_all_ended([worker, *forked], terminal.tmp)
    store = ProgressStore.open(terminal.home / "progress.sqlite3")
    try:
        drafts = [store.lesson_state(l.id).answers for l in load_lessons(builtin_lessons_dir())]
    finally:
        store.close()
    assert any("zz_draft" in text for answers in drafts for text in answers.values()), drafts


# ---- a check while the evaluator warms up (pilot) ----------------------------------------------


class EmptyGrader:
    """Says every blank is missing: enough for the screen to show a verdict."""

    def grade(self, lesson: Any, answers: dict[str, str], cancelled: Any = None, on_output: Any = None) -> GradeReport:
        return GradeReport(lesson.id, {n: BlankResult(n, b.kind, b.step, "missing", "missing", f"`{n}` has no answer yet.")
                                       for n, b in lesson.blanks.items()})


def status_text(screen: Any) -> str:
    from textual.widgets import Static

    return str(screen.query_one("#status", Static).render())


def test_a_check_before_the_evaluator_is_ready_says_what_it_waits_for_with_the_seconds(tmp_path: Path) -> None:
    from tutor.app.app import make_app
    from tutor.app.screens.lesson import LessonScreen

    ready = threading.Event()

    def slow_factory(_lessons: Any) -> EmptyGrader:  # an evaluator that takes its time importing torch
        ready.wait(30)
        return EmptyGrader()

    async def flow() -> None:
        store = ProgressStore.open(tmp_path / "progress.sqlite3")
        app = make_app(builtin_lessons_dir(), store, grader_factory=slow_factory, cursor_blink=False, theme="textual-dark")
        app.animation_level = "none"
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                while app.lessons is None:
                    await pilot.pause(0.05)
                app.open_lesson(next(l for l in app.lessons if l.id == "linreg-torch"))
                await pilot.pause(0.1)
                screen = app.screen
                assert isinstance(screen, LessonScreen)
                warming = app.evaluator_warming()
                assert warming is not None and warming[0] == "torch"
                await pilot.press("ctrl+r")
                await pilot.pause(0.1)
                first = status_text(screen)
                assert "Warming up the evaluator (torch)" in first, first
                await asyncio.sleep(1.6)
                await pilot.pause()
                later = status_text(screen)
                assert "Warming up the evaluator (torch)" in later and later != first, (first, later)  # the seconds move
                assert _seconds(later) > _seconds(first)
                ready.set()
                for _ in range(200):
                    if not screen.checking:
                        break
                    await pilot.pause(0.05)
                assert not screen.checking and screen.attempted
                assert app.evaluator_warming() is None
                assert "Warming up" not in status_text(screen)
        finally:
            ready.set()
            store.close()

    asyncio.run(flow())


def _seconds(status: str) -> int:
    return int(status.split("…", 1)[1].split("s", 1)[0].strip())


# ---- the evaluator, killed while it starts ------------------------------------------------------


def test_kill_stops_a_starting_evaluator_at_once_and_for_good() -> None:
    from tutor.grading.factory import make_grader, stoppable
    from tutor.sandbox import EvaluatorError

    made: dict[str, Any] = {}
    started = threading.Event()

    def start() -> None:  # as the app's warm-up thread does: the factory blocks until torch is warm
        with stoppable() as handle:
            made["handle"] = handle
            started.set()
            try:
                made["grader"] = make_grader([type("Torch", (), {"framework": "torch"})()], wait=True)
            except EvaluatorError as exc:
                made["error"] = str(exc)

    thread = threading.Thread(target=start)
    thread.start()
    assert started.wait(30)
    handle = made["handle"]
    end = time.monotonic() + 30
    while not handle.evaluators or handle.evaluators[0].pid is None:
        assert time.monotonic() < end, "the factory started no worker"
        time.sleep(0.01)
    [evaluator] = handle.evaluators
    worker = evaluator.pid
    t0 = time.perf_counter()
    handle.kill()
    killed_in = time.perf_counter() - t0
    thread.join(10)
    assert not thread.is_alive() and "grader" not in made, made
    assert "stopped" in made["error"]
    assert killed_in < 0.5, f"kill took {killed_in:.2f} s"
    end = time.monotonic() + 2
    while running(worker) and time.monotonic() < end:
        time.sleep(0.01)
    assert not running(worker)
    [outcome] = evaluator.run([{"id": "after", "source": "x = 1\n", "names": ["np"]}])
    assert outcome.status == "crashed" and outcome.error == "the evaluator was stopped"
    assert evaluator.pid is None  # no new worker was started for it


def test_kill_ends_a_run_in_progress_at_once() -> None:
    from tutor.sandbox import Evaluator

    evaluator = Evaluator(preload=("numpy",))
    evaluator.start(wait=True)
    worker = evaluator.pid
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.extend(evaluator.run(
        [{"id": "busy", "source": "while True:\n    pass\n", "names": ["np"], "timeout": 60.0}])))
    thread.start()
    time.sleep(0.5)  # the job is running: the evaluator's lock is held by that thread
    t0 = time.perf_counter()
    evaluator.kill()
    thread.join(5)
    took = time.perf_counter() - t0
    assert not thread.is_alive() and took < 1.0, f"the run ended {took:.2f} s after kill"
    assert [(o.status, o.error) for o in got] == [("crashed", "the evaluator was stopped")]
    end = time.monotonic() + 2
    while running(worker) and time.monotonic() < end:
        time.sleep(0.01)
    assert not running(worker) and evaluator.pid is None
