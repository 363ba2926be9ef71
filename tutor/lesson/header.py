"""A lesson file as text, and its `+++` header: read, split from the body, checked.

The parser and the app's quick list (tutor/app/catalog.py) both read headers here, so the list that
is drawn before the full parse finds the same header the parser does.

Decisions:

- A lesson file is read through `files.read_limited` (a regular file of at most 1 MiB: a folder, a
  pipe, a device, a looping or dangling link is a problem at line 1 saying what it is and what to
  do, never a hang) and must be UTF-8.
- Line endings `\\r\\n` and `\\r` count as `\\n`, and a leading byte-order mark is ignored.
- The header is the TOML between a first line `+++` and the next line `+++`. Its keys are
  `HEADER_KEYS`; `seed` is a whole number from 0 to 2**32 - 1 (what numpy accepts), `timeout` a
  number of seconds above 0. `data` is a table of NAME = "FILE" (an instructor's own data: the
  names and paths are checked here, the files read by the parser through data.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Callable
from typing import Any, NamedTuple

from .data import name_problem, path_problem
from .files import LESSON_FILE_LIMIT, RefusedFile, read_limited
from .model import FRAMEWORK_NAMES, Report
from .toml_section import find_line, is_number, load_toml, show

HEADER_KEYS: tuple[str, ...] = ("id", "title", "framework", "datasets", "timeout", "seed", "data")

_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_SEED_MAX = 2**32 - 1

# Reports a wrong header setting: its key (for its line) and the sentence.
_Bad = Callable[[str, str], None]

_REFUSED_REMEDY = {
    "special": "a lesson is a Markdown text file: remove it, or rename it so that its name does not end in .md",
    "link": "fix the link or remove it",
    "large": "split it into several lessons",
    "os": "check its path and its permissions",
}


def read_lesson_text(path: Path) -> tuple[str | None, str | None]:
    """The text of a lesson file, or None and the sentence (for line 1) saying why it cannot be used."""
    try:
        data = read_limited(path, LESSON_FILE_LIMIT)
    except RefusedFile as exc:
        return None, f"the file cannot be read: {exc.reason}: {_REFUSED_REMEDY[exc.kind]}"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        return None, (
            f"the file is not UTF-8 text (the first bad character is on line {bad_line}):"
            " save it as UTF-8 in your editor"
        )


def lesson_lines(text: str) -> list[str]:
    """The lines of a lesson text, as every place in the parser counts them (1-based: index + 1)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.split("\n")


class HeaderSplit(NamedTuple):
    """Where the header is: its TOML lines (None when there is no closed header), the index of the
    body's first line, and the sentence (for line 1) when there is no closed header."""

    lines: list[str] | None
    body_start: int
    problem: str | None = None
    unclosed: bool = False  # the header ran to the end of the file: there is no body


def split_header(lines: list[str]) -> HeaderSplit:
    """Split a lesson's lines into the header's TOML lines and the body."""
    if not lines or lines[0].strip() != "+++":
        return HeaderSplit(
            None,
            0,
            "the file must start with a header: a line `+++`, then lines like id = \"my-lesson\""
            ' and title = "My lesson", then another `+++` line',
        )
    for j in range(1, len(lines)):
        if lines[j].strip() == "+++":
            return HeaderSplit(lines[1:j], j + 1)
    return HeaderSplit(
        None,
        len(lines),
        "the header that starts at line 1 with `+++` is never closed: add a line `+++` after it",
        unclosed=True,
    )


def quick_header(path: Path) -> dict[str, Any]:
    """A lesson file's header values, or {} for a file or header that cannot be read (the full parse
    says why). Bytes that are not UTF-8 are replaced: the app's list only needs the id and title."""
    try:
        text = read_limited(path, LESSON_FILE_LIMIT).decode("utf-8", errors="replace")
    except RefusedFile:
        return {}
    split = split_header(lesson_lines(text))
    if split.lines is None:
        return {}
    return load_toml(split.lines, 2, split.body_start, "the header", lambda line, col, message: None) or {}


def check_header(data: dict[str, Any], lines: list[str], report: Report) -> tuple[dict[str, Any] | None, int]:
    """The header's settings with their defaults (None when one is wrong, after reporting it), and
    the file line of its `id` (1 when there is none). `lines` are its TOML lines, from file line 2."""
    ok = True

    def line_of(key: str) -> int:
        if key.startswith("data."):  # an entry of `data`: its own line, in a [data] table or inline
            return data_line(lines, key[len("data."):])
        return find_line(lines, 2, (), key)

    def bad(key: str, message: str) -> None:
        nonlocal ok
        ok = False
        report(line_of(key), 1, message)

    for key in data:
        if key not in HEADER_KEYS:
            bad(
                key,
                f"unknown header key `{key}`: the header may only set {', '.join(HEADER_KEYS[:-1])}"
                f" and {HEADER_KEYS[-1]}",
            )
    out: dict[str, Any] = {}
    id_line = 1
    if "id" not in data:
        ok = False
        report(1, 1, 'the header is missing `id`: add a line like id = "my-lesson"')
    else:
        id_line = line_of("id")
        value = data["id"]
        if not isinstance(value, str) or not _ID_RE.fullmatch(value):
            bad(
                "id",
                f"the id {show(value)} may only use lowercase letters, digits and hyphens:"
                ' write it like id = "linreg-numpy"',
            )
        out["id"] = value
    if "title" not in data:
        ok = False
        report(1, 1, 'the header is missing `title`: add a line like title = "Linear regression by hand"')
    else:
        value = data["title"]
        if not isinstance(value, str) or not value.strip():
            bad("title", 'the title must be text in double quotes, like title = "Linear regression by hand"')
        out["title"] = value.strip() if isinstance(value, str) else value
    for key, check in _SETTINGS:
        out[key] = check(data, bad)
    out["data"] = _data(data, bad) if "data" in data else {}
    return (out if ok else None), id_line


def _framework(data: dict[str, Any], bad: _Bad) -> Any:
    framework = data.get("framework", "numpy")
    if framework not in FRAMEWORK_NAMES:
        bad(
            "framework",
            f"the framework {show(framework)} is not known: write framework = \"numpy\" or"
            ' framework = "torch"',
        )
    return framework


def _datasets(data: dict[str, Any], bad: _Bad) -> list[str]:
    datasets = data.get("datasets", [])
    if not isinstance(datasets, list) or not all(isinstance(d, str) and d.strip() for d in datasets):
        bad(
            "datasets",
            f"datasets = {show(datasets)} is not a list of dataset names: write it like"
            ' datasets = ["linear_regression"]',
        )
    return list(datasets) if isinstance(datasets, list) else []


def _timeout(data: dict[str, Any], bad: _Bad) -> float:
    timeout = data.get("timeout", 10)
    if not is_number(timeout) or timeout <= 0:
        bad(
            "timeout",
            f"timeout = {show(timeout)} is not allowed: the timeout is a number of seconds"
            " greater than 0, like timeout = 5",
        )
    return float(timeout) if is_number(timeout) else 10.0


def _seed(data: dict[str, Any], bad: _Bad) -> Any:
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _SEED_MAX:
        bad(
            "seed",
            f"seed = {show(seed)} is not allowed: the seed is a whole number from 0 to"
            f" {_SEED_MAX}, like seed = 0",
        )
    return seed


def data_line(lines: list[str], name: str) -> int:
    """The file line of NAME in the header's `data` (inline or a [data] table); `lines` start at line 2."""
    return find_line(lines, 2, ("data",), name)


def _data(data: dict[str, Any], bad: _Bad) -> dict[str, str]:
    """`data = { NAME = "FILE" }` as written (tutor/lesson/data.py reads the files): NAME -> FILE for
    the entries that may be read."""
    table = data.get("data", {})
    if not isinstance(table, dict) or not table:
        bad("data", f'data = {show(table)} is not a table of names and files: write it like data = {{ iris = "iris.csv" }}')
        return {}
    out: dict[str, str] = {}
    for name, file in table.items():
        if not isinstance(file, str):
            bad(f"data.{name}", f'`{name}` in data is {show(file)}, not a file name: write it like {name} = "{name}.csv"')
            continue
        why = name_problem(name)
        if why is not None:
            bad(f"data.{name}", f"the data name `{name}` {why}: give the data another name, like `iris`")
            continue
        why = path_problem(file)
        if why is not None:
            bad(f"data.{name}", f"the data file {file!r} for `{name}` {why}")
            continue
        out[name] = file
    return out


# The settings that have a default, checked in this order (the order their problems are reported in).
_SETTINGS = (("framework", _framework), ("datasets", _datasets), ("timeout", _timeout), ("seed", _seed))
