"""A learner's hand-in as the grader takes it: an answers file (TOML, `blank = "answer"`), or a
program file (`*.py`, the lesson as a Python file, read by tutor.lesson.program_file), and the
files a list of paths stands for (a folder: every `*.toml` and `*.py` directly inside, by name).

Every such file is someone else's and may be hostile: it is read as lesson files are
(tutor.lesson.files: a regular file only, never blocking, at most ANSWERS_FILE_LIMIT bytes, its
TOML looked over before `tomllib` parses it), and whatever is wrong with it ends as one
`SubmissionError` with a sentence that says what to do, never as a traceback. `tutor grade` (one
file or a class) and `tutor hint --answers` read answers files here.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tutor.lesson.files import RefusedFile, read_limited, toml_shape_problem
from tutor.lesson.model import Lesson
from tutor.lesson.program_file import ProgramFileError, read_program as read_program_file
from tutor.safe_text import one_line

ANSWERS_FILE_LIMIT = 1024 * 1024  # bytes: an answers file holds one short answer a blank
HAND_IN_SUFFIXES = (".toml", ".py")  # what a folder given to `tutor grade --answers` is searched for
_REMEDY = {
    "special": "give the path of a TOML answers file",
    "link": "fix the link, or give the answers file's own path",
    "large": "an answers file holds one short answer per blank; check that this is the right file",
    "os": "check the path",
}
_ONE_PER_LINE = 'write one `blank = "answer"` per line'


class SubmissionError(Exception):
    """A hand-in that cannot be graded: `sentence` says why and what to do; str() adds the file."""

    def __init__(self, path: Path | str, sentence: str) -> None:
        super().__init__(f"{file_label(path)}: {sentence}")
        self.path = Path(path)
        self.sentence = sentence


@dataclass(frozen=True)
class HandIn:
    """One entry of a class: a file to grade, or a path given that stands for no file (`problem`)."""

    path: Path
    problem: str | None = None


def file_label(path: Path | str) -> str:
    """A file's name as a message shows it: on one line, whatever characters it holds."""
    return one_line(str(path))


def short_key(key: str, width: int = 40) -> str:
    """A key from an answers file, cut so that a megabyte of key stays a short message."""
    return one_line(key if len(key) <= width else key[: width - 3] + "...")


def read_answers(path: Path, lesson: Lesson) -> tuple[dict[str, str], list[str]]:
    """An answers file -> (blank -> text, warnings about keys that are not blanks of `lesson`).
    Raises SubmissionError for a file that cannot be used."""
    try:
        raw = read_limited(path, ANSWERS_FILE_LIMIT)
    except RefusedFile as exc:
        raise SubmissionError(path, f"cannot read the answers file: {exc.reason}: {_REMEDY[exc.kind]}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(path, "the answers file is not UTF-8 text: save it as UTF-8") from None
    shape = toml_shape_problem(text)
    if shape is not None:
        line, col, phrase = shape
        raise SubmissionError(path, f"the answers file cannot be read at line {line}, column {col}: {phrase}: {_ONE_PER_LINE}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SubmissionError(path, f"the answers file is not valid TOML ({exc}): {_ONE_PER_LINE}") from None
    except (RecursionError, MemoryError, ValueError):
        raise SubmissionError(path, f"the answers file is nested too deeply or too large to read: {_ONE_PER_LINE}") from None
    answers: dict[str, str] = {}
    warnings: list[str] = []
    for key, value in data.items():
        if not isinstance(value, str):
            raise SubmissionError(path, f"the answer to `{short_key(key)}` is not a string: put it in quotes, e.g. {short_key(key)} = \"...\"")
        if key not in lesson.blanks:
            warnings.append(f"{file_label(path)}: `{short_key(key)}` is not a blank of {lesson.id} (its blanks: {', '.join(lesson.blanks)}); ignored")
            continue
        answers[key] = value
    return answers, warnings


def read_program(path: Path, lesson: Lesson) -> tuple[dict[str, str], list[str]]:
    """A program file (`tutor edit`'s lesson as Python, filled in) -> (blank -> text, no warnings),
    read and matched by tutor.lesson.program_file (its one reader; an edit outside the `???` places
    is refused there, naming the line)."""
    try:
        answers = read_program_file(lesson, str(path))
    except ProgramFileError as exc:
        raise SubmissionError(path, f"line {exc.line}: {exc.sentence}" if exc.line else exc.sentence) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise SubmissionError(path, f"the program file could not be read ({type(exc).__name__}): write it out again"
                                    f" with `tutor edit {lesson.id}`") from None
    return dict(answers), []


def read_hand_in(path: Path, lesson: Lesson) -> tuple[dict[str, str], list[str]]:
    """A program file by its `.py` name; anything else as an answers file."""
    if path.suffix.lower() == ".py":
        return read_program(path, lesson)
    return read_answers(path, lesson)


def hand_ins(paths: list[str | Path]) -> list[HandIn]:
    """The files `paths` stand for, in order: a file as it is, a folder as the `*.toml` and `*.py`
    files directly inside it, sorted by name (subfolders are not searched: one folder a class).
    A folder that cannot be listed or holds no such file is kept as an entry with its `problem`, so
    a class's table shows it instead of silently leaving it out."""
    out: list[HandIn] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            out.append(HandIn(path))  # a missing or special file is refused, with its reason, when read
            continue
        try:
            names = sorted(e.name for e in os.scandir(path) if e.name.lower().endswith(HAND_IN_SUFFIXES) and not e.is_dir())
        except OSError as exc:
            out.append(HandIn(path, f"cannot list the folder ({(exc.strerror or type(exc).__name__).lower()}): check the path"))
            continue
        if not names:
            out.append(HandIn(path, "the folder holds no answers files (*.toml) or program files (*.py): check the path"))
            continue
        out += [HandIn(path / name) for name in names]
    return out
