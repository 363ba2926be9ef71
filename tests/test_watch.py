"""`tutor watch` (tutor/watch.py): a real file written, a real watcher, the check shown and saved;
a save during a check replaces it; q and ctrl+c end it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tutor.grading.verdicts import Cancelled
from tutor.lesson.program_file import render_program
from tutor.progress import ProgressStore
from tutor.watch import ProgramWatch, first_wrong, loss_line

LOSS = "    loss = np.mean((y - (w * X + b)) ** 2)"
DW_WRONG = "    dw = 2 * np.mean((y - (w * X + b)) * X)"
DW_RIGHT = "    dw = -2 * np.mean((y - (w * X + b)) * X)"


class Output:
    """A watch process's stdout, read by a thread; `wait_for` blocks until a text appears."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.text = ""
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._cond:
                self.text += line
                self._cond.notify_all()

    def wait_for(self, needle: str, count: int = 1, timeout: float = 240) -> str:
        end = time.monotonic() + timeout
        with self._cond:
            while self.text.count(needle) < count:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{needle!r} (x{count}) never came; the output was:\n{self.text}")
                self._cond.wait(left)
            return self.text


@pytest.fixture
def watched(lessons, tmp_path):
    """A started `tutor watch linreg-numpy --file FILE` with two answers (dw wrong), its progress in tmp_path."""
    lesson = next(l for l in lessons if l.id == "linreg-numpy")
    path = tmp_path / "mine.py"
    text = render_program(lesson, {}).replace("    loss = ???", LOSS).replace("    dw = ???", DW_WRONG)
    path.write_text(text)
    env = {**os.environ, "TUTOR_HOME": str(tmp_path / "home"), "COLUMNS": "100", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tutor", "watch", lesson.id, "--file", str(path)], cwd=tmp_path, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = Output(proc)
    yield lesson, path, text, proc, out
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_watch_checks_on_start_and_after_each_save_then_q_quits(watched, tmp_path):
    lesson, path, text, proc, out = watched
    first = out.wait_for("save it to check again")
    assert "✗ dw           sign_flipped" in first and "hint: Check the minus sign" in first  # the hint under the first wrong blank
    assert first.count("hint:") == 1
    assert "loss (log)  yours" in first and "reference" in first  # the one-line chart at 100 columns

    path.write_text(text.replace("    db = ???", "    db = 1").replace(DW_WRONG, DW_RIGHT).replace("learning_rate = 0.5", "learning_rate = 5"))
    second = out.wait_for("only the ??? places are answers")
    line = next(i for i, l in enumerate(path.read_text().split("\n"), 1) if l == "learning_rate = 5")
    assert f"mine.py:{line}: this line should be the lesson's `learning_rate = 0.5`" in second

    path.write_text(text.replace(DW_WRONG, DW_RIGHT))  # a real write, seen by a real watcher
    third = out.wait_for("save it to check again", count=3)
    last = third[third.rindex("checking"):]
    assert "✓ dw" in last and "✓ loss" in last and "· db" in last

    proc.stdin.write("q\n")
    proc.stdin.flush()
    assert proc.wait(timeout=60) == 0
    assert "Stopped watching" in out.wait_for("Stopped watching")
    with ProgressStore.open(tmp_path / "home" / "progress.sqlite3") as store:  # what the app shows
        attempts = store.attempts(lesson.id)
        assert [a.verdicts["dw"]["verdict"] for a in attempts] == ["incorrect", "correct"]
        assert store.lesson_state(lesson.id).answers["dw"] == DW_RIGHT.split("= ", 1)[1]


def test_ctrl_c_ends_the_watch_cleanly(watched):
    _lesson, _path, _text, proc, out = watched
    out.wait_for("save it to check again")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    text = out.wait_for("Stopped watching")
    assert "Traceback" not in text


def test_a_missing_file_is_one_sentence(lessons, tmp_path):
    done = subprocess.run([sys.executable, "-m", "tutor", "watch", "linreg-numpy"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "TUTOR_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert "linreg-numpy.py does not exist: write it with `tutor edit linreg-numpy`" in done.stderr


# ---- in process: a save during a check, the hint, the chart -----------------------------------


class SlowGrader:
    """Grades by waiting until cancelled (the first call) or at once (later calls)."""

    def __init__(self, real_report) -> None:
        self.calls: list[dict[str, str]] = []
        self.report = real_report
        self.started = threading.Event()

    def grade(self, lesson, answers, cancelled=None, on_output=None):
        self.calls.append(dict(answers))
        if len(self.calls) == 1:
            self.started.set()
            while not cancelled():
                time.sleep(0.01)
            raise Cancelled()
        return self.report


def test_a_save_during_a_check_replaces_it(lessons, grader, tmp_path):
    lesson = next(l for l in lessons if l.id == "linreg-numpy")
    path = tmp_path / "mine.py"
    path.write_text(render_program(lesson, {"loss": "1"}))
    report = grader.grade(lesson, {"loss": "1"})
    slow = SlowGrader(report)
    lines: list[str] = []
    watch = ProgramWatch(lesson, path, slow, None, columns=lambda: 40, out=lines.append)
    thread = threading.Thread(target=watch.run_checks, daemon=True)
    thread.start()
    watch.saved()
    assert slow.started.wait(10)
    path.write_text(render_program(lesson, {"loss": "2"}))
    watch.saved()
    deadline = time.monotonic() + 10
    while watch.checks < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    watch.stop()
    thread.join(10)
    assert [c.get("loss") for c in slow.calls] == ["1", "2"]
    assert "   (a newer save replaces this check)" in lines
    assert watch.checks == 1 and not any(line.strip().startswith("loss") for line in lines)  # 40 columns: no chart


def test_the_hint_goes_under_the_first_wrong_blank_and_the_chart_needs_room(lessons, grader):
    lesson = next(l for l in lessons if l.id == "linreg-numpy")
    report = grader.grade(lesson, {"loss": "np.mean((y - (w * X + b)) ** 2)", "db": "2 * np.mean(y - (w * X + b))"})
    assert first_wrong(report) == "db"  # a wrong answer before the missing ones
    assert loss_line(lesson, report, 63) is None
    line = loss_line(lesson, report, 100)
    assert line is not None and len(line) <= 100 and "yours" in line and line.index("yours") < line.index("reference")
    assert "\x1b" not in line and "⠀" < max(line)  # braille cells, no colour codes
    missing = grader.grade(lesson, {})
    assert first_wrong(missing) == "loss"
    assert "no answer ran" in loss_line(lesson, missing, 100)


def test_watch_uses_the_folder_so_an_editor_renaming_over_the_file_is_seen(tmp_path):
    """vim and VS Code save by renaming a new file over the old one: the watch must survive it."""
    from tutor.watch import _watch_file

    path = tmp_path / "mine.py"
    path.write_text("a\n")
    stop = threading.Event()
    seen = threading.Semaphore(0)
    thread = threading.Thread(target=_watch_file, args=(path, stop, seen.release), daemon=True)
    thread.start()
    time.sleep(1.0)
    for k in range(2):
        tmp = tmp_path / f".mine.py.{k}.tmp"
        tmp.write_text(f"b{k}\n")
        os.replace(tmp, path)
        assert seen.acquire(timeout=10), f"save {k + 1} was not seen"
    (tmp_path / "other.py").write_text("x\n")  # another file: no check
    assert not seen.acquire(timeout=1.0)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
