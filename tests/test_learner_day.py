"""The learner's day in the app: no lost keystroke, editing comfort, notices that cover nothing,
charts kept across a reopen, the next lesson one key away, a status line that fits, and help and
palette read from the bindings. UI only: the FakeGrader of tests/test_app.py stands in for the sandbox.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.widgets import OptionList, Static

from tutor.app import keys
from tutor.app.screens.help import HelpScreen, help_sections
from tutor.app.screens.lesson import LessonScreen, status_line
from tutor.app.screens.lessons import LessonListScreen
from tutor.app.widgets.charts_panel import ChartsPanel
from tutor.app.widgets.code import BlankInput, CodeLines
from tutor.progress import ProgressStore

from test_app import RIGHT, FakeGrader, check, new_app, open_lesson, paste, run_async, settle


def store_at(tmp_path: Path) -> ProgressStore:
    return ProgressStore.open(tmp_path / "p.sqlite3")


def burst(app, *keys_: str) -> None:
    """Keys as the terminal driver delivers a fast typist's burst: all queued before any is handled.
    Each argument is a key name ("enter", "home") or a run of characters."""
    from textual.keys import _character_to_key

    for item in keys_:
        for key in ([item] if len(item) > 1 and item.isidentifier() and not item.islower() or item in NAMED else list(item)):
            char = key if len(key) == 1 else None
            if len(key) == 1 and not key.isalnum():
                key = _character_to_key(key)
            event = events.Key(key, char)
            event.set_sender(app)
            app._driver.send_message(event)


NAMED = {"enter", "tab", "shift+tab", "home", "end", "backspace", "ctrl+z", "ctrl+u"}


# ---- 1. no keystroke is lost ---------------------------------------------------------------


@run_async
async def test_typing_right_after_enter_lands_in_the_first_blank(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        burst(app, "enter", "np.mean(q")  # `q` on the list would quit: it belongs to the blank
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LessonScreen)
        assert screen.answers()["loss"] == "np.mean(q"
        assert getattr(screen.focused, "blank_name", None) == "loss"


@run_async
async def test_tab_goes_round_the_blanks_only_and_keys_after_it_land(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        order = screen.blank_order
        seen = []
        for _ in range(len(order)):
            await pilot.press("tab")
            seen.append(getattr(screen.focused, "blank_name", None))
        assert seen == order[1:] + order[:1]  # from the last blank, tab goes back to the first
        for _ in range(2):
            await pilot.press("shift+tab")
        assert screen.focused.blank_name == order[-2]
        # Tab past the last blank, then a burst: every character, and home, in the blank it reached.
        screen.set_focus(screen.slots[order[-1]].editor)
        await pilot.pause()
        burst(app, "tab", "ab", "home", "X")
        await settle(pilot)
        assert screen.answers()[order[0]] == "Xab"


@run_async
async def test_printable_key_with_the_page_focused_goes_to_the_blank_in_use(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await pilot.press("tab")  # dw
        screen.set_focus(screen.query_one("#doc"))
        await pilot.press("2", "*")
        assert screen.answers()["dw"] == "2*"
        assert screen.focused.blank_name == "dw"
        await pilot.press(keys.CHARTS)  # the charts panel (narrow: it replaces the code)
        assert screen.show_charts
        await pilot.press("x")
        assert not screen.show_charts and screen.answers()["dw"] == "2*x"


# ---- 7. editing comfort --------------------------------------------------------------------


@run_async
async def test_undo_and_redo_in_a_blank_also_after_ctrl_u(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        editor = screen.slots["loss"].editor
        await paste(pilot, "np.mean(")
        await pilot.pause()
        await pilot.press("ctrl+u")
        assert editor.value == ""
        await pilot.press("ctrl+z")
        assert editor.value == "np.mean("
        await pilot.press("ctrl+z")
        assert editor.value == ""
        await pilot.press("ctrl+y")
        assert editor.value == "np.mean("
        await pilot.press("ctrl+shift+z")
        assert editor.value == ""
        await pilot.press("ctrl+z", "x")  # typing after an undo drops the redo
        assert editor.value == "np.mean(x"
        await pilot.press("ctrl+y")
        assert editor.value == "np.mean(x"


@run_async
async def test_a_long_answer_shows_its_start_when_it_loses_focus(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        editor = screen.slots["loss"].editor
        await paste(pilot, "np.mean((y - (w * X + b)) ** 2) + 0 * " + "w " * 40)
        await pilot.press("left", "end")
        await settle(pilot)
        assert editor.scroll_offset.x > 0  # typing at its end, the blank shows the end
        await pilot.press("tab")
        await pilot.pause()
        assert editor.scroll_offset.x == 0


@run_async
async def test_block_blank_keeps_indentation_and_dedents(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot, 1)
        editor = screen.slots["predict"].editor
        assert screen.focused is editor
        for ch in "if x:":
            await pilot.press(ch if ch != " " else "space")
        await pilot.press("enter")
        await pilot.press("r")
        await pilot.press("enter")
        await pilot.press("backspace")
        await pilot.press("s")
        assert editor.text == "if x:\n    r\ns"


@run_async
async def test_hints_go_once_the_blank_is_right(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await pilot.press(keys.HINT)
        await pilot.pause()
        assert "Hint" in str(screen.slots["loss"].note.render())
        screen.slots["loss"].set_value(RIGHT["loss"])
        await check(pilot)
        assert screen.results["loss"]["verdict"] == "correct"
        assert not screen.slots["loss"].note.has_class("-shown")


@run_async
async def test_notices_take_their_own_line_and_show_code_as_code(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await pilot.press(keys.REVEAL)  # before any check: "not yet"
        await pilot.pause()
        notice = screen.query_one("#notice", Static)
        assert notice.display and not app.screen.query("Toast")
        text = str(notice.render())
        assert "before asking for a solution" in text and "`" not in text
        # It sits between the page and the status bar: neither is covered.
        doc, status = screen.query_one("#doc"), screen.query_one("#status")
        assert doc.region.bottom <= notice.region.y and notice.region.bottom <= status.region.y


# ---- 4, 5. charts kept; the next lesson ------------------------------------------------------


@run_async
async def test_reopened_lesson_shows_its_charts_without_checking(tmp_path):
    store = store_at(tmp_path)
    app = new_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        for name, text in RIGHT.items():
            screen.slots[name].set_value(text)
        await check(pilot)
        assert screen.passed
    grader = FakeGrader()
    again = new_app(store, grader)
    async with again.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        panel = screen.query_one(ChartsPanel)
        fig = panel.current_figure()
        assert fig is not None and fig.series  # the fit, drawn from the kept run
        assert grader.graded == []  # no check ran


@run_async
async def test_after_done_one_key_opens_the_next_lesson_and_the_list_follows(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        assert not screen.check_action("next_lesson", ())
        for name, text in RIGHT.items():
            screen.slots[name].set_value(text)
        await check(pilot)
        assert screen.check_action("next_lesson", ())
        footer_keys = [b.key for (_w, b, enabled, _t) in app.active_bindings.values() if b.show and enabled]
        assert keys.NEXT_LESSON in footer_keys
        await pilot.press(keys.NEXT_LESSON)
        await settle(pilot)
        assert isinstance(app.screen, LessonScreen) and app.screen.lesson.id == "blocks"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, LessonListScreen)
        assert app.screen.query_one("#lessons", OptionList).highlighted == 1
        assert "1 of 2 lessons done" in str(app.screen.query_one("#app-title", Static).render())


# ---- 6. the status line and long code lines --------------------------------------------------


def test_status_line_shortens_but_keeps_not_yet():
    wrong = ["dw", "db", "learning_rate_update", "y_pred"]
    for width in (78, 58, 40, 30):
        line = status_line(2, 6, wrong, width)
        assert "not yet: `dw`" in line
        assert len(line.replace("`", "")) <= width or width < 32
    assert "^g hint" in status_line(5, 6, ["dw"], 78)


def test_long_code_lines_wrap_under_their_indentation():
    from textual.content import Content

    line = Content("    loss = " + " + ".join(f"term_{i}" for i in range(20)))
    wrapped = CodeLines([line]).wrapped(40)
    assert len(wrapped) > 1 and all(w.cell_length <= 40 for w in wrapped)
    assert all(w.plain.startswith("      ↪ ") for w in wrapped[1:])
    assert "".join([wrapped[0].plain] + [w.plain[len("      ↪ "):] for w in wrapped[1:]]) == line.plain


# ---- help and palette from the bindings ------------------------------------------------------


def test_help_is_read_from_the_bindings(monkeypatch):
    added = keys.key("f9", "check", "Again", help="a key that exists only in this test", title="Test key")
    monkeypatch.setattr(LessonScreen, "BINDINGS", [*LessonScreen.BINDINGS, added])
    rows = dict(help_sections())["Lesson"]
    assert ("f9", "a key that exists only in this test") in rows
    for b in BlankInput.BINDINGS:
        assert any(b.help == what for _k, what in rows)


@run_async
async def test_palette_offers_every_titled_key_and_runs_it(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        commands = {c.title: c for c in app.get_system_commands(screen)}
        for b in keys.commands(LessonScreen.BINDINGS) + keys.commands(ChartsPanel.BINDINGS):
            assert b.title in commands
            assert keys.display(b.key) in commands[b.title].help
        await pilot.press(keys.PALETTE)
        await pilot.pause()
        await pilot.press(*"next blank")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert getattr(app.screen.focused, "blank_name", None) == "dw"


@run_async
async def test_help_screen_lists_the_new_keys(tmp_path):
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_lesson(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.help_text()
        for shown in ("^f", "^z", "once the lesson is done"):
            assert shown in text


# ---- snapshots at 80x24 and 60x20 ------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_lesson_after_a_wrong_check(snap_compare, tmp_path, size):
    async def run_before(pilot):
        screen = await open_lesson(pilot)
        for name, text in {**RIGHT, "dw": "2 * np.mean((y - (w * X + b)) * X)", "db": "0"}.items():
            screen.slots[name].set_value(text)
        await check(pilot)

    assert snap_compare(new_app(store_at(tmp_path)), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_lesson_done_next_key(snap_compare, tmp_path, size):
    async def run_before(pilot):
        screen = await open_lesson(pilot)
        for name, text in RIGHT.items():
            screen.slots[name].set_value(text)
        await check(pilot)
        pilot.app.screen.query_one("#notice").display = False  # the timed notice: not part of the layout

    assert snap_compare(new_app(store_at(tmp_path)), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(60, 20)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_list_narrow(snap_compare, tmp_path, size):
    assert snap_compare(new_app(store_at(tmp_path)), terminal_size=size, run_before=settle)


# ---- the lesson in the learner's own editor (F2), and the hand-in from the palette ------------


@run_async
async def test_editor_key_reads_the_answers_back_and_checks(tmp_path, monkeypatch):
    import contextlib
    import stat
    import sys

    script = tmp_path / "fake-editor"
    # An "editor" that answers `loss` and `dw` in the file it is given, as a learner in vim would.
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "t = p.read_text()\n"
        f"t = t.replace('loss = ???', 'loss = {RIGHT['loss']}', 1).replace('dw = ???', 'dw = {RIGHT['dw']}', 1)\n"
        "p.write_text(t)\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.chdir(tmp_path)
    grader = FakeGrader()
    app = new_app(store_at(tmp_path), grader)
    async with app.run_test(size=(80, 24)) as pilot:
        app.suspend = contextlib.nullcontext  # the headless driver has no terminal to hand over
        screen = await open_lesson(pilot)
        await pilot.press(keys.EDITOR)
        await settle(pilot)
        assert screen.answers()["loss"] == RIGHT["loss"] and screen.answers()["dw"] == RIGHT["dw"]
        assert grader.graded and grader.graded[-1]["dw"] == RIGHT["dw"]  # checked on return
        assert screen.results["loss"]["verdict"] == "correct"
        assert (tmp_path / "line.py").exists()


@run_async
async def test_editor_key_without_an_editor_says_how_to_set_one(tmp_path, monkeypatch):
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_lesson(pilot)
        await pilot.press(keys.EDITOR)
        await pilot.pause()
        assert any("export EDITOR=vim" in message for _t, message in app.notices)


@run_async
async def test_export_from_the_palette_writes_the_hand_in(tmp_path, monkeypatch):
    import tomllib

    monkeypatch.chdir(tmp_path)
    app = new_app(store_at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lesson(pilot)
        await paste(pilot, 'np.mean("q\\\\")')
        await pilot.pause()
        commands = {c.title: c for c in app.get_system_commands(screen)}
        commands["Export answers"].callback()
        await pilot.pause()
        written = tomllib.loads((tmp_path / "line.toml").read_text())
        assert written["loss"] == 'np.mean("q\\\\")'
        assert any(str(tmp_path / "line.toml") in message for _t, message in app.notices)
