"""Hostile files: one bad answers file or lesson file never stops a batch.

`tutor grade` over many answers files grades every readable one whatever the others hold (TOML nested
thousands deep, a dotted key of 50,000 parts, an answer of 100,000 terms, a link to /dev/zero, a
FIFO, a link loop, a folder, a 100 MB file, invalid UTF-8, NUL bytes): each bad file gets its own
`tutor: FILE: ...` line (and with --json its own `{"answers", "error"}` line in its place) and the
exit status is 2. A lesson folder holding the same kinds of entries lists its good lesson and
reports each bad one as a lesson problem, in `tutor list`, `tutor check`, `tutor grade` and the app.

Self-contained (fixtures and imports of its own); files are made readable by others so the tests
pass as root and as an unprivileged user. Subprocess timeouts only guard against hangs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from tutor.grading.grader import ANSWER_MAX_CHARS, static_check
from tutor.lesson import LessonError, find_lesson, load_lessons, read_lessons
from tutor.lesson.files import LESSON_FILE_LIMIT, RefusedFile, read_limited, toml_shape_problem
from tutor.paths import builtin_lessons_dir

REPO = Path(__file__).resolve().parent.parent
LESSON_ID = "linreg-numpy"
HANG_GUARD = 300  # seconds: a hang fails the test; no assertion is made on time


def tutor(*args: str, timeout: float = HANG_GUARD) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tutor", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def toml_line(key: str, value: str) -> str:
    return f"{key} = {json.dumps(value)}\n"


@pytest.fixture()
def folder() -> Iterator[Path]:
    """A fresh folder others can read (an unprivileged rerun shares nothing with root's)."""
    path = Path(tempfile.mkdtemp(prefix="tutor-files-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def readable(path: Path) -> Path:
    if path.is_file() and not path.is_symlink():
        os.chmod(path, 0o644)
    return path


def make_fifo(path: Path) -> bool:
    try:
        os.mkfifo(path, 0o644)
    except (OSError, AttributeError, NotImplementedError):
        return False
    return True


def make_socket(path: Path) -> socket.socket | None:
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
    except (OSError, AttributeError):
        return None
    return sock


def make_hostile(folder: Path, suffix: str, nested_text: str, keep: list[Any]) -> list[Path]:
    """The hostile entries every batch must survive, named `*{suffix}`; the FIFO and the socket
    only where this system lets us make them."""
    made: list[Path] = []

    def add(name: str) -> Path:
        path = folder / f"{name}{suffix}"
        made.append(path)
        return path

    deep = add("deep")
    deep.write_text(nested_text, encoding="utf-8")
    readable(deep)
    dotted = add("dotted")
    dotted.write_text("a" + ".a" * 50_000 + " = 1\n", encoding="utf-8")
    readable(dotted)
    os.symlink("/dev/zero", add("zero"))
    loop_a, loop_b = add("loop-a"), add("loop-b")
    os.symlink(loop_b.name, loop_a)
    os.symlink(loop_a.name, loop_b)
    os.symlink(folder / "no-such-file", add("dangling"))
    directory = add("folder")
    directory.mkdir()
    os.chmod(directory, 0o755)
    big = add("big")
    with open(big, "wb") as f:  # 100 MB, sparse: its size alone must refuse it
        f.truncate(100 * 1024 * 1024)
    readable(big)
    grown = add("grown")  # just over the cap, with real bytes in it
    grown.write_bytes(b"# " + b"x" * LESSON_FILE_LIMIT + b"\n")
    readable(grown)
    utf = add("not-utf8")
    utf.write_bytes(b'loss = "np.mean(\xff\xfe)"\n')
    readable(utf)
    nul = add("nul")
    nul.write_bytes(b'loss = "np.mean(y)"\x00\ndw = "\x00"\n')
    readable(nul)
    fifo = folder / f"fifo{suffix}"
    if make_fifo(fifo):
        made.append(fifo)
    sock = make_socket(folder / f"sock{suffix}")
    if sock is not None:
        keep.append(sock)
        made.append(folder / f"sock{suffix}")
    return made


# ---- the reader ---------------------------------------------------------------------------------


def test_the_reader_refuses_what_is_not_a_small_regular_file(folder: Path) -> None:
    keep: list[Any] = []
    hostile = make_hostile(folder, ".toml", "a = " + "[" * 5000 + "]" * 5000 + "\n", keep)
    good = readable(folder / "good.toml")
    good.write_text('loss = "x"\n', encoding="utf-8")
    link = folder / "link.toml"
    os.symlink(good.name, link)  # a link to a regular file is read
    assert read_limited(good, 100) == read_limited(link, 100) == b'loss = "x"\n'
    kinds = {}
    for path in hostile:
        try:
            read_limited(path, LESSON_FILE_LIMIT)
        except RefusedFile as exc:
            kinds[path.name] = exc.kind
    assert kinds["zero.toml"] == "special" and kinds["folder.toml"] == "special"
    assert kinds["loop-a.toml"] == kinds["dangling.toml"] == "link"
    assert kinds["big.toml"] == kinds["grown.toml"] == "large"
    if (folder / "fifo.toml").exists():
        assert kinds["fifo.toml"] == "special"
    with pytest.raises(RefusedFile):
        read_limited(good, 5)
    for sock in keep:
        sock.close()


def test_toml_shape_precheck_finds_deep_nesting_and_long_keys_but_not_strings() -> None:
    assert toml_shape_problem("a = " + "[" * 5000 + "]" * 5000) is not None
    assert toml_shape_problem("a = " + "{b = " * 5000 + "1" + "}" * 5000) is not None
    assert toml_shape_problem("a" + ".a" * 50_000 + " = 1") is not None
    line, col, phrase = toml_shape_problem('x = 1\n[t' + ".t" * 200 + "]\n")
    assert line == 2 and "dotted key" in phrase
    fine = 'a = "[[[[{{{{" # [[[[\nb = \'\'\'\n[[[[.....\n\'\'\'\nc = [1.5, 2.5, [3.5]]\n[d.e]\nf.g = {h = 1}\n'
    assert toml_shape_problem(fine * 30) is None


def test_static_check_turns_a_huge_or_deep_answer_into_a_verdict() -> None:
    lesson = find_lesson(load_lessons(builtin_lessons_dir()), LESSON_ID)
    assert lesson is not None
    blank = lesson.blanks["loss"]
    hostile = {
        "100k terms": "+".join(["1"] * 100_000),
        "4k terms": "+".join(["1"] * 4_000),
        "900 terms": "+".join(["1"] * 900),
        "nested not": "not " * 2_000 + "x",
        "unary": "-" * 9_000 + "1",
        "attributes": "x" + ".a" * 3_000,
        "subscripts": "x" + "[0]" * 2_500,
    }
    for name, text in hostile.items():
        verdict = static_check(lesson, blank, text)
        assert verdict is not None, name
        assert (verdict.verdict, verdict.diagnosis) == ("error", "syntax_error"), name
        assert "too long or nested too deeply" in verdict.message, name
    assert "more than 10,000" in static_check(lesson, blank, "1+" * ANSWER_MAX_CHARS + "1").message
    nul = static_check(lesson, blank, "np.mean(\x00)")  # a TOML "\u0000" in an answer
    assert nul is not None and nul.diagnosis == "syntax_error"
    assert static_check(lesson, blank, lesson.blanks["loss"].answer) is None
    assert static_check(lesson, blank, "+".join(["1"] * 50)) is None


# ---- a batch of answers files ---------------------------------------------------------------------


def test_grade_survives_every_hostile_answers_file(folder: Path) -> None:
    lessons = load_lessons(builtin_lessons_dir())
    lesson = find_lesson(lessons, LESSON_ID)
    assert lesson is not None
    right = lesson.reference_answers()
    good = readable(folder / "1-good.toml")
    good.write_text("".join(toml_line(k, v) for k, v in right.items()), encoding="utf-8")
    terms = readable(folder / "2-terms.toml")  # readable TOML: graded, with the loss refused in its verdict
    terms.write_text("".join(toml_line(k, "+".join(["1"] * 100_000) if k == "loss" else v) for k, v in right.items()),
                     encoding="utf-8")
    deep_answer = readable(folder / "3-deep-answer.toml")
    deep_answer.write_text("".join(toml_line(k, "not " * 2_000 + "X" if k == "dw" else v) for k, v in right.items()),
                           encoding="utf-8")
    keep: list[Any] = []
    hostile = make_hostile(folder, ".toml", "loss = " + "[" * 5000 + "]" * 5000 + "\n", keep)
    last = readable(folder / "9-last.toml")
    last.write_text(good.read_text(encoding="utf-8").replace('dw = "-2', 'dw = "2'), encoding="utf-8")
    order = [good, hostile[0], terms, *hostile[1:4], deep_answer, *hostile[4:], last]
    try:
        out = tutor("grade", LESSON_ID, "--answers", *map(str, order), "--json")
    finally:
        for sock in keep:
            sock.close()
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["answers"] for line in lines] == [str(p) for p in order]  # every file, in input order
    by_path = {line["answers"]: line for line in lines}
    assert by_path[str(good)]["passed"] is True
    assert by_path[str(last)]["passed"] is False
    assert by_path[str(last)]["blanks"]["dw"]["diagnosis"] == "sign_flipped"
    for path, blank in ((terms, "loss"), (deep_answer, "dw")):
        result = by_path[str(path)]
        assert result["passed"] is False and "error" not in result
        assert result["blanks"][blank]["diagnosis"] == "syntax_error"
        assert "too long or nested too deeply" in result["blanks"][blank]["message"]
        assert all(b["verdict"] == "correct" for name, b in result["blanks"].items() if name != blank)
    stderr_lines = out.stderr.splitlines()
    for path in hostile:
        line = by_path[str(path)]
        assert set(line) == {"answers", "error"}, line
        assert isinstance(line["error"], str) and line["error"] and "\n" not in line["error"]
        assert sum(1 for s in stderr_lines if s.startswith(f"tutor: {path}: ")) == 1, (path, out.stderr)
    errors = {Path(k).stem: v["error"] for k, v in by_path.items() if "error" in v}
    assert "nested more than 50 levels" in errors["deep"]
    assert "more than 100 parts" in errors["dotted"]
    assert "device" in errors["zero"] and "loop" in errors["loop-a"] and "does not exist" in errors["dangling"]
    assert "folder" in errors["folder"] and "larger than 1 MiB" in errors["big"] and "larger than 1 MiB" in errors["grown"]
    assert "not UTF-8" in errors["not-utf8"] and "not valid TOML" in errors["nul"]
    if "fifo" in errors:
        assert "named pipe" in errors["fifo"]


def test_grade_text_output_keeps_going_after_a_bad_file(folder: Path) -> None:
    lesson = find_lesson(load_lessons(builtin_lessons_dir()), LESSON_ID)
    assert lesson is not None
    good = readable(folder / "good.toml")
    good.write_text("".join(toml_line(k, v) for k, v in lesson.reference_answers().items()), encoding="utf-8")
    deep = readable(folder / "deep.toml")
    deep.write_text("a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n", encoding="utf-8")
    zero = folder / "zero.toml"
    os.symlink("/dev/zero", zero)
    out = tutor("grade", LESSON_ID, "--answers", str(deep), str(zero), str(good))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert f"{LESSON_ID}  {good}  passed: 6/6 blanks right" in out.stdout
    assert f"tutor: {deep}: the answers file cannot be read at line 1" in out.stderr
    assert f"tutor: {zero}: cannot read the answers file: it is a device" in out.stderr


# ---- a lesson folder ------------------------------------------------------------------------------


def hostile_lessons(folder: Path, keep: list[Any]) -> list[Path]:
    """The good built-in lesson and every kind of bad entry named `*.md`; the bad ones, returned."""
    shutil.copyfile(builtin_lessons_dir() / "010-linreg-numpy.md", folder / "010-linreg-numpy.md")
    readable(folder / "010-linreg-numpy.md")
    program = "\n## S\n\n```python\nx = {{x: 1}}\n```\n"
    header = '+++\nid = "deep"\ntitle = "Deep"\nx = ' + "[" * 5000 + "]" * 5000 + "\n+++\n" + program
    bad = make_hostile(folder, ".md", header, keep)
    check = readable(folder / "deep-check.md")
    check.write_text('+++\nid = "deep-check"\ntitle = "D"\n+++\n' + program
                     + "\n```toml check\n[compare]\nx = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n```\n", encoding="utf-8")
    code = readable(folder / "deep-code.md")
    code.write_text('+++\nid = "deep-code"\ntitle = "D"\n+++\n\n## S\n\n```python\nx = {{x: '
                    + "+".join(["1"] * 20_000) + "}}\n```\n", encoding="utf-8")
    return [*bad, check, code]


def test_list_check_and_grade_report_each_bad_lesson_and_keep_the_good_one(folder: Path) -> None:
    keep: list[Any] = []
    bad = hostile_lessons(folder, keep)
    try:
        lessons, problems = read_lessons(folder)
        assert [l.id for l in lessons] == [LESSON_ID]
        with pytest.raises(LessonError):
            load_lessons(folder)
        out = tutor("list", "--lessons", str(folder), timeout=120)
        as_json = tutor("list", "--json", "--lessons", str(folder), timeout=120)
        check = tutor("check", str(folder), timeout=120)
        grade = tutor("grade", LESSON_ID, "--lessons", str(folder), "--answers", str(folder / "none.toml"), timeout=120)
    finally:
        for sock in keep:
            sock.close()
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stdout.split()[0] == LESSON_ID
    assert [d["id"] for d in json.loads(as_json.stdout)] == [LESSON_ID] and as_json.returncode == 2
    for path in bad:
        assert any(line.startswith(f"{path}:") for line in out.stderr.splitlines()), (path, out.stderr)
        assert f"{path}:" in check.stderr and f"{path}:" in grade.stderr
    assert f"{folder / 'deep.md'}:4:" in out.stderr  # the header's place, line and column
    assert check.returncode == 2 and "nothing was run" in check.stderr and "Traceback" not in check.stderr
    assert grade.returncode == 2 and "Traceback" not in grade.stderr
    assert len([p for p in problems if p.location.path == str(folder / "nul.md")]) >= 1


def test_the_app_lists_a_hostile_folder_and_ends_with_its_problems(folder: Path) -> None:
    from tutor.app.app import make_app
    from tutor.app.catalog import quick_index
    from tutor.progress import ProgressStore

    keep: list[Any] = []
    bad = hostile_lessons(folder, keep)
    try:
        entries = quick_index(folder)  # the first paint reads headers only: a deep one must not raise
        assert entries[0].id == LESSON_ID and len(entries) == 1 + len(bad)

        class NoGrader:
            def close(self) -> None:
                pass

        store = ProgressStore.open(folder / "progress.sqlite3")
        app = make_app(folder, store, grader_factory=lambda _lessons: NoGrader(), cursor_blink=False, theme="textual-dark")
        app.animation_level = "none"

        async def run() -> None:
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                await pilot.app.workers.wait_for_complete()
                await pilot.pause()

        asyncio.run(run())
        store.close()
    finally:
        for sock in keep:
            sock.close()
    assert app.return_code == 2
    for path in bad:
        assert any(p.startswith(f"{path}:") for p in app.lesson_problems), path


# tests/test_attacks.py collects this module's tests and fixtures (and re-runs them as `nobody`).
__all__ = [n for n, v in dict(globals()).items() if n.startswith("test_") or hasattr(v, "_fixture_function_marker")]
