"""Read lesson files (the format of docs/authoring.md) into the lesson model, reporting every problem.

Every problem an instructor can cause becomes a `LessonProblem`: the file, line and column, and one
plain sentence saying what is wrong and how to fix it. The parser collects as many as it can and
raises one `LessonError` with all of them; no other exception escapes for any input text.

Decisions the format leaves open, written down here:

- Line endings `\\r\\n` and `\\r` count as `\\n`, and a leading byte-order mark is ignored.
- `Step.code` and `Lesson.setup` end with a newline (each line is terminated); several ```python
  blocks of one step are concatenated in order, with no blank line added between them.
- `{{name:` always opens a blank, even inside a string literal. Any other `{{` (an f-string's
  escaped brace, a set holding a dict) is plain code.
- Braces are counted inside an answer to find its closing `}}`, without looking at string literals:
  braces inside an answer, strings included, must balance.
- A one-line blank's kind comes from the step's reference program with a placeholder name in the
  blank's place: it is a statement where the placeholder is a whole statement (a blank that is the
  whole line, `{{zero_grad: optimizer.zero_grad()}}`), an assignment target, or not a name at all
  (`optimizer.{{step: step()}}`); it is an expression where the placeholder is read as a value and
  the answer is an expression on its own. So a whole-line blank inside brackets (one argument per
  line) is an expression. An expression answer must keep its meaning when put in parentheses
  (`2 * {{a: b + c}}` is reported: write `{{a: (b + c)}}`).
- A block blank's answer drops blank lines at its start and its end, and is dedented.
- In a block, a line holding only `}}` always closes it; a `}}` that closes the block at the end of
  an answer line is reported.
- A ```python, ```python setup or ```toml check fence must start at the line's first column (an
  indented one is reported); a fence marked `python WORD` or `toml WORD` is reported as a likely
  typo; any other fence stays in the prose. A `## ` line inside any fence is not a step heading.
- `seed` is a whole number from 0 to 2**32 - 1 (what numpy accepts); check-block tolerances are
  numbers of 0 or more.
- `load_lessons` skips hidden files and `README.md`: they are not lessons. Files without a numeric
  prefix come after the numbered ones, with `order` 0. Every other `*.md` entry is read, through
  `files.read_limited`: a folder, a named pipe, a device, a looping or dangling link, or a file over
  1 MiB named `*.md` is a problem at line 1 (what it is and what to do), never a hang or a skip.
- A TOML header or check block nested more than 50 levels deep, or with a dotted key of more than
  100 parts, is a problem at its place, found before `tomllib` reads it (`files.toml_shape_problem`).
"""

from __future__ import annotations

import ast
import bisect
import json
import math
import re
import textwrap
import tomllib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import LESSON_FILE_LIMIT, RefusedFile, lesson_paths, read_limited, toml_shape_problem
from .model import (
    FRAMEWORK_NAMES,
    Blank,
    CompareSpec,
    Lesson,
    LessonError,
    LessonProblem,
    Location,
    Segment,
    Step,
)

DIAGNOSIS_CODES: frozenset[str] = frozenset(
    {
        "syntax_error",
        "forbidden",
        "runtime_error",
        "timeout",
        "memory",
        "shape_mismatch",
        "dtype_mismatch",
        "sign_flipped",
        "scaled",
        "nan_or_inf",
        "wrong_type",
        "no_effect",
        "diverged",
        "wrong_value",
        "missing",
    }
)

HEADER_KEYS: tuple[str, ...] = ("id", "title", "framework", "datasets", "timeout", "seed")

_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_OPEN_RE = re.compile(r"\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*:")
_FENCE_OPEN_RE = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)")
_FENCE_CLOSE_RE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
_TOML_AT_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END_RE = re.compile(r"\s*\(at end of document\)\s*$")
_ON_LINE_RE = re.compile(r"\bon line (\d+)")
_TABLE_LINE_RE = re.compile(r"\s*\[")
_PLACEHOLDER = "__tutor_blank__"
_SEED_MAX = 2**32 - 1
_BLANK_EXAMPLE = "{{name: answer}}"
_PARSE_FAILURES = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)


# ----------------------------------------------------------------------------------------------
# Public API


def parse_lesson_text(text: str, path: str | Path = "<lesson>") -> Lesson:
    """Parse the text of one lesson file; raise LessonError listing every problem found."""
    lesson, problems, _ = _parse(text, path)
    if problems or lesson is None:
        raise LessonError(problems or [_problem(path, 1, 1, "the lesson could not be read")])
    return lesson


def parse_lesson(path: str | Path) -> Lesson:
    """Read and parse one lesson file (UTF-8)."""
    lesson, problems, _ = _parse_file(Path(path))
    if problems or lesson is None:
        raise LessonError(problems or [_problem(path, 1, 1, "the lesson could not be read")])
    return lesson


def load_lessons(directory: str | Path) -> list[Lesson]:
    """Parse every lesson (`*.md`) of a folder, in teaching order; raise one LessonError for all."""
    lessons, problems = read_lessons(directory)
    if problems:
        raise LessonError(problems)
    return lessons


def read_lessons(directory: str | Path) -> tuple[list[Lesson], list[LessonProblem]]:
    """The lessons of a folder that parse, in teaching order, and the problems of the others (so a
    listing can show the good ones beside what is wrong). A folder that is missing, cannot be listed
    or holds no lesson file raises LessonError: nothing can be listed."""
    folder = Path(directory)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise LessonError([_problem(folder, 1, 1, f"the lessons folder {folder} {what}: check its path")])
    try:
        files = lesson_paths(folder)
    except OSError as exc:
        raise LessonError(
            [_problem(folder, 1, 1, f"the lessons folder cannot be read ({_os_reason(exc)})")]
        ) from None
    if not files:
        raise LessonError(
            [
                _problem(
                    folder,
                    1,
                    1,
                    f"the folder {folder} has no lessons: add lesson files named like 001-my-lesson.md",
                )
            ]
        )
    lessons: list[Lesson] = []
    problems: list[LessonProblem] = []
    first_of_id: dict[str, Path] = {}
    for file in files:
        lesson, file_problems, id_line = _parse_file(file)
        problems.extend(file_problems)
        if lesson is None:
            continue
        if lesson.id in first_of_id:
            problems.append(
                _problem(
                    file,
                    id_line,
                    1,
                    f"two lessons have the id `{lesson.id}` (the other is {first_of_id[lesson.id].name}):"
                    " give each lesson its own id",
                )
            )
            continue
        first_of_id[lesson.id] = file
        lessons.append(lesson)
    return lessons, problems


def find_lesson(lessons: Iterable[Lesson], key: str) -> Lesson | None:
    """The lesson whose id is `key`, else whose file name or stem is `key` (a path's name counts)."""
    lessons = list(lessons)
    for lesson in lessons:
        if lesson.id == key:
            return lesson
    name = Path(key).name if key else key
    for lesson in lessons:
        if name in (lesson.path.name, lesson.path.stem):
            return lesson
    return None


def render_step(step: Step, lesson: Lesson, answers: Mapping[str, str]) -> str:
    """The step's program with `answers` written into its blanks (a missing name: the reference).

    Inline answers are stripped and written in place of `{{...}}`; block answers are dedented,
    stripped of blank lines at both ends, and each line written as `indent + line + "\\n"`.
    `render_step(step, lesson, {})` is the step's reference program.
    """
    text, _ = _render(step.segments, lesson.blanks, answers)
    return text


def reference_program(lesson: Lesson) -> str:
    """The whole reference program: the setup code, then every step with its reference answers."""
    parts = [lesson.setup] if lesson.setup.strip() else []
    parts.extend(render_step(step, lesson, {}) for step in lesson.steps)
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------
# Rendering (shared by the public functions and the parser's own checks)

# One anchor per piece written on a rendered line: (rendered col, code line, code col, blank name).
_Anchor = tuple[int, int, int, "str | None"]


def _block_lines(answer: str) -> list[str]:
    """A block answer as the lines to write: newlines unified, dedented, no blank end lines."""
    lines = textwrap.dedent(answer.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines or [""]


def _render(
    segments: list[Segment],
    blanks: Mapping[str, Any],
    answers: Mapping[str, str],
    starts: list[tuple[int, int]] | None = None,
) -> tuple[str, list[list[_Anchor]]]:
    """Write the segments with answers; with `starts`, also map each rendered line to the code."""
    out: list[str] = []
    anchors: list[list[_Anchor]] = [[]]
    col = 0

    def write(text: str, code_line: int, code_col: int, blank: str | None) -> None:
        nonlocal col
        for k, part in enumerate(text.split("\n")):
            if k:
                out.append("\n")
                anchors.append([])
                col = 0
                code_line, code_col = code_line + (blank is None), 0
            if part or k or not anchors[-1]:
                anchors[-1].append((col, code_line, code_col, blank))
            out.append(part)
            col += len(part)

    for index, segment in enumerate(segments):
        where = starts[index] if starts is not None else (0, 0)
        if segment.blank is None:
            write(segment.text, where[0], where[1], None)
            continue
        blank = blanks[segment.blank]
        answer = answers.get(segment.blank)
        if answer is None:
            answer = blank.answer
        if blank.kind == "block":
            first = getattr(blank, "answer_line", 0)
            margin = getattr(blank, "answer_col", 0)
            for k, line in enumerate(_block_lines(answer)):
                anchors[-1].append((col, first + k, 0, segment.blank))
                anchors[-1].append((col + len(blank.indent), first + k, margin, segment.blank))
                out.append(blank.indent + line + "\n")
                anchors.append([])
                col = 0
        else:
            write(
                answer.strip(),
                getattr(blank, "answer_line", 0),
                getattr(blank, "answer_col", 0),
                segment.blank,
            )
    return "".join(out), anchors


# ----------------------------------------------------------------------------------------------
# Internal structures


@dataclass
class _Fence:
    kind: str  # "python", "setup", "check" or "other"
    char: str
    length: int
    line: int  # file line of the opening fence
    info: str
    shift: int = 0  # spaces removed from each content line (an indented fence)
    body: list[str] = field(default_factory=list)
    close_line: int = 0


@dataclass
class _StepDraft:
    title: str
    line: int
    prose: list[str] = field(default_factory=list)
    blocks: list[_Fence] = field(default_factory=list)
    check: _Fence | None = None
    unclosed: bool = False


@dataclass
class _BlankDraft:
    name: str
    kind: str | None  # "block" when known from the layout, else decided later
    answer: str
    code_line: int
    code_col: int
    indent: str = ""
    answer_line: int = 0  # code line of the answer's first character (block: first answer line)
    answer_col: int = 0  # code col of the answer's first character (block: dedent width)


@dataclass
class _Scan:
    blanks: list[_BlankDraft] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    starts: list[tuple[int, int]] = field(default_factory=list)
    problems: list[tuple[int, int, str]] = field(default_factory=list)  # code line, code col


@dataclass
class _Code:
    text: str
    lines: list[int]  # file line of each code line
    shifts: list[int]  # columns removed from each code line

    def place(self, code_line: int, code_col: int) -> tuple[int, int]:
        """The 1-based file line and column of a 0-based place in the code."""
        if not self.lines:
            return 1, 1
        i = min(max(code_line, 0), len(self.lines) - 1)
        return self.lines[i], max(code_col, 0) + self.shifts[i] + 1


# ----------------------------------------------------------------------------------------------
# Helpers


def _problem(path: str | Path, line: int, col: int, message: str) -> LessonProblem:
    return LessonProblem(Location(str(path), max(1, line), max(1, col)), message)


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _file_order(path: Path) -> int:
    m = re.match(r"\d+", path.name)
    return int(m.group()) if m else 0


def _show(value: Any, depth: int = 0) -> str:
    """A value as an instructor wrote it in TOML, shortened."""
    if depth > 2:
        text = "..."
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v, depth + 1) for v in value[:5]) + (", ...]" if len(value) > 5 else "]")
    elif isinstance(value, dict):
        items = [f"{k} = {_show(v, depth + 1)}" for k, v in list(value.items())[:5]]
        text = "{ " + ", ".join(items) + " }"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _first_lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def _toml_hint(message: str) -> str:
    """How to fix a TOML mistake, for the common ones."""
    lowered = message.lower()
    if "invalid value" in lowered:
        return 'put text values in double quotes, like title = "My lesson"'
    if "unterminated string" in lowered or "unclosed" in lowered and "string" in lowered:
        return 'a text value is missing its closing quote "'
    if "expected '='" in lowered:
        return "each line should look like key = value"
    if "unclosed array" in lowered or "expected ']'" in lowered:
        return "a list or a [section] name is missing its closing ]"
    if "unclosed inline table" in lowered:
        return "a { ... } table is missing its closing }"
    if "cannot declare" in lowered or "cannot overwrite" in lowered or "cannot mutate" in lowered:
        return "something is written twice: keep one"
    if "illegal character" in lowered:
        return "remove the invisible or control character"
    return "compare it with the examples in docs/authoring.md"


def _key_pattern(key: str) -> str:
    escaped = re.escape(key)
    return rf"""(?:"{escaped}"|'{escaped}'|{escaped})"""


def _find_line(lines: list[str], first_line: int, table: tuple[str, ...], key: str | None) -> int:
    """Best guess of the file line where `key` of `[table]` is written in a TOML text."""
    start, end, header = 0, len(lines), None
    if table:
        pattern = re.compile(r"\s*\[\s*" + r"\s*\.\s*".join(_key_pattern(t) for t in table) + r"\s*\]")
        for i, line in enumerate(lines):
            if pattern.match(line):
                header, start = i, i + 1
                break
        if header is None:
            return _find_line(lines, first_line, table[:-1], table[-1])
    for i in range(start, len(lines)):
        if _TABLE_LINE_RE.match(lines[i]):
            end = i
            break
    if key is None:
        return first_line + (header or 0)
    own = re.compile(r"\s*" + _key_pattern(key) + r"\s*[=.]")
    for i in range(start, end):
        if own.match(lines[i]):
            return first_line + i
    anywhere = re.compile(r"(?:^|[\s.{,])" + _key_pattern(key) + r"\s*=")
    for i, line in enumerate(lines):
        if anywhere.search(line):
            return first_line + i
    return first_line + (header or 0)


def _parse_quiet(source: str, mode: str = "exec") -> ast.AST:
    """ast.parse without SyntaxWarnings on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, mode=mode)


def _is_expression(source: str) -> bool:
    try:
        _parse_quiet(source, "eval")
    except _PARSE_FAILURES:
        return False
    return True


_REFUSED_REMEDY = {
    "special": "a lesson is a Markdown text file: remove it, or rename it so that its name does not end in .md",
    "link": "fix the link or remove it",
    "large": "split it into several lessons",
    "os": "check its path and its permissions",
}


def _file_parse_result(path: Path) -> tuple[str | None, list[LessonProblem]]:
    """The text of a lesson file, read as files.py reads untrusted files, or the problem why not."""
    try:
        data = read_limited(path, LESSON_FILE_LIMIT)
    except RefusedFile as exc:
        return None, [_problem(path, 1, 1, f"the file cannot be read: {exc.reason}: {_REFUSED_REMEDY[exc.kind]}")]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        return None, [
            _problem(
                path,
                1,
                1,
                f"the file is not UTF-8 text (the first bad character is on line {bad_line}):"
                " save it as UTF-8 in your editor",
            )
        ]


def _parse_file(path: Path) -> tuple[Lesson | None, list[LessonProblem], int]:
    text, problems = _file_parse_result(path)
    if text is None:
        return None, problems, 1
    lesson, problems, id_line = _parse(text, path)
    if lesson is not None:
        lesson.order = _file_order(path)
    return lesson, problems, id_line


def _parse(text: str, path: str | Path) -> tuple[Lesson | None, list[LessonProblem], int]:
    """Parse without raising: the lesson (None when there are problems), the problems, the id line."""
    parser = _LessonParser(text, path)
    lesson = parser.parse()
    problems = sorted(parser.problems, key=lambda p: (p.location.line, p.location.col))
    return (None if problems else lesson), problems, parser.id_line


# ----------------------------------------------------------------------------------------------
# The parser


class _LessonParser:
    """One pass over a lesson file, collecting problems as it goes."""

    def __init__(self, text: str, path: str | Path):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text.startswith("\ufeff"):
            text = text[1:]
        self.path = Path(path) if not isinstance(path, Path) else path
        self.where = str(path)
        self.lines = text.split("\n")
        self.problems: list[LessonProblem] = []
        self.id_line = 1
        self.swallowed = False  # an unclosed header or fence ate the rest of the file
        self.setup: _Fence | None = None
        self.intro: list[str] = []
        self.steps: list[_StepDraft] = []
        self._removed = False
        self.header_lines: list[str] = []

    def add(self, line: int, col: int, message: str) -> None:
        """Record one problem at a 1-based place, kept inside the file."""
        line = min(max(line, 1), len(self.lines))
        self.problems.append(_problem(self.where, line, col, message))

    # -- the whole file ----------------------------------------------------------------------

    def parse(self) -> Lesson | None:
        header, body_start = self._split_header()
        settings = self._header(header) if header is not None else None
        self._body(body_start)
        if not self.steps and not self.swallowed:
            self.add(
                body_start + 1,
                1,
                "the lesson has no steps: start each step with a heading line like `## Fit a line`",
            )
        setup = self._setup()
        steps, blanks = self._steps()
        if self.problems or settings is None:
            return None
        return Lesson(
            id=settings["id"],
            title=settings["title"],
            path=self.path,
            framework=settings["framework"],
            names=FRAMEWORK_NAMES[settings["framework"]],
            datasets=settings["datasets"],
            timeout=settings["timeout"],
            seed=settings["seed"],
            intro=_trim_blank_lines(self.intro),
            setup=setup.text,
            setup_lines=setup.lines,
            steps=steps,
            blanks=blanks,
        )

    # -- header ------------------------------------------------------------------------------

    def _split_header(self) -> tuple[dict[str, Any] | None, int]:
        """The header's TOML values (None if unusable) and the index of the body's first line."""
        if self.lines[0].strip() != "+++":
            self.add(
                1,
                1,
                "the file must start with a header: a line `+++`, then lines like id = \"my-lesson\""
                ' and title = "My lesson", then another `+++` line',
            )
            return None, 0
        for j in range(1, len(self.lines)):
            if self.lines[j].strip() == "+++":
                break
        else:
            self.add(
                1, 1, "the header that starts at line 1 with `+++` is never closed: add a line `+++` after it"
            )
            self.swallowed = True
            return None, len(self.lines)
        self.header_lines = self.lines[1:j]
        data = self._load_toml(self.header_lines, 2, j + 1, "the header")
        return data, j + 1

    def _header(self, data: dict[str, Any]) -> dict[str, Any] | None:
        lines = self.header_lines

        def line_of(key: str) -> int:
            return _find_line(lines, 2, (), key)

        ok = True

        def bad(key: str, message: str) -> None:
            nonlocal ok
            ok = False
            self.add(line_of(key), 1, message)

        for key in data:
            if key not in HEADER_KEYS:
                bad(
                    key,
                    f"unknown header key `{key}`: the header may only set {', '.join(HEADER_KEYS[:-1])}"
                    f" and {HEADER_KEYS[-1]}",
                )
        out: dict[str, Any] = {}
        if "id" not in data:
            ok = False
            self.add(1, 1, 'the header is missing `id`: add a line like id = "my-lesson"')
        else:
            self.id_line = line_of("id")
            value = data["id"]
            if not isinstance(value, str) or not _ID_RE.fullmatch(value):
                bad(
                    "id",
                    f"the id {_show(value)} may only use lowercase letters, digits and hyphens:"
                    ' write it like id = "linreg-numpy"',
                )
            out["id"] = value
        if "title" not in data:
            ok = False
            self.add(1, 1, 'the header is missing `title`: add a line like title = "Linear regression by hand"')
        else:
            value = data["title"]
            if not isinstance(value, str) or not value.strip():
                bad("title", 'the title must be text in double quotes, like title = "Linear regression by hand"')
            out["title"] = value.strip() if isinstance(value, str) else value
        framework = data.get("framework", "numpy")
        if framework not in FRAMEWORK_NAMES:
            bad(
                "framework",
                f"the framework {_show(framework)} is not known: write framework = \"numpy\" or"
                ' framework = "torch"',
            )
        out["framework"] = framework
        datasets = data.get("datasets", [])
        if not isinstance(datasets, list) or not all(isinstance(d, str) and d.strip() for d in datasets):
            bad(
                "datasets",
                f"datasets = {_show(datasets)} is not a list of dataset names: write it like"
                ' datasets = ["linear_regression"]',
            )
        out["datasets"] = list(datasets) if isinstance(datasets, list) else []
        timeout = data.get("timeout", 10)
        if not _is_number(timeout) or timeout <= 0:
            bad(
                "timeout",
                f"timeout = {_show(timeout)} is not allowed: the timeout is a number of seconds"
                " greater than 0, like timeout = 5",
            )
        out["timeout"] = float(timeout) if _is_number(timeout) else 10.0
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _SEED_MAX:
            bad(
                "seed",
                f"seed = {_show(seed)} is not allowed: the seed is a whole number from 0 to"
                f" {_SEED_MAX}, like seed = 0",
            )
        out["seed"] = seed
        return out if ok else None

    def _load_toml(self, lines: list[str], first_line: int, end_line: int, what: str) -> dict[str, Any] | None:
        """Parse a TOML section of the file, mapping a syntax error to its file line."""
        text = "\n".join(lines)
        shape = toml_shape_problem(text)
        if shape is not None:
            line, col, phrase = shape
            self.add(first_line + line - 1, col, f"{what} cannot be read: {phrase}: simplify it")
            return None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message, line, col = str(exc), end_line, 1
            at = _TOML_AT_RE.search(message)
            end = _TOML_END_RE.search(message)
            if at:
                message = message[: at.start()]
                line, col = first_line + int(at.group(1)) - 1, int(at.group(2))
            elif end:
                message = message[: end.start()]
            line = min(line, end_line)
            self.add(line, col, f"{what} is not valid TOML ({_first_lower(message)}): {_toml_hint(message)}")
        except (ValueError, RecursionError, MemoryError, OverflowError):
            self.add(first_line, 1, f"{what} is too deeply nested or too large to read: simplify it")
        return None

    # -- body --------------------------------------------------------------------------------

    def _prose(self, line: str) -> None:
        target = self.steps[-1].prose if self.steps else self.intro
        if self._removed and not line.strip() and (not target or not target[-1].strip()):
            return
        if line.strip():
            self._removed = False
        target.append(line)

    def _body(self, start: int) -> None:
        fence: _Fence | None = None
        for index in range(start, len(self.lines)):
            number, line = index + 1, self.lines[index]
            if fence is not None:
                close = _FENCE_CLOSE_RE.fullmatch(line)
                if close and close.group(1)[0] == fence.char and len(close.group(1)) >= fence.length:
                    fence.close_line = number
                    if fence.kind == "other":
                        self._prose(line)
                    self._finish(fence)
                    fence = None
                else:
                    if fence.kind == "other":
                        self._prose(line)
                    elif fence.shift:
                        cut = len(line) - len(line.lstrip(" "))
                        line = line[min(cut, fence.shift) :]
                    fence.body.append(line)
                continue
            opening = _FENCE_OPEN_RE.fullmatch(line)
            if opening and not (opening.group(2)[0] == "`" and "`" in opening.group(3)):
                fence = self._open_fence(opening, number)
                if fence.kind == "other":
                    self._prose(line)
                continue
            if line.startswith("## "):
                self.steps.append(_StepDraft(title=line[3:].strip(), line=number))
                self._removed = False
                continue
            self._prose(line)
        if fence is not None:
            marks = fence.char * fence.length
            self.add(
                fence.line,
                1,
                f"the code block that starts at line {fence.line} with {marks} is never closed:"
                f" add a line {marks} after its last line",
            )
            self.swallowed = True
            if self.steps:
                self.steps[-1].unclosed = True

    def _open_fence(self, match: re.Match[str], number: int) -> _Fence:
        indent, marks, info = match.group(1), match.group(2), match.group(3).strip()
        words = info.lower().split()
        kind = "other"
        if words == ["python"]:
            kind = "python"
        elif words == ["python", "setup"]:
            kind = "setup"
        elif words == ["toml", "check"]:
            kind = "check"
        elif len(words) > 1 and words[0] in ("python", "toml"):
            self.add(
                number,
                len(indent) + len(marks) + 1,
                f"the code block marked `{info}` is not understood: mark a step's program ```python,"
                " the setup code ```python setup and a check block ```toml check",
            )
        if kind != "other" and indent:
            self.add(
                number,
                1,
                f"the {marks}{info} line must start at the beginning of the line: remove the spaces before it",
            )
        return _Fence(kind, marks[0], len(marks), number, info, shift=len(indent))

    def _finish(self, fence: _Fence) -> None:
        """Attach a closed python, setup or check block to where it belongs."""
        if fence.kind == "other":
            return
        self._removed = True
        step = self.steps[-1] if self.steps else None
        number = len(self.steps)
        if fence.kind == "python":
            if step is None:
                self.add(
                    fence.line,
                    1,
                    f"the program at line {fence.line} comes before the first step: put a step heading"
                    " like `## Fit a line` above it, or mark it ```python setup if it is setup code",
                )
            else:
                step.blocks.append(fence)
        elif fence.kind == "setup":
            if step is not None:
                self.add(
                    fence.line,
                    1,
                    "the setup code must come before the first step: move this ```python setup block"
                    f" above line {self.steps[0].line}",
                )
            elif self.setup is not None:
                self.add(
                    fence.line,
                    1,
                    f"there is a second ```python setup block (the first is at line {self.setup.line}):"
                    " keep only one setup block",
                )
            else:
                self.setup = fence
        elif step is None:
            self.add(
                fence.line,
                1,
                "a ```toml check block belongs to a step: move it below the step's `## ` heading",
            )
        elif step.check is not None:
            self.add(
                fence.line,
                1,
                f"step {number} has a second ```toml check block (the first is at line {step.check.line}):"
                " merge them into one",
            )
        else:
            step.check = fence

    # -- code --------------------------------------------------------------------------------

    def _setup(self) -> _Code:
        if self.setup is None:
            return _Code("", [], [])
        fence = self.setup
        code = _Code(
            "".join(line + "\n" for line in fence.body),
            [fence.line + 1 + k for k in range(len(fence.body))],
            [fence.shift] * len(fence.body),
        )
        starts = _line_starts(code.text)
        found = False
        for m in _OPEN_RE.finditer(code.text):
            found = True
            line = bisect.bisect_right(starts, m.start()) - 1
            self.add(
                *code.place(line, m.start() - starts[line]),
                f"the setup code cannot contain blanks: move the blank `{m.group(1)}` into a step's program",
            )
        if not found:
            self._syntax_check(code.text, code, None, "the setup code")
        return code

    def _steps(self) -> tuple[list[Step], dict[str, Blank]]:
        steps: list[Step] = []
        blanks: dict[str, Blank] = {}
        first_place: dict[str, int] = {}
        step_of: dict[str, int] = {}
        drafts_per_step: list[list[_BlankDraft]] = []
        for index, draft in enumerate(self.steps):
            number = index + 1
            if not draft.title:
                self.add(draft.line, 1, f"step {number} has no title: write it after `## `, like `## Fit a line`")
            code = _Code("", [], [])
            body: list[str] = []
            for fence in draft.blocks:
                body.extend(fence.body)
                code.lines.extend(fence.line + 1 + k for k in range(len(fence.body)))
                code.shifts.extend([fence.shift] * len(fence.body))
            code.text = "".join(line + "\n" for line in body)
            if not code.text.strip() and not draft.unclosed:
                if draft.blocks:
                    self.add(
                        draft.blocks[0].line,
                        1,
                        f"the program of step {number} is empty: write its code inside the ```python block",
                    )
                else:
                    self.add(
                        draft.line,
                        1,
                        f"step {number} has no program: add a ```python block with its code below the heading",
                    )
            scan = _scan_blanks(code.text)
            for code_line, code_col, message in scan.problems:
                self.add(*code.place(code_line, code_col), message)
            for blank in scan.blanks:
                line, _ = code.place(blank.code_line, blank.code_col)
                if blank.name in first_place:
                    self.add(
                        *code.place(blank.code_line, blank.code_col),
                        f"two blanks are named `{blank.name}` (the other is at line {first_place[blank.name]}):"
                        " give each blank its own name",
                    )
                else:
                    first_place[blank.name] = line
                    step_of[blank.name] = number
            if not scan.problems and code.text.strip():
                self._analyse(number, code, scan)
            drafts_per_step.append(scan.blanks)
            step = Step(
                title=draft.title,
                prose=_trim_blank_lines(draft.prose),
                code=code.text,
                segments=scan.segments,
                blanks=[b.name for b in scan.blanks],
                location=Location(self.where, draft.line, 1),
                code_location=Location(self.where, code.lines[0], 1) if code.lines else None,
                code_lines=list(code.lines),
            )
            for blank in scan.blanks:
                if blank.name not in blanks:
                    line, col = code.place(blank.code_line, blank.code_col)
                    blanks[blank.name] = Blank(
                        name=blank.name,
                        kind=blank.kind or "statement",  # type: ignore[arg-type]
                        answer=blank.answer,
                        step=index,
                        location=Location(self.where, line, col),
                        code_line=blank.code_line,
                        code_col=blank.code_col,
                        indent=blank.indent,
                    )
            steps.append(step)
        for index, draft in enumerate(self.steps):
            if draft.check is not None:
                self._check_block(index + 1, draft.check, steps[index], blanks, step_of)
        return steps, blanks

    def _syntax_check(
        self,
        text: str,
        code: _Code,
        anchors: list[list[_Anchor]] | None,
        what: str,
    ) -> ast.AST | None:
        """Parse a program; report a syntax error at its place in the file."""
        try:
            return _parse_quiet(text)
        except SyntaxError as exc:
            line, col, blank = self._map(code, anchors, exc.lineno or 1, exc.offset or 1)
            message = _ON_LINE_RE.sub(
                lambda m: "on line " + str(self._map(code, anchors, int(m.group(1)), 1)[0]),
                exc.msg or "invalid syntax",
            )
            if "null byte" in message:
                self.add(line, col, f"{what} contains a null character, which Python does not allow: remove it")
                return None
            sentence = f"{what} is not valid Python at line {line}: {message}"
            if blank:
                sentence += f" (in the answer of blank `{blank}`)"
            elif "{{" in self.lines[min(line, len(self.lines)) - 1]:
                sentence += f" (a blank is written like {_BLANK_EXAMPLE})"
            self.add(line, col, sentence)
        except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
            first = code.lines[0] if code.lines else 1
            if "null" in str(exc):
                self.add(first, 1, f"{what} contains a null character, which Python does not allow: remove it")
            else:
                self.add(first, 1, f"{what} is too deeply nested or too large to check: simplify it")
        return None

    def _map(
        self, code: _Code, anchors: list[list[_Anchor]] | None, lineno: int, offset: int
    ) -> tuple[int, int, str | None]:
        """A place in a rendered program (1-based) as a file line, column and blank name."""
        if anchors is None:
            line, col = code.place(lineno - 1, offset - 1)
            return line, col, None
        i = min(max(lineno - 1, 0), len(anchors) - 1)
        while i > 0 and not anchors[i]:
            i -= 1
        if not anchors[i]:
            line, col = code.place(0, 0)
            return line, col, None
        rendered_col = max(offset - 1, 0) if i == lineno - 1 else 0
        chosen = anchors[i][0]
        for anchor in anchors[i]:
            if anchor[0] <= rendered_col:
                chosen = anchor
        start, code_line, code_col, blank = chosen
        line, col = code.place(code_line, code_col + max(rendered_col - start, 0))
        return line, col, blank

    def _analyse(self, number: int, code: _Code, scan: _Scan) -> None:
        """Check the step's reference program parses, and decide each one-line blank's kind."""
        by_name = {b.name: b for b in scan.blanks}
        text, anchors = _render(scan.segments, by_name, {}, scan.starts)
        tree = self._syntax_check(text, code, anchors, f"the program of step {number}")
        if tree is None:
            return
        try:
            reference = ast.dump(tree)
            for blank in scan.blanks:
                if blank.kind == "block":
                    continue
                blank.kind = _inline_kind(scan.segments, by_name, blank)
                if blank.kind == "expression" and not _keeps_meaning(scan.segments, by_name, blank, reference):
                    self.add(
                        *code.place(blank.code_line, blank.code_col),
                        f"the answer of blank `{blank.name}` mixes with the code around it, so it means"
                        " something else on its own: put it in parentheses, like"
                        f" {{{{{blank.name}: ({blank.answer})}}}}",
                    )
        except (RecursionError, MemoryError):
            self.add(*code.place(0, 0), f"the program of step {number} is too deeply nested to check: simplify it")

    # -- check blocks ------------------------------------------------------------------------

    def _check_block(
        self,
        number: int,
        fence: _Fence,
        step: Step,
        blanks: dict[str, Blank],
        step_of: dict[str, int],
    ) -> None:
        """Validate a ```toml check block and store what it says in the step and its blanks."""
        what = f"the check block of step {number}"
        lines = fence.body
        first = fence.line + 1
        data = self._load_toml(lines, first, fence.close_line or fence.line, what)
        if data is None:
            return

        def at(table: tuple[str, ...], key: str | None) -> int:
            return _find_line(lines, first, table, key)

        for section, value in data.items():
            if section == "compare":
                if not isinstance(value, dict):
                    self.add(
                        at((), "compare"),
                        1,
                        f"{what}: `compare` must be a section: write [compare] on its own line, then one"
                        " line per value",
                    )
                    continue
                for expr, spec in value.items():
                    line = at(("compare",), expr)
                    shown = expr if len(expr) <= 40 else expr[:37] + "..."
                    if not _is_expression(expr):
                        self.add(
                            line,
                            1,
                            f"{what} compares `{shown}`, which is not a Python expression: write a variable"
                            ' name or expression, like loss_list or "model.weight"',
                        )
                        continue
                    if not isinstance(spec, dict):
                        self.add(
                            line,
                            1,
                            f"{what} compares `{shown}` with {_show(spec)}: write its tolerances as a table,"
                            f' like "{shown}" = {{ rtol = 1e-4 }}, or "{shown}" = {{}} for the defaults',
                        )
                        continue
                    tolerances = {"rtol": 1e-4, "atol": 1e-6}
                    for key, amount in spec.items():
                        if key in tolerances:
                            if _is_number(amount) and amount >= 0:
                                tolerances[key] = float(amount)
                            else:
                                self.add(
                                    line,
                                    1,
                                    f"{what} compares `{shown}` with {key} = {_show(amount)}: {key} must be a"
                                    f" number, 0 or more, like {key} = 1e-4",
                                )
                        elif isinstance(amount, dict):
                            self.add(
                                line,
                                1,
                                f"{what} compares `{shown}.{key}` without quotes: write the expression in"
                                f' double quotes, like "{shown}.{key}" = {{}}',
                            )
                        else:
                            self.add(
                                line,
                                1,
                                f"{what} compares `{shown}` with an unknown setting `{key}`: only rtol and"
                                " atol can be set",
                            )
                    step.compare.append(
                        CompareSpec(expr, tolerances["rtol"], tolerances["atol"], Location(self.where, line, 1))
                    )
            elif section == "charts":
                if not isinstance(value, dict):
                    self.add(
                        at((), "charts"),
                        1,
                        f"{what}: `charts` must be a section: write [charts] on its own line, then one"
                        " line per chart",
                    )
                    continue
                for name, chart in value.items():
                    if not isinstance(chart, (str, dict, list)):
                        self.add(
                            at(("charts",), name),
                            1,
                            f"{what} draws the chart `{name}` from {_show(chart)}: write an expression in"
                            ' quotes, like loss = "loss_list", or a table, like'
                            ' fit = { x = "X", y = "y", line = "y_pred" }',
                        )
                step.charts = dict(value)
            elif section == "blanks":
                if not isinstance(value, dict):
                    self.add(
                        at((), "blanks"), 1, f"{what}: `blanks` must hold one section per blank, like [blanks.loss]"
                    )
                    continue
                for name, spec in value.items():
                    self._blank_settings(what, number, name, spec, step, blanks, step_of, at)
            else:
                self.add(
                    at((section,), None) if isinstance(value, dict) else at((), section),
                    1,
                    f"{what} has an unknown section `[{section}]`: use [compare], [charts] and [blanks.NAME]",
                )

    def _blank_settings(
        self,
        what: str,
        number: int,
        name: str,
        spec: Any,
        step: Step,
        blanks: dict[str, Blank],
        step_of: dict[str, int],
        at: Any,
    ) -> None:
        line = at(("blanks", name), None)
        if name not in step.blanks:
            if name in step_of:
                fix = f"; it is in step {step_of[name]}: move these settings to that step's check block"
            elif step.blanks:
                fix = ": use one of this step's blanks, " + ", ".join(f"`{b}`" for b in step.blanks)
            else:
                fix = ": this step has no blanks, so remove these settings"
            self.add(line, 1, f"{what} has settings for a blank `{name}` that step {number} does not have{fix}")
            return
        if not isinstance(spec, dict):
            self.add(line, 1, f"{what}: the settings of blank `{name}` must be a section, like [blanks.{name}]")
            return
        blank = blanks.get(name)
        for key, value in spec.items():
            key_line = at(("blanks", name), key)
            if key == "hints":
                if isinstance(value, list) and all(isinstance(h, str) and h.strip() for h in value):
                    if blank is not None:
                        blank.hints = list(value)
                else:
                    self.add(
                        key_line,
                        1,
                        f"{what}: the hints of blank `{name}` must be a list of sentences in quotes,"
                        ' like hints = ["First hint.", "Second hint."]',
                    )
            elif key in ("rtol", "atol"):
                if _is_number(value) and value >= 0:
                    if blank is not None:
                        setattr(blank, key, float(value))
                else:
                    self.add(
                        key_line,
                        1,
                        f"{what} gives blank `{name}` {key} = {_show(value)}: {key} must be a number,"
                        f" 0 or more, like {key} = 1e-4",
                    )
            elif key in DIAGNOSIS_CODES:
                if isinstance(value, str) and value.strip():
                    if blank is not None:
                        blank.diagnosis_hints[key] = value
                else:
                    self.add(
                        key_line,
                        1,
                        f"{what}: the hint for `{key}` of blank `{name}` must be a sentence in quotes,"
                        f' like {key} = "Look at the sign."',
                    )
            else:
                self.add(
                    key_line,
                    1,
                    f"{what} gives blank `{name}` an unknown setting `{key}`: use hints, rtol, atol,"
                    f" or a hint for one of the diagnoses {', '.join(sorted(DIAGNOSIS_CODES))}",
                )


# ----------------------------------------------------------------------------------------------
# Blanks


def _trim_blank_lines(lines: list[str]) -> str:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end])


def _line_starts(text: str) -> list[int]:
    return [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]


def _scan_blanks(code: str) -> _Scan:
    """Find the `{{name: answer}}` blanks of a step's code and split it into segments."""
    scan = _Scan()
    starts = _line_starts(code)
    lines = code.split("\n")

    def place(pos: int) -> tuple[int, int]:
        line = bisect.bisect_right(starts, pos) - 1
        return line, pos - starts[line]

    def add_text(begin: int, end: int) -> None:
        if end > begin:
            scan.segments.append(Segment(text=code[begin:end]))
            scan.starts.append(place(begin))

    def add_blank(draft: _BlankDraft, begin: int) -> None:
        scan.blanks.append(draft)
        scan.segments.append(Segment(blank=draft.name))
        scan.starts.append(place(begin))

    text_from = pos = 0
    while True:
        j = code.find("{{", pos)
        if j < 0:
            break
        opening = _OPEN_RE.match(code, j)
        if not opening:
            pos = j + 1
            continue
        name = opening.group(1)
        line, col = place(j)
        line_start = starts[line]
        line_end = code.find("\n", j)
        line_end = len(code) if line_end < 0 else line_end
        prefix = code[line_start:j]
        if code[opening.end() : line_end].strip():
            end = _scan_inline(code, opening, line, col, line_end, scan, place)
            if end is None:
                pos = opening.end()
                continue
            add_text(text_from, j)
            raw = code[opening.end() : end]
            answer = raw.strip()
            draft = _BlankDraft(
                name,
                None,
                answer,
                line,
                col,
                answer_line=line,
                answer_col=col + (opening.end() - j) + len(raw) - len(raw.lstrip()),
            )
            if not answer:
                scan.problems.append(
                    (line, col, f"the blank `{name}` has no answer: write the reference answer after `{name}:`")
                )
            add_blank(draft, j)
            text_from = pos = end + 2
            continue
        # A block: `{{name:` ends its line; answer lines follow until a line holding only `}}`.
        if prefix.strip():
            scan.problems.append(
                (
                    line,
                    col,
                    f"the block blank `{name}` must start on a line of its own: leave only spaces before"
                    f" `{{{{{name}:` (put the code before it on the line above)",
                )
            )
        indent = prefix[: len(prefix) - len(prefix.lstrip())]
        answer_lines: list[str] = []
        close_line: int | None = None
        resume: int | None = None
        depth = 0
        k = line + 1
        while k < len(lines) and k < len(starts):
            text = lines[k]
            if text.strip() == "}}":
                close_line = k
                break
            inner = _OPEN_RE.search(text)
            if inner:
                scan.problems.append(
                    (
                        line,
                        col,
                        f"the block blank `{name}` is not closed before the blank `{inner.group(1)}` starts"
                        f" (blanks cannot sit inside blanks): add a line holding only }}}} after its last line",
                    )
                )
                break
            cut, depth = _early_close(text, depth)
            if cut is not None:
                scan.problems.append(
                    (
                        k,
                        cut,
                        f"the block blank `{name}` must end with }}}} alone on its own line: move this }}}}"
                        " to the next line",
                    )
                )
                resume = starts[k] + cut + 2
                break
            answer_lines.append(text)
            k += 1
        else:
            scan.problems.append(
                (
                    line,
                    col,
                    f"the block blank `{name}` is never closed: add a line holding only }}}} after its last line",
                )
            )
        if close_line is None:
            pos = resume if resume is not None else opening.end()
            continue
        kept = [i for i, text in enumerate(answer_lines) if text.strip()]
        if not kept:
            scan.problems.append(
                (
                    line,
                    col,
                    f"the block blank `{name}` has no answer: write the reference lines between"
                    f" `{{{{{name}:` and }}}}",
                )
            )
            answer, first, margin = "", line + 1, 0
        else:
            body = answer_lines[kept[0] : kept[-1] + 1]
            dedented = textwrap.dedent("\n".join(body))
            margin = len(body[0]) - len(dedented.split("\n")[0])
            answer, first = dedented, line + 1 + kept[0]
        add_text(text_from, line_start)
        add_blank(
            _BlankDraft(name, "block", answer, line, col, indent=indent, answer_line=first, answer_col=margin),
            line_start,
        )
        text_from = pos = starts[close_line + 1] if close_line + 1 < len(starts) else len(code)
    add_text(text_from, len(code))
    return scan


def _early_close(text: str, depth: int) -> tuple[int | None, int]:
    """Column of a `}}` closing a block at the end of an answer line (if any), and the brace depth after."""
    for i, c in enumerate(text):
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                if text.startswith("}}", i) and not text[i + 2 :].strip():
                    return i, depth
            else:
                depth -= 1
    return None, depth


def _scan_inline(
    code: str,
    opening: re.Match[str],
    line: int,
    col: int,
    line_end: int,
    scan: _Scan,
    place: Any,
) -> int | None:
    """Where the `}}` closing a one-line blank is; None (after a problem) when there is none."""
    name = opening.group(1)
    depth = 0
    stray: int | None = None
    k = opening.end()
    while k < len(code):
        c = code[k]
        if c == "{":
            inner = _OPEN_RE.match(code, k)
            if inner:
                scan.problems.append(
                    (
                        line,
                        col,
                        f"the blank `{name}` is never closed before the next blank `{inner.group(1)}` starts"
                        " (blanks cannot sit inside blanks): add }} after its answer",
                    )
                )
                return None
            depth += 1
        elif c == "}":
            if depth > 0:
                depth -= 1
            elif code.startswith("}}", k):
                if k > line_end:
                    scan.problems.append(
                        (
                            line,
                            col,
                            f"the blank `{name}` runs over several lines: a one-line blank ends with }}}} on"
                            f" the same line, and a block blank has nothing after `{{{{{name}:` on its first"
                            " line and }} alone on its last line",
                        )
                    )
                    return None
                if stray is not None:
                    scan.problems.append(
                        (
                            line,
                            stray,
                            f"the answer of blank `{name}` has a }} that closes no {{: braces inside an"
                            " answer must balance",
                        )
                    )
                return k
            elif stray is None and k < line_end:
                stray = place(k)[1]
        k += 1
    scan.problems.append((line, col, f"the blank `{name}` is never closed: add }}}} after its answer"))
    return None


def _inline_kind(segments: list[Segment], blanks: dict[str, _BlankDraft], blank: _BlankDraft) -> str:
    """"expression" where the blank is read as a value on its own, else "statement"."""
    placeholder = _PLACEHOLDER
    while any(placeholder in s.text for s in segments) or any(placeholder in b.answer for b in blanks.values()):
        placeholder += "_"
    text, _ = _render(segments, blanks, {blank.name: placeholder})
    try:
        tree = _parse_quiet(text)
    except _PARSE_FAILURES:
        return "statement"
    loaded = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Name) and node.value.id == placeholder:
            return "statement"
        if isinstance(node, ast.Name) and node.id == placeholder:
            if not isinstance(node.ctx, ast.Load):
                return "statement"
            loaded = True
    return "expression" if loaded and _is_expression(blank.answer) else "statement"


def _keeps_meaning(
    segments: list[Segment], blanks: dict[str, _BlankDraft], blank: _BlankDraft, reference: str
) -> bool:
    """Whether writing the answer in parentheses leaves the program unchanged (it stands alone)."""
    text, _ = _render(segments, blanks, {blank.name: f"({blank.answer})"})
    try:
        return ast.dump(_parse_quiet(text)) == reference
    except _PARSE_FAILURES:
        return True
