"""Reading files and TOML texts that someone else wrote: lesson files, a learner's answers files.

These files come from instructors and learners, and a batch (`tutor grade --answers *.toml`, a lesson
folder) must survive any one of them. So every such file is read here, the same way:

- Only a regular file is read (a symbolic link to one counts). A folder, a named pipe (FIFO), a
  device such as /dev/zero, a socket, a dangling or looping symbolic link is refused with a phrase
  saying what it is. The path is checked with `stat` before it is opened, so a device is never
  opened; it is then opened non-blocking and without becoming a controlling terminal, and the open
  descriptor is checked again, so a file swapped in between is refused too.
- At most `limit` bytes are read: a larger file (or one that grows while it is read) is refused.
  Lesson files are capped at `LESSON_FILE_LIMIT` (1 MiB: the largest built-in lesson is 12 KB).
- A TOML text is looked over in one linear pass before `tomllib` sees it (`toml_shape_problem`):
  `tomllib` recurses once per level of `[`/`{` nesting (a few hundred levels exhaust Python's
  recursion limit) and spends time and memory quadratic in the parts of a dotted key (`a.a.a...`:
  40,000 parts take 6 GB). Nesting deeper than `TOML_MAX_NESTING` or a key of more than
  `TOML_MAX_KEY_PARTS` parts is refused with its place; real headers, check blocks and answers
  files nest two or three levels and use keys of one to three parts.

This module imports nothing of ours, so the lesson parser and the CLI (answers files) share it.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

LESSON_FILE_LIMIT = 1024 * 1024  # bytes: a lesson file larger than this is refused
TOML_MAX_NESTING = 50  # levels of [ and { inside each other in one TOML value
TOML_MAX_KEY_PARTS = 100  # parts of one dotted key (a.b.c has 3)


class RefusedFile(Exception):
    """A file that was not read. `reason` says what it is, as a phrase without the path; `kind` is
    "special" (not a regular file), "link" (a looping or dangling symbolic link), "large" (over the
    limit) or "os" (any other error: missing, no permission), so the caller can name the remedy."""

    def __init__(self, reason: str, kind: str = "os") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is, as a phrase; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "it is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device (like /dev/zero), not a regular file"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a regular file"
    return "it is not a regular file"


def _size(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def _refused(exc: OSError, path: Path) -> RefusedFile:
    """An OSError from stat or open as a refusal with its phrase."""
    if exc.errno == errno.ELOOP:
        return RefusedFile("it is a symbolic link that leads back to itself (a loop)", "link")
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return RefusedFile("it is a symbolic link to a file that does not exist", "link")
    if exc.errno == errno.ENXIO:
        return RefusedFile("it is a socket or a device, not a regular file", "special")
    return RefusedFile((exc.strerror or type(exc).__name__).lower(), "os")


def read_limited(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; RefusedFile (one phrase) for anything else.

    Never blocks on a pipe, never opens a device, never reads more than `limit + 1` bytes.
    """
    path = Path(path)
    try:
        kind = _kind(os.stat(path).st_mode)
    except OSError as exc:
        raise _refused(exc, path) from None
    except ValueError:  # a NUL character in the path
        raise RefusedFile("its name holds a NUL character") from None
    if kind is not None:
        raise RefusedFile(kind, "special")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _refused(exc, path) from None
    try:
        info = os.fstat(fd)
        kind = _kind(info.st_mode)
        if kind is not None:  # swapped for something else between the stat and the open
            raise RefusedFile(kind, "special")
        too_large = RefusedFile(f"it is larger than {_size(limit)}", "large")
        if info.st_size > limit:
            raise too_large
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise too_large
        return b"".join(chunks)
    except OSError as exc:
        raise _refused(exc, path) from None
    finally:
        os.close(fd)


def lesson_sort_key(path: Path) -> tuple[int, int, str]:
    """Teaching order: files with a numeric prefix by that number, then the others by name."""
    m = re.match(r"\d+", path.name)
    return (0, int(m.group()), path.name) if m else (1, 0, path.name)


def lesson_paths(folder: str | Path) -> list[Path]:
    """Every entry of a folder that stands for a lesson, in teaching order: its `*.md` names, hidden
    files and README.md aside, whatever each is (a folder, a pipe or a broken link named `x.md` is
    listed, so that reading it reports what it is instead of skipping it in silence).
    Raises OSError when the folder cannot be listed."""
    paths = [
        p
        for p in Path(folder).glob("*.md")
        if not p.name.startswith(".") and p.name.lower() != "readme.md"
    ]
    return sorted(paths, key=lesson_sort_key)


def toml_shape_problem(text: str) -> tuple[int, int, str] | None:
    """(line, column, phrase), both 1-based, where a TOML text nests too deep or has too long a key.

    One pass over the text, outside strings and comments: `[` and `{` open a level and `]` and `}`
    close one; a dot between two of `= , [ ] { }` or line ends is a part of a dotted key (a valid
    value holds at most one dot there: `1.5`). Invalid TOML is left to `tomllib` to report.
    """
    depth = 0
    dots = 0
    i, n = 0, len(text)

    def place(k: int) -> tuple[int, int]:
        return text.count("\n", 0, k) + 1, k - (text.rfind("\n", 0, k) + 1) + 1

    while True:
        m = _TOML_SPECIAL.search(text, i)
        if m is None:
            return None
        i = m.start()
        c = text[i]
        if c == "\n" or c in "=,":
            dots = 0
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "\"'":
            triple = text.startswith(c * 3, i)
            inner = _STRING_STOPS[c]
            j = i + (3 if triple else 1)
            while True:
                s = inner.search(text, j)
                if s is None:
                    j = n
                    break
                j = s.start()
                d = text[j]
                if d == "\\":
                    j += 2
                elif d == "\n":
                    if not triple:
                        break  # an unclosed one-line string: tomllib reports it
                    j += 1
                elif not triple:
                    j += 1
                    break
                elif text.startswith(c * 3, j):
                    j += 3
                    while j < n and text[j] == c:  # up to two more quotes may end the string
                        j += 1
                    break
                else:
                    j += 1
            i = j
            continue
        elif c in "[{":
            depth += 1
            dots = 0
            if depth > TOML_MAX_NESTING:
                return (*place(i), f"lists or tables are nested more than {TOML_MAX_NESTING} levels deep")
        elif c in "]}":
            depth = max(depth - 1, 0)
            dots = 0
        else:  # "."
            dots += 1
            if dots >= TOML_MAX_KEY_PARTS:
                return (*place(i), f"a dotted key has more than {TOML_MAX_KEY_PARTS} parts")
        i += 1


_TOML_SPECIAL = re.compile(r"""[\n#"'\[\]{}=,.]""")
_STRING_STOPS = {'"': re.compile(r'[\\"\n]'), "'": re.compile(r"['\n]")}
