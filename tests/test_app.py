"""The app as a learner uses it: pilot flows, snapshots at 80x24 (and 120x40 where the layout differs), and a killed process.

UI-only tests inject `FakeGrader` (make_app takes a grader factory): it marks answers by comparing
them with the reference (a table gives the grader's sentence for known mistakes) and runs the
lesson's program in this process with numpy for the charts. The flow the issue asks to show runs
on the real grader, one evaluator shared by the module.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.widgets import Input, OptionList, Static

from tutor import datasets
from tutor.app import keys
from tutor.app.app import TutorApp, make_app
from tutor.app.screens.confirm import ConfirmScreen
from tutor.app.screens.help import HelpScreen
from tutor.app.screens.lesson import LessonScreen
from tutor.app.screens.lessons import LessonListScreen
from tutor.app.widgets.charts_panel import ChartsPanel
from tutor.app.widgets.plot import ChartPlot
from tutor.grading.grader import BlankResult, Cancelled, GradeReport, normalize
from tutor.lesson import load_lessons, render_step
from tutor.progress import ProgressStore
from tutor.sandbox.results import RunResult

LESSONS = Path(__file__).parent / "fixtures" / "app_lessons"
RIGHT = {
    "loss": "np.mean((y - (w * X + b)) ** 2)",
    "dw": "-2 * np.mean((y - (w * X + b)) * X)",
    "db": "-2 * np.mean(y - (w * X + b))",
    "w": "w - learning_rate * dw",
    "b": "b - learning_rate * db",
    "y_pred": "w * X + b",
}
FLIPPED_DW = "2 * np.mean((y - (w * X + b)) * X)"
# Every screen is snapshotted at 80x24; 120x40 only where the layout differs there: from 110 columns
# the lesson screen puts the charts panel beside the code (app.py, "Width"), and ctrl+o focuses it
# instead of swapping it for the code. The lesson list, the help, the dialogs and the hints are the
# same layout stretched at 120x40, so they are not snapshotted twice.
NARROW = [(80, 24)]
SIZES = [(80, 24), (120, 40)]


def run_async(test):
    """Run an async test with asyncio (no async pytest plugin is needed)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


# ---- a grader that needs no sandbox ----------------------------------------------------------


class FakeGrader:
    """Marks answers against the reference; runs the program in-process for the charts.

    `gate`, when given, holds every grading until it is set (or the check is cancelled).
    """

    KNOWN = {("dw", normalize(FLIPPED_DW)): ("incorrect", "sign_flipped",
                                             "`dw` has the right size but the opposite sign from the first time it runs.")}

    def __init__(self, gate: threading.Event | None = None, live: list[str] | None = None) -> None:
        self.gate = gate
        self.live = live or []  # lines "printed" while the check runs (a real grader streams the run's prints)
        self.graded: list[dict[str, str]] = []
        self.started = threading.Event()

    def grade(self, lesson: Any, answers: dict[str, str], cancelled: Any = None, on_output: Any = None) -> GradeReport:
        cancelled = cancelled or (lambda: False)
        for line in self.live:
            if on_output is not None:
                on_output(line)
        self.started.set()
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if cancelled():
                    raise Cancelled()
        if cancelled():
            raise Cancelled()
        self.graded.append(dict(answers))
        results = {}
        for name, blank in lesson.blanks.items():
            text = (answers.get(name) or "").strip()
            if not text:
                results[name] = BlankResult(name, blank.kind, blank.step, "missing", "missing", f"`{name}` has no answer yet.")
                continue
            if normalize(text) == normalize(blank.answer):
                results[name] = BlankResult(name, blank.kind, blank.step, "correct", None, "Correct.")
                continue
            verdict, diag, message = self.KNOWN.get((name, normalize(text)),
                                                    ("incorrect", "wrong_value", f"`{name}` does not give the reference value."))
            hint = blank.diagnosis_hints.get(diag) or (blank.hints[0] if blank.hints else None)
            results[name] = BlankResult(name, blank.kind, blank.step, verdict, diag, message, hint=hint)
        reference = run_in_process(lesson, {})
        learner = run_in_process(lesson, answers) if all((answers.get(n) or "").strip() for n in lesson.blanks) else None
        return GradeReport(lesson.id, results, learner_run=learner, reference_run=reference)


def run_in_process(lesson: Any, answers: dict[str, str]) -> RunResult:
    """The lesson's program with these answers (reference where missing), captures per step."""
    space: dict[str, Any] = {"np": np}
    for name in lesson.datasets:
        space.update(datasets.load(name))
    out = io.StringIO()
    captures: dict[str, dict[str, Any]] = {}
    with contextlib.redirect_stdout(out), np.errstate(all="ignore"):
        try:
            exec(lesson.setup, space)
            for s, step in enumerate(lesson.steps):
                exec(render_step(step, lesson, {k: v for k, v in answers.items() if v.strip()}), space)
                exprs = [c.expr for c in step.compare]
                for value in step.charts.values():
                    exprs += [value] if isinstance(value, str) else [v for v in value.values() if isinstance(v, str)]
                captures[str(s)] = {e: np.asarray(eval(e, space), dtype=float) for e in exprs}
        except Exception as exc:  # a wrong answer may crash: the run then has no captures
            return RunResult("error", stdout=out.getvalue() + f"{type(exc).__name__}: {exc}\n")
    return RunResult("ok", captures=captures, stdout=out.getvalue())


class Shared:
    """Lends the module's real grader to an app without letting the app close it."""

    def __init__(self, grader: Any) -> None:
        self.grader = grader

    def grade(self, *args: Any, **kwargs: Any) -> Any:
        return self.grader.grade(*args, **kwargs)

    def reference(self, lesson: Any) -> Any:
        return self.grader.reference(lesson)


@pytest.fixture(scope="module")
def real_grader():
    from tutor.grading.grader import Grader
    from tutor.sandbox import Evaluator

    ev = Evaluator(preload=("numpy",))
    ev.start(wait=True)
    yield Grader(ev)
    ev.close()


def new_app(store: ProgressStore, grader: Any = None, lessons: Path = LESSONS) -> TutorApp:
    grader = grader or FakeGrader()
    app = make_app(lessons, store, grader_factory=lambda _lessons: grader, cursor_blink=False, theme="textual-dark")
    app.animation_level = "none"
    return app


async def settle(pilot: Any) -> None:
    """Wait for every worker (grader warm-up, checks) and the messages they post."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_lesson(pilot: Any, index: int = 0) -> LessonScreen:
    await settle(pilot)
    for _ in range(index):
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, LessonScreen)
    return pilot.app.screen


async def burst(pilot: Any, screen: LessonScreen, keys_typed: list[str]) -> None:
    """From the first blank, every key queued before the first is handled (a fast typist, a terminal
    sending a burst over SSH), then settled."""
    from textual import events

    screen.set_focus(screen.query_one("#doc"))
    await pilot.press("tab")
    assert getattr(screen.focused, "blank_name", None) == screen.blank_order[0]
    for key in keys_typed:
        pilot.app.post_message(events.Key(key, key if len(key) == 1 else None))
    await settle(pilot)


async def type_answers(pilot: Any, screen: LessonScreen, answers: dict[str, str]) -> None:
    """Tab to the first blank, then enter each answer and press enter, as a learner would.

    The text goes in as a paste (one event), not key by key: pressing 200 keys takes seconds.
    Typing key by key is covered where it matters (`type_keys`).
    """
    screen.set_focus(screen.query_one("#doc"))
    await pilot.press("tab")
    for name in screen.blank_order:
        assert getattr(screen.focused, "blank_name", None) == name
        text = answers.get(name, "")
        if text:
            await paste(pilot, text)
        await pilot.press("enter")
    await pilot.pause()


async def fill(pilot: Any, screen: LessonScreen, answers: dict[str, str]) -> None:
    """Set the answers at once (snapshots: the typing itself is tested by the flows above)."""
    for name, text in answers.items():
        screen.slots[name].set_value(text)
    await pilot.pause()


async def paste(pilot: Any, text: str) -> None:
    from textual import events

    pilot.app.post_message(events.Paste(text))  # as the terminal's driver sends it, before later keys


async def check(pilot: Any) -> None:
    await pilot.press(keys.CHECK)
    await settle(pilot)


def note_text(screen: LessonScreen, name: str) -> str:
    note = screen.slots[name].note
    return str(note.render()) if note.has_class("-shown") else ""


def mark_of(screen: LessonScreen, name: str) -> str:
    return str(screen.slots[name].mark.render()).strip()


# ---- the flow the issue asks to show, on the real grader ------------------------------------


@run_async
async def test_learner_flow_sign_flip_fix_done_and_restored(tmp_path, real_grader):
    path = tmp_path / "progress.sqlite3"
    store = ProgressStore.open(path)
    app = new_app(store, Shared(real_grader))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await type_answers(pilot, screen, {**RIGHT, "dw": FLIPPED_DW})
        await check(pilot)
        assert mark_of(screen, "dw") == "✗"
        assert "opposite sign" in note_text(screen, "dw")
        assert "minus sign" in note_text(screen, "dw")  # the hint for this diagnosis
        assert all(mark_of(screen, n) == "✓" for n in RIGHT if n != "dw")
        assert app.focused is screen.slots["dw"].editor
        await pilot.press(keys.CHARTS)
        await pilot.pause()
        panel = screen.query_one(ChartsPanel)
        assert panel.display and app.focused is panel
        fig = screen.query_one(ChartPlot).figure
        assert fig.kind == "loss" and fig.log_y
        assert [s.label for s in fig.series] == ["reference", "yours"]
        assert fig.series[1].y[-1] > fig.series[0].y[-1] + 3  # yours diverges, decades above
        await pilot.press(keys.CHARTS)
        await pilot.press("home", "-")
        await check(pilot)
        assert screen.passed and mark_of(screen, "dw") == "✓"
        assert "done" in str(screen.query_one("#lesson-score", Static).render())
        fig = screen.query_one(ChartPlot).figure
        assert fig.kind == "fit"
        data, ref, yours = fig.series
        assert data.style == "points" and yours.label == "yours"
        assert np.allclose(yours.y, ref.y)
        assert min(data.y) < yours.y[len(yours.y) // 2] < max(data.y)  # the line runs through the data
        assert "w = 2.9" in str(screen.query_one("#output", Static).render())
        await pilot.press(keys.QUIT)
    store.close()

    store = ProgressStore.open(path)
    assert [a.passed for a in store.attempts("line")] == [False, True]
    app = new_app(store, Shared(real_grader))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        options = app.screen.query_one(OptionList)
        assert "done" in str(options.get_option_at_index(0).prompt)
        assert options.highlighted == 0
        screen = await open_lesson(pilot)
        assert screen.answers() == {**RIGHT}
        assert mark_of(screen, "dw") == "✓" and screen.passed
        assert app.focused is screen.slots["dw"].editor  # the blank last used
    store.close()


# ---- the list --------------------------------------------------------------------------------


@run_async
async def test_list_shows_status_and_opens_where_the_learner_left_off(tmp_path):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    store.record_attempt("blocks", {"predict": "return 1"}, {"predict": {"verdict": "incorrect"}, "accumulate": {"verdict": "correct"}})
    store.mark_opened("blocks")
    app = new_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        options = app.screen.query_one(OptionList)
        rows = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "new" in rows[0] and "1/2 right" in rows[1]
        assert options.highlighted == 1
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.lesson.id == "blocks"


@run_async
async def test_the_list_is_drawn_before_the_lessons_are_parsed_and_opens_them_once_they_are(tmp_path):
    app = new_app(ProgressStore.open(tmp_path / "p.sqlite3"))
    assert [e.id for e in app.entries] == ["line", "blocks"] and app.entries[0].lesson is None
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_lesson(app.entries[0])  # before the parse has finished
        await settle(pilot)
        assert isinstance(app.screen, LessonScreen) and app.screen.lesson.id == "line"
        assert app.entries[0].blanks == 6


@run_async
async def test_a_broken_lesson_ends_the_app_with_its_problems(tmp_path):
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "010-line.md").write_text((LESSONS / "010-line.md").read_text())
    (folder / "020-broken.md").write_text('+++\nid = "broken"\ntitle = "Broken"\nframework = "numpy"\n+++\n\n## S\n\n```python\nx = {{a: 1\n```\n')
    app = new_app(ProgressStore.open(tmp_path / "p.sqlite3"), lessons=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
    assert app.return_code == 2
    assert any("020-broken.md:" in p and "never closed" in p for p in app.lesson_problems)


# ---- hints, the solution, reset ----------------------------------------------------------------


@run_async
async def test_hints_come_one_at_a_time_and_the_diagnosis_hint_first(tmp_path):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await type_answers(pilot, screen, {"loss": RIGHT["loss"]})
        screen.set_focus(screen.slots["loss"].editor)
        await pilot.press(keys.HINT)
        await pilot.pause()
        assert "The mean of the squared errors." in note_text(screen, "loss")
        assert "np.mean of" not in note_text(screen, "loss")
        await pilot.press(keys.HINT)
        await pilot.pause()
        assert "np.mean of (y - prediction)" in note_text(screen, "loss")
        await pilot.press(keys.HINT)
        await pilot.pause()
        assert any("No more hints" in message for _title, message in app.notices)

        screen.set_focus(screen.slots["dw"].editor)
        await pilot.press(*FLIPPED_DW)
        await check(pilot)
        text = note_text(screen, "dw")
        assert "opposite sign" in text and "Hint: Check the minus sign" in text and "(error times X)" not in text
        await pilot.press(keys.HINT)
        await pilot.pause()
        assert "Hint: -2 times the mean of (error times X)." in note_text(screen, "dw")
    assert store.lesson_state("line").state["hints"] == {"loss": 2, "dw": 1}


@run_async
async def test_solution_only_after_an_attempt_and_a_yes(tmp_path):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        screen.set_focus(screen.slots["dw"].editor)
        await pilot.press(keys.REVEAL)
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert "Solution" not in note_text(screen, "dw")
        assert any("before asking for a solution" in message for _title, message in app.notices)

        await check(pilot)
        assert mark_of(screen, "loss") == "·" and not screen.slots["loss"].mark.has_class("-stale")
        screen.set_focus(screen.slots["loss"].editor)
        await pilot.press("n", "p")
        assert screen.slots["loss"].mark.has_class("-stale")  # edited since the check: dimmed
        screen.set_focus(screen.slots["dw"].editor)
        await pilot.press(keys.REVEAL)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")  # the focus starts on "Cancel": a stray enter never reveals
        await pilot.pause()
        assert app.screen is screen and "Solution" not in note_text(screen, "dw")
        await pilot.press(keys.REVEAL)
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert "Solution: -2 * np.mean((y - (w * X + b)) * X)" in note_text(screen, "dw")
        assert screen.slots["dw"].value == ""  # shown, not typed in for the learner
    assert store.lesson_state("line").state["revealed"] == ["dw"]


@run_async
async def test_reset_clears_the_lesson_after_a_yes(tmp_path):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await fill(pilot, screen, RIGHT)
        await check(pilot)
        assert store.progress("line", 6).status == "done"
        await pilot.press(keys.RESET)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert screen.answers() == RIGHT
        await pilot.press(keys.RESET)
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert set(screen.answers().values()) == {""}
        assert all(mark_of(screen, n) == "" for n in RIGHT)
        assert store.progress("line", 6).status == "new"
        await pilot.press("escape")
        await settle(pilot)
        assert "new" in str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
    assert len(store.attempts("line", since_reset=False)) == 1


# ---- checks that never block ----------------------------------------------------------------


@run_async
async def test_a_running_check_shows_progress_and_can_be_cancelled(tmp_path):
    gate = threading.Event()
    grader = FakeGrader(gate)
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store, grader)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await type_answers(pilot, screen, RIGHT)
        await pilot.press(keys.CHECK)
        await pilot.pause()
        assert grader.started.wait(5)
        assert screen.checking and screen.query_one("#check-progress").display
        assert "esc cancels" in str(screen.query_one("#status", Static).render())
        await pilot.press("a")  # the UI answers while the grader works
        assert screen.slots["y_pred"].value.endswith("a")
        await pilot.press("escape")
        await settle(pilot)
        assert not screen.checking and not screen.query_one("#check-progress").display
        assert "cancelled" in str(screen.query_one("#status", Static).render())
        assert isinstance(app.screen, LessonScreen)  # escape cancelled; it did not leave
        gate.set()
        await settle(pilot)
        assert screen.results == {}
    assert store.attempts("line") == [] and grader.graded == []


@run_async
async def test_a_long_run_shows_its_prints_while_it_trains(tmp_path):
    gate = threading.Event()
    grader = FakeGrader(gate, live=["epoch  1000  loss 12.5\n", "epoch  2000  loss 3.25\n"])
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store, grader)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await type_answers(pilot, screen, RIGHT)
        await pilot.press(keys.CHECK)
        assert grader.started.wait(5)
        for _ in range(3):  # the check is still running: let the posted lines arrive
            await pilot.pause(0.05)
        assert screen.checking
        status = str(screen.query_one("#status", Static).render())
        assert "epoch  2000  loss 3.25" in status and "Running: " in status
        shown = str(screen.query_one("#output", Static).render())
        assert "epoch  1000  loss 12.5" in shown and "epoch  2000  loss 3.25" in shown
        assert "running" in str(screen.query_one("#output-title", Static).render())
        gate.set()
        await settle(pilot)
        assert screen.passed and not screen.checking
        assert "running" not in str(screen.query_one("#output-title", Static).render())  # the finished run's output now


@run_async
async def test_a_second_check_replaces_the_running_one(tmp_path):
    gate = threading.Event()
    grader = FakeGrader(gate)
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store, grader)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await type_answers(pilot, screen, {**RIGHT, "dw": FLIPPED_DW})
        await pilot.press(keys.CHECK)
        assert grader.started.wait(5)
        screen.set_focus(screen.slots["dw"].editor)
        await pilot.press("home", "-")
        await pilot.press(keys.CHECK)
        await pilot.pause()
        gate.set()
        await settle(pilot)
        assert screen.passed
    (attempt,) = store.attempts("line")
    assert attempt.answers["dw"] == RIGHT["dw"] and grader.graded == [attempt.answers]


# ---- charts, help, palette, output, blocks ----------------------------------------------------


@run_async
async def test_charts_step_through_epochs_and_charts(tmp_path):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await fill(pilot, screen, RIGHT)
        await check(pilot)
        await pilot.press(keys.CHARTS)
        await pilot.pause()
        plot = screen.query_one(ChartPlot)
        assert plot.figure.kind == "fit"
        await pilot.press("up")
        assert plot.figure.kind == "epochs" and plot.figure.epoch == 1
        await pilot.press("right")
        assert plot.figure.epoch == 50 and plot.figure.title == "Step 1: The fit after epoch 50 of 200"  # a lesson of two steps: charts say which
        await pilot.press("right", "right")
        assert plot.figure.epoch == 200
        await pilot.press("left")
        assert plot.figure.epoch == 50
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.show_charts and isinstance(app.screen, LessonScreen)


@run_async
async def test_output_is_plain_text(tmp_path):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        from tutor.grading.grader import GradeReport as Report

        report = Report("line", {}, learner_run=RunResult("ok", stdout="w[0] = [bold]3[/bold]\n"))
        screen.post_message(LessonScreen.CheckDone(screen.token, {}, report))
        await settle(pilot)
        assert str(screen.query_one("#output", Static).render()) == "w[0] = [bold]3[/bold]"


@run_async
async def test_help_lists_the_keys_and_closes(tmp_path):
    app = new_app(ProgressStore.open(tmp_path / "p.sqlite3"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_lesson(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.help_text()
        for key in (keys.CHECK, keys.HINT, keys.CHARTS, keys.REVEAL, keys.RESET):
            assert keys.display(key) in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LessonScreen)


@run_async
async def test_every_lesson_action_is_in_the_palette_and_has_a_key(tmp_path):
    app = new_app(ProgressStore.open(tmp_path / "p.sqlite3"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        titles = {c.title for c in app.get_system_commands(screen)}
        for title in ("Check answers", "Hint", "Charts and output", "Show solution", "Reset lesson",
                      "Next blank", "Previous blank", "Next epoch", "Back to the lessons", "Help", "Quit"):
            assert title in titles
        bound = {b.action for b in LessonScreen.BINDINGS}
        assert {"check", "hint", "toggle_charts", "reveal", "reset", "back"} <= bound


def test_bindings_avoid_keys_terminals_and_editors_use():
    from textual.widgets import TextArea

    taken = set()
    for widget in (Input, TextArea):
        for b in widget.BINDINGS:
            taken |= set(b.key.split(","))
    for b in LessonScreen.BINDINGS + ChartsPanel.BINDINGS + TutorApp.BINDINGS:
        for key in b.key.split(","):
            assert key not in {"ctrl+h", "ctrl+i", "ctrl+j", "ctrl+m", "ctrl+w", "ctrl+t", "ctrl+n", "f5", "f11", "f12"}
            if b in LessonScreen.BINDINGS or b in TutorApp.BINDINGS:
                assert key not in taken, key


@run_async
async def test_block_blank_is_typed_as_lines(tmp_path):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot, 1)
        assert getattr(screen.focused, "blank_name", None) == "predict"  # the first blank, from the start
        await paste(pilot, "out = w * x + b")
        await pilot.press("enter")
        await paste(pilot, "return out")
        await pilot.press("tab")
        await paste(pilot, "total += predict(3.0, 2.0, v)")
        await pilot.pause()
        assert screen.answers() == {"predict": "out = w * x + b\nreturn out", "accumulate": "total += predict(3.0, 2.0, v)"}
        await check(pilot)
        assert screen.passed
        assert str(screen.query_one("#output", Static).render()) == "13.0"


@run_async
async def test_answers_are_saved_on_leaving_without_a_check(tmp_path):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await type_answers(pilot, screen, {"loss": "np.mean(y)"})
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, LessonListScreen)
        assert "started" in str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
    assert store.lesson_state("line").answers["loss"] == "np.mean(y)"


@run_async
async def test_keys_typed_in_one_burst_land_in_the_blanks_they_were_typed_for(tmp_path):
    # A fast typist, or a terminal sending a burst (over SSH, a paste without bracketed paste): every
    # key is queued before the first is handled. Tab and enter must still move on before the next key.
    app = new_app(ProgressStore.open(tmp_path / "p.sqlite3"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await burst(pilot, screen, [*"np.mean(y)", "tab", *"abc", "enter", *"xyz", "shift+tab", *"!"])
        first, second, third = (screen.slots[n].value for n in screen.blank_order[:3])
        assert (first, second, third) == ("np.mean(y)", "abc!", "xyz")


def test_cli_refuses_a_damaged_progress_file(tmp_path, monkeypatch, capsys):
    from tutor.cli import main

    (tmp_path / "progress.sqlite3").write_bytes(b"not a database at all" * 50)
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))
    assert main(["--lessons", str(LESSONS)]) == 2
    err = capsys.readouterr().err
    assert "progress.sqlite3" in err and "untouched" in err
    assert (tmp_path / "progress.sqlite3").read_bytes() == b"not a database at all" * 50


# ---- a killed process loses no attempt ----------------------------------------------------------

CHILD = """
import sys
from textual import events
from tutor.app.app import make_app
from tutor.progress import ProgressStore

class Loud(ProgressStore):
    def record_attempt(self, *args, **kwargs):
        attempt = super().record_attempt(*args, **kwargs)
        print("torch imported:", "torch" in sys.modules, flush=True)
        print("RECORDED", attempt.id, flush=True)
        return attempt

store = Loud.open(sys.argv[1])
app = make_app(sys.argv[2], store, cursor_blink=False)

async def auto_pilot(pilot):
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    for text in sys.argv[3:]:  # the lesson opens with its first blank in focus
        pilot.app.post_message(events.Paste(text))
        await pilot.pause()
        await pilot.press("enter")
    await pilot.press("ctrl+r")
    while True:
        await pilot.pause(0.05)

app.run(headless=True, auto_pilot=auto_pilot, size=(80, 24))
"""


def test_killed_right_after_an_attempt_the_attempt_is_in_the_database(tmp_path):
    db = tmp_path / "progress.sqlite3"
    answers = [RIGHT["loss"], FLIPPED_DW, RIGHT["db"], RIGHT["w"], RIGHT["b"], RIGHT["y_pred"]]
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(LESSONS), *answers],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("RECORDED"):
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert any(l.startswith("RECORDED") for l in lines), (lines, proc.stderr.read()[-2000:])
    assert proc.returncode == -signal.SIGKILL
    assert "torch imported: False\n" in lines  # the UI process never imports torch
    with ProgressStore.open(db) as store:
        (attempt,) = store.attempts("line")
        assert attempt.answers["dw"] == FLIPPED_DW
        assert attempt.verdicts["dw"]["diagnosis"] == "sign_flipped"
        assert attempt.correct == 5 and not attempt.passed


# ---- snapshots -------------------------------------------------------------------------------


def snap_app(tmp_path: Path) -> TutorApp:
    return new_app(ProgressStore.open(tmp_path / "p.sqlite3"))


@pytest.mark.parametrize("size", NARROW, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_list(snap_compare, tmp_path, size):
    assert snap_compare(snap_app(tmp_path), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_lesson_opened(snap_compare, tmp_path, size):
    async def run_before(pilot):
        await open_lesson(pilot)

    assert snap_compare(snap_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_checked_with_sign_flipped_dw(snap_compare, tmp_path, size):
    async def run_before(pilot):
        screen = await open_lesson(pilot)
        await fill(pilot, screen, {**RIGHT, "dw": FLIPPED_DW})
        await check(pilot)

    assert snap_compare(snap_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_loss_chart_after_the_wrong_check(snap_compare, tmp_path, size):
    async def run_before(pilot):
        screen = await open_lesson(pilot)
        await fill(pilot, screen, {**RIGHT, "dw": FLIPPED_DW})
        await check(pilot)
        await pilot.press(keys.CHARTS)

    assert snap_compare(snap_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", NARROW, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_done_with_the_fit_chart(snap_compare, tmp_path, size):
    async def run_before(pilot):
        screen = await open_lesson(pilot)
        await fill(pilot, screen, RIGHT)
        await check(pilot)
        await pilot.press(keys.CHARTS)
        pilot.app.clear_notifications()

    assert snap_compare(snap_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", NARROW, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_hints_and_solution(snap_compare, tmp_path, size):
    async def run_before(pilot):
        screen = await open_lesson(pilot)
        await fill(pilot, screen, {**RIGHT, "dw": FLIPPED_DW, "db": "np.mean(y)"})
        await check(pilot)
        screen.set_focus(screen.slots["dw"].editor)
        await pilot.press(keys.HINT)
        screen.set_focus(screen.slots["db"].editor)
        await pilot.press(keys.REVEAL, "y")
        await pilot.pause()

    assert snap_compare(snap_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", NARROW, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_solution_question(snap_compare, tmp_path, size):
    async def run_before(pilot):
        screen = await open_lesson(pilot)
        await check(pilot)
        screen.set_focus(screen.slots["dw"].editor)
        await pilot.press(keys.REVEAL)

    assert snap_compare(snap_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", NARROW, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_check_running(snap_compare, tmp_path, size):
    grader = FakeGrader(threading.Event())

    async def run_before(pilot):
        screen = await open_lesson(pilot)
        await fill(pilot, screen, RIGHT)
        await pilot.press(keys.CHECK)
        grader.started.wait(5)

    app = new_app(ProgressStore.open(tmp_path / "p.sqlite3"), grader)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", NARROW, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_help(snap_compare, tmp_path, size):
    async def run_before(pilot):
        await open_lesson(pilot)
        await pilot.press("f1")

    assert snap_compare(snap_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", NARROW, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_block_blank_checked(snap_compare, tmp_path, size):
    async def run_before(pilot):
        screen = await open_lesson(pilot, 1)
        await pilot.press("tab")
        await paste(pilot, "out = w * x")
        await pilot.press("enter")
        await paste(pilot, "return out")
        await check(pilot)

    assert snap_compare(snap_app(tmp_path), terminal_size=size, run_before=run_before)


def test_snapshot_output_panel_shows_the_runs_error(snap_compare, tmp_path, real_grader):
    """A check whose run raises (the real grader): at 80x24 the output panel shows the traceback, with
    the lesson file's line of `dw` and its blank, and the loss chart says why it has no curve of yours."""
    async def run_before(pilot):
        screen = await open_lesson(pilot)
        await fill(pilot, screen, {**RIGHT, "dw": "float('x')"})
        await check(pilot)
        await pilot.press(keys.CHARTS)
        await settle(pilot)

    app = new_app(ProgressStore.open(tmp_path / "p.sqlite3"), Shared(real_grader))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", NARROW, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_list_after_progress(snap_compare, tmp_path, size):
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    store.record_attempt("line", RIGHT, {n: {"verdict": "correct"} for n in RIGHT})
    store.record_attempt("blocks", {"predict": "x"}, {"predict": {"verdict": "incorrect"}, "accumulate": {"verdict": "correct"}})
    store.mark_opened("blocks")
    assert snap_compare(new_app(store), terminal_size=size, run_before=settle)


def test_the_quick_index_lists_the_lessons_in_the_parsers_order():
    from tutor.app.catalog import quick_index
    from tutor.paths import builtin_lessons_dir

    for folder in (LESSONS, builtin_lessons_dir()):
        lessons = load_lessons(folder)
        assert [(e.id, e.title, e.framework) for e in quick_index(folder)] == [(l.id, l.title, l.framework) for l in lessons]


@run_async
async def test_keys_typed_right_before_ctrl_q_are_saved(tmp_path):
    # The quit key is handled as it arrives (a priority binding), while keys typed just before it still
    # wait to reach their blank: quitting must save them too, not the blank as it was a moment before.
    store = ProgressStore.open(tmp_path / "p.sqlite3")
    app = new_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        first = screen.blank_order[0]
        await burst(pilot, screen, [*"np.mean(y)", "ctrl+q"])
    assert app.return_code in (0, None)
    assert store.lesson_state("line").answers[first] == "np.mean(y)"


@run_async
async def test_a_formula_block_is_shown_as_plain_text_without_guessing_its_language(tmp_path, monkeypatch):
    # The first built-in lesson writes its loss and gradient as code blocks naming no language. Textual
    # would hand each to Pygments' guess_lexer (every lexer tried: most of the second the lesson took
    # to open, and a formula coloured as some other language); the lesson shows them as plain text.
    import pygments.lexers

    from tutor.paths import builtin_lessons_dir

    guessed: list[str] = []
    real = pygments.lexers.guess_lexer
    monkeypatch.setattr(pygments.lexers, "guess_lexer", lambda text, **kw: guessed.append(text) or real(text, **kw))
    app = new_app(ProgressStore.open(tmp_path / "p.sqlite3"), lessons=builtin_lessons_dir())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        fences = list(screen.query("MarkdownFence"))
        assert fences and {f.lexer for f in fences} == {""}  # the first lesson's formulas name no language
        assert "dL/dw" in "\n".join(f.code for f in fences)
    assert guessed == []
