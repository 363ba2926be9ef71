"""No escape sequence reaches a terminal: text a learner or a file made is cleaned on its way out.

A learner writes exception messages (`np.pad(..., mode="<ESC>]52;...")` puts their string in
numpy's message), answers files (their keys, their names) and, through the app, what the progress
database keeps; instructors write lesson files. `tutor.safe_text` cleans them, at one boundary per
channel: the CLI prints through `CleanStream` (`tutor.cli.main`), the app draws through the
`SafeCells` line filter. The end-to-end tests run the real `tutor` in a pseudo-terminal and look
at the bytes it wrote there: the hostile sequences must be absent and their printable rest shown.
Temporary files live in a world-readable folder under /tmp, so the file passes as root and as
`nobody` alike.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import random
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
import unicodedata
from pathlib import Path
from typing import Any, Sequence

import pytest

from tutor import safe_text
from tutor.sandbox import wire

ROOT = Path(__file__).resolve().parent.parent
LINE_LESSON = ROOT / "tests" / "fixtures" / "app_lessons" / "010-line.md"

OSC52 = "\x1b]52;c;aGk=\x07"
TITLE = "\x1b]0;pwned\x07"
TITLE_ST = "\x1b]2;pwned\x1b\\"
LEAVE_ALT = "\x1b[?1049l"
CSI8 = "\x9b31m"
DCS = "\x1bPq#0;2;0;0;0\x1b\\"
DCS8 = "\x90q"
OSC8BIT = "\x9d0;pwned\x07"
SEQUENCES = {"osc52": OSC52, "title": TITLE, "title-st": TITLE_ST, "leave-alt": LEAVE_ALT, "csi-8bit": CSI8,
             "dcs": DCS, "dcs-8bit": DCS8, "osc-8bit": OSC8BIT, "csi-color": "\x1b[31m", "two-byte": "\x1bc",
             "apc": "\x1b_hidden\x1b\\", "c0": "\x07\x08\x00\x0b\x0c\x1f", "del": "\x7f", "bare-cr": "\r"}
HOSTILE_BYTES = [b"\x1b]52", b"\x1b]0;pwned", b"\x1b]2;pwned", b"\x1bP", b"\x1b_", b"\xc2\x9b", b"\xc2\x90",
                 b"\xc2\x9d", b"\xe2\x80\xae", b"\xe2\x80\x8b"]


def assert_no_controls(text: str) -> None:
    """No ESC, no C1, no C0 but \\n and \\t, no DEL, no bidi or zero-width character, no lone surrogate."""
    bad = [hex(ord(c)) for c in text
           if (unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t")
           or c in "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"]
    assert not bad, (bad, text[:200])


# ---- safe_text.clean and safe_text.cells ------------------------------------------------------


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_clean_removes_each_family_of_sequence_and_control(name: str) -> None:
    out = safe_text.clean(f"before {SEQUENCES[name]}after\n\tindented")
    assert_no_controls(out)
    assert out.startswith("before ") and out.endswith("after\n\tindented")


def test_clean_removes_sequences_whole_and_shows_invisible_characters() -> None:
    assert safe_text.clean(f"a{OSC52}b{TITLE}c{TITLE_ST}d{LEAVE_ALT}e{CSI8}f{DCS}g") == "abcdefg"
    assert safe_text.clean("a\x90qb") == "aqb"  # an 8-bit DCS loses its introducer: its payload is plain text
    assert safe_text.clean("x = 1\u202e // evil\u2066") == "x = 1<U+202E> // evil<U+2066>"
    assert safe_text.clean("zero\u200bwidth\ufeff") == "zero<U+200B>width<U+FEFF>"
    assert safe_text.clean("bad byte \udc9b") == "bad byte <U+DC9B>"  # what a non-UTF-8 file name decodes to
    assert safe_text.clean("progress 10%\rprogress 100%\r\nok\n") == "progress 10%progress 100%\nok\n"
    text = "epoch 1: loss=0.25 ✓ — ünïcode\n\tindented, 日本語, emoji 🎉\n"
    assert safe_text.clean(text) == text


def test_clean_agrees_with_the_sandbox_scrub_of_program_output() -> None:
    """One grammar: a program's output (wire.clean_output) and a message (safe_text) lose the same sequences."""
    alphabet = ["\x1b", "[", "]", "P", "X", "^", "_", "\\", "\x07", "\x9b", "\x9c", "\x90", "\x9d", "\r", "\n", "\t",
                "\x00", "\x7f", ";", "0", "1", "?", " ", "!", "/", "m", "l", "a", "é"]
    rng = random.Random(10)
    for _ in range(3000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert safe_text.clean(raw) == wire.clean_output(raw), repr(raw)
    for raw in SEQUENCES.values():
        assert safe_text.clean(raw) == wire.clean_output(raw)


def test_every_control_and_invisible_format_character_is_handled() -> None:
    """Keeps the tables honest against this Python's Unicode data (and rich's widths, which the app uses)."""
    from rich.cells import cell_len

    for cp in range(0x110000):
        c = chr(cp)
        category = unicodedata.category(c)
        invisible = category == "Cs" or (category in ("Cf", "Zl", "Zp") and cell_len(c) == 0)
        if category == "Cc" and c not in "\n\t":
            assert safe_text.clean(f"a{c}\n") == "a\n", hex(cp)  # (ESC b would be a two-byte escape)
        elif invisible:
            assert safe_text.clean(c) == f"<U+{cp:04X}>", hex(cp)
        else:
            continue
        drawn = safe_text.cells(f"a{c}b")
        kept = f"a{c}b" if c == "\u200d" else None  # a joiner joins for the layout: dropping it would widen the line
        assert drawn in ("ab", "a\ufffdb", kept) and cell_len(drawn) == cell_len(f"a{c}b"), hex(cp)


def test_cells_keeps_the_width_of_a_drawn_line() -> None:
    from rich.cells import cell_len

    line = f"msg {OSC52}{TITLE}{CSI8}{DCS8}\u202eend  日本"
    drawn = safe_text.cells(line)
    assert_no_controls(drawn)
    assert cell_len(drawn) == cell_len(line)
    assert drawn == "msg ]52;c;aGk=]0;pwned31mqend  日本"
    plain = "nothing to clean ✓"
    assert safe_text.cells(plain) is plain


@pytest.mark.parametrize("raw", [
    "\x1b[" + "1" * 1_000_000,            # a CSI that never ends
    "\x1b]" + "a" * 1_000_000,            # an OSC with no terminator
    "\x1bP" + "q" * 1_000_000,            # a DCS with no terminator
    "\x9b" + "2;" * 500_000,              # an 8-bit CSI that never ends
    ("\x1b]" + "x" * 999) * 1000,         # many unterminated OSCs
    "\x1b[" * 500_000,
    "\u202e" * 200_000 + "\x1b" * 500_000,
], ids=["csi", "osc", "dcs", "csi8", "many-osc", "many-csi", "bidi-esc"])
def test_hostile_megabytes_are_cleaned_in_one_pass(raw: str) -> None:
    """A backtracking pattern would not return from these (no clock is read: it would hang the test)."""
    out = safe_text.clean(raw)
    assert_no_controls(out)
    assert_no_controls(safe_text.cells(raw))


def test_a_clean_stream_cleans_each_write_and_passes_the_rest_through() -> None:
    import io

    target = io.StringIO()
    stream = safe_text.CleanStream(target)
    assert stream.write(f"x{TITLE}y\n") == len(f"x{TITLE}y\n")
    stream.write("\x1b")  # a sequence split over two writes: nothing of it is obeyed
    stream.write("]0;pwned\x07z\n")
    stream.flush()
    assert target.getvalue() == "xy\n]0;pwnedz\n"
    with safe_text.cleaned_output():
        assert isinstance(sys.stdout, safe_text.CleanStream) and isinstance(sys.stderr, safe_text.CleanStream)
    assert not isinstance(sys.stdout, safe_text.CleanStream)


def test_json_lines_are_printable_ascii_that_the_cleaner_leaves_alone() -> None:
    from tutor.cli import _json

    value = {"message": f"{OSC52}{CSI8}\u202e\x7f\udc9b é", OSC52: 1}
    line = _json(value)
    assert all(" " <= c <= "~" for c in line)
    assert safe_text.clean(line) == line
    assert json.loads(line) == value


# ---- the CLI in a pseudo-terminal ---------------------------------------------------------------


@pytest.fixture
def world_dir():
    """A folder under /tmp that any user can read (the suite also runs as `nobody`)."""
    path = Path(tempfile.mkdtemp(prefix="tutor-term-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def in_pty(args: list[str], *, env: dict[str, str] | None = None,
           steps: Sequence[tuple[bytes, bytes]] = (), limit: float = 180) -> bytes:
    """Run `python -m tutor ARGS` on a fresh 80x24 pseudo-terminal; every byte it wrote there.

    `steps` are (text seen, keys to send) pairs, in order. `limit` only stops a run that hangs.
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24", **(env or {})}
    full_env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "tutor", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=ROOT, env=full_env, start_new_session=True, close_fds=True)
    os.close(slave)
    data = bytearray()
    pending = list(steps)
    end = time.monotonic() + limit
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the program ended and closed the terminal
                    break
                if not chunk:
                    break
                data += chunk
            while pending and pending[0][0] in data:
                os.write(master, pending.pop(0)[1])
            if not ready and proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        os.close(master)
    return bytes(data)


def assert_nothing_hostile(data: bytes) -> str:
    for sequence in HOSTILE_BYTES:
        assert sequence not in data, (sequence, data[-3000:])
    text = data.decode("utf-8", "surrogateescape")
    c1 = sorted({hex(ord(c)) for c in text if 0x80 <= ord(c) <= 0x9f or 0xdc80 <= ord(c) <= 0xdcff})
    assert not c1, c1  # no 8-bit control, no stray byte (a lone surrogate written with surrogateescape)
    return text


def hostile_lesson(folder: Path) -> Path:
    """The fixture line lesson, its title, a step title, its prose and a hint carrying escapes."""
    text = LINE_LESSON.read_text(encoding="utf-8")
    text = text.replace('title = "A line by gradient descent"',
                        'title = "Line \\u001b]0;pwned\\u0007\\u009b31m\\u202eTITLEMARK"')
    text = text.replace("## Train", f"## Train {OSC52}STEPMARK")
    text = text.replace("Fit `w * x + b`", f"Fit {TITLE_ST}PROSEMARK `w * x + b`")
    text = text.replace('hints = ["Like dw, without the X."]', 'hints = ["Like dw \\u001bPq\\u001b\\\\HINTMARK"]')
    path = folder / "lessons" / "010-line.md"
    path.parent.mkdir(mode=0o755)
    path.write_text(text, encoding="utf-8")
    return path.parent


def test_grade_prints_no_escape_from_an_answers_file_its_name_or_an_exception(world_dir):
    lessons = hostile_lesson(world_dir)
    answers = world_dir / f"alice{TITLE}{CSI8}NAMEMARK.toml"
    answers.write_text(
        # the learner's string ends up raw in numpy's message: `mode '...' is not supported`
        "loss = '''np.mean((y - (w * X + b)) ** 2) + np.pad(np.ones(1), 1,"
        " mode=\"\\x1b]52;c;aGk=\\x07\\x1b]0;pwned\\x07\\x9b31m\\x90q\\u202eEXCMARK\")'''\n"
        '"\\u001b]2;pwned\\u001b\\\\key\\u001b[?1049lKEYMARK" = "1"\n',
        encoding="utf-8")
    data = in_pty(["grade", "--lessons", str(lessons), "line", "--answers", str(answers)])
    text = assert_nothing_hostile(data)
    assert b"\x1b[?1049" not in data and b"\x1b" not in data  # the CLI prints no escape of its own
    for marker in ("NAMEMARK", "KEYMARK", "EXCMARK", "<U+202E>EXCMARK"):
        assert marker in text, (marker, text)


def test_a_line_break_in_a_name_or_key_cannot_forge_a_line(world_dir, capsys):
    """A key, a file name or a message holding a line break stays on its own line: no fake verdict."""
    from tutor import cli

    forged = "\n  ✓ dw\n"
    path = Path(world_dir) / ("answers" + forged.replace("\n", "\n") + ".toml")
    try:
        path.write_text('"loss\\n  ✓ dw\\n" = "1"\ndw = "2 * np.mean((y - (w * X + b)) * X)"\n')  # TOML escapes
    except OSError:
        pytest.skip("this file system refuses a line break in a file name")
    rc = cli.main(["grade", "linreg-numpy", "--answers", str(path)])
    out = capsys.readouterr()
    lines = (out.out + out.err).splitlines()
    assert rc in (1, 2)
    assert not [l for l in lines if l.strip() == "✓ dw"], lines
    assert any(l.lstrip().startswith("✗ dw") for l in lines), lines  # the real verdict is there
    assert safe_text.one_line("a\nb\r\nc") == "a\\nb\\nc"


def test_grade_json_stays_exact_escaped_json(world_dir):
    lessons = hostile_lesson(world_dir)
    answers = world_dir / "bob.toml"
    answers.write_text("loss = '''np.pad(np.ones(1), 1, mode=\"\\x1b]52;c;aGk=\\x07\\x7f\\u202eEXCMARK\")'''\n",
                       encoding="utf-8")
    data = in_pty(["grade", "--lessons", str(lessons), "line", "--answers", str(answers), "--json"])
    assert_nothing_hostile(data)
    assert b"\x1b" not in data and b"\x7f" not in data
    (line,) = [l for l in data.decode("ascii").splitlines() if l.startswith("{")]
    message = json.loads(line)["blanks"]["loss"]["message"]
    assert "mode '\x1b]52;c;aGk=\x07\x7f\u202eEXCMARK' is not supported" in message  # the data, untouched


def test_list_show_and_lesson_problems_print_no_escape_from_lesson_files(world_dir):
    lessons = hostile_lesson(world_dir)
    listed = assert_nothing_hostile(in_pty(["list", "--lessons", str(lessons)]))
    assert "<U+202E>TITLEMARK" in listed
    shown = assert_nothing_hostile(in_pty(["show", "--lessons", str(lessons), "line"]))
    assert "TITLEMARK" in shown and "STEPMARK" in shown
    broken = world_dir / "broken"
    broken.mkdir(mode=0o755)
    (broken / f"020-{TITLE}{OSC52}FILEMARK.md").write_text('+++\nid = "x"\n+++\n', encoding="utf-8")
    data = in_pty(["list", "--lessons", str(broken)])
    assert b"\x1b" not in data
    assert "FILEMARK.md:1:1:" in assert_nothing_hostile(data)


# ---- the app ----------------------------------------------------------------------------------

MESSAGE = f"`loss` raised ValueError: {OSC52}{TITLE}{LEAVE_ALT}LEAVEMARK {CSI8}{DCS8}{DCS}\u202eMSGMARK"
ANSWER = f"np.mean(y){TITLE}{OSC52}ANSMARK"


def hostile_store(folder: Path) -> Path:
    """A progress database, written through tutor.progress, holding a hostile answer and message."""
    from tutor.progress import ProgressStore

    home = folder / "home"
    home.mkdir(mode=0o755)
    with ProgressStore.open(home / "progress.sqlite3") as store:
        store.record_attempt("line", {"loss": ANSWER},
                             {"loss": {"verdict": "error", "diagnosis": "runtime_error", "message": MESSAGE}},
                             state={"focus": "loss"})
        store.mark_opened("line")
    return home


class HostileGrader:
    """A grader whose report carries escapes in a sentence, a hint, a note and the program's output."""

    def grade(self, lesson: Any, answers: dict[str, str], cancelled: Any = None, on_output: Any = None) -> Any:
        from tutor.grading.grader import BlankResult, GradeReport
        from tutor.sandbox.results import RunResult

        results = {name: BlankResult(name, blank.kind, blank.step, "incorrect", "wrong_value",
                                     f"`{name}` is off {OSC52}{TITLE}\u202eVERDICTMARK",
                                     hint=f"try {DCS}{CSI8}HINTMARK2")
                   for name, blank in lesson.blanks.items()}
        run = RunResult("ok", stdout=f"epoch 1 {TITLE}{LEAVE_ALT}\x9b2JOUTMARK\n")
        report = GradeReport(lesson.id, results, learner_run=run)
        report.notes.append(f"note {OSC52}NOTEMARK")
        return report


def screen_text(app: Any) -> str:
    """What the app draws right now (its SVG screenshot, made from the lines it sends a terminal)."""
    return app.export_screenshot().replace("&#160;", " ")


def test_the_app_draws_no_escape_from_lessons_reports_output_or_the_database(world_dir):
    from tutor.app.app import make_app
    from tutor.app.screens.lesson import LessonScreen
    from tutor.progress import ProgressStore

    lessons = hostile_lesson(world_dir)
    home = hostile_store(world_dir)

    async def flow() -> list[str]:
        store = ProgressStore.open(home / "progress.sqlite3")
        grader = HostileGrader()
        app = make_app(lessons, store, grader_factory=lambda _lessons: grader, cursor_blink=False, theme="textual-dark")
        app.animation_level = "none"
        seen = []
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            seen.append(screen_text(app))  # the list: the lesson's title
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, LessonScreen)
            assert screen.slots["loss"].value == ANSWER  # what is graded is what was stored
            seen.append(screen_text(app))  # the restored answer and message
            await pilot.press("ctrl+r")
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen.set_focus(screen.slots["db"].editor)
            await pilot.pause()
            seen.append(screen_text(app))  # a sentence, a hint, a toast
            await pilot.press("ctrl+o")
            await pilot.pause()
            seen.append(screen_text(app))  # the summary with the note, the program's output
        store.close()
        return seen

    shots = asyncio.run(flow())
    for shot in shots:
        assert_no_controls(shot)
    everything = "\n".join(shots)
    for marker in ("TITLEMARK", "ANSMARK", "MSGMARK", "[?1049lLEAVEMARK", "VERDICTMARK", "HINTMARK", "OUTMARK", "NOTEMARK"):
        assert marker in everything, marker


def test_the_real_app_in_a_terminal_writes_no_hostile_sequence(world_dir):
    """`tutor` itself on a pseudo-terminal, over a database holding a hostile answer and message."""
    lessons = hostile_lesson(world_dir)
    home = hostile_store(world_dir)
    data = in_pty(["--lessons", str(lessons)], env={"TUTOR_HOME": str(home)},
                  steps=[(b"TITLEMARK", b"\r"), (b"MSGMARK", b""), (b"ANSMARK", b"\x11")])
    assert b"MSGMARK" in data and b"ANSMARK" in data, data[-3000:]  # the lesson was on screen
    text = assert_nothing_hostile(data)
    assert "\x1b[?1049lLEAVEMARK" not in text and "[?1049lLEAVEMARK" in text


def test_the_app_filter_cleans_text_and_link_targets_and_leaves_clean_lines_as_they_are() -> None:
    from rich.segment import Segment
    from rich.style import Style
    from textual.color import Color

    from tutor.app.app import SafeCells

    plain = [Segment("loss = ", Style(bold=True)), Segment(""), Segment("✓ right", None)]
    assert SafeCells().apply(plain, Color(0, 0, 0)) == plain
    link = Style(link=f"https://example.org/{TITLE}", bold=True)
    hostile = [Segment(f"see {OSC52}here", link), Segment("\x1b[2J", None, [(1,)])]
    text, control = SafeCells().apply(hostile, Color(0, 0, 0))
    assert text.text == "see ]52;c;aGk=here" and not text.style.link and text.style.bold
    assert control == hostile[1]  # Textual's own control segments pass as they are


# tests/test_attacks.py collects this module's tests and fixtures (and re-runs them as `nobody`).
__all__ = [n for n, v in dict(globals()).items() if n.startswith("test_") or hasattr(v, "_fixture_function_marker")]
