"""Read lesson files (the format of docs/authoring.md) into the lesson model, reporting every problem.

Every problem an instructor can cause becomes a `LessonProblem`: the file, line and column, and one
plain sentence saying what is wrong and how to fix it. The parser collects as many as it can and
raises one `LessonError` with all of them; no other exception escapes for any input text.

This module holds the entry points and puts the parts together; each part has its own module:
header.py (the file's text and its `+++` header), markdown.py (steps, prose and fences), blanks.py
(the blanks of a step's code and their kinds), pycode.py (the code checked as Python, errors put
back at their place), checks.py (the ```toml check blocks) and template.py (the one walk over a
step's template, which renders the programs checked here). Their decisions are in their docstrings.

Decisions the format leaves open, written down here:

- `Step.code` and `Lesson.setup` end with a newline (each line is terminated); several ```python
  blocks of one step are concatenated in order, with no blank line added between them.
- `load_lessons` reads the entries `files.lesson_paths` lists (every `*.md` but hidden files and
  `README.md`, in teaching order). Files without a numeric prefix come after the numbered ones,
  with `order` 0. A folder, a named pipe, a device, a looping or dangling link, or a file over
  1 MiB named `*.md` is a problem at line 1 (what it is and what to do), never a hang or a skip.
- Problems are listed by line and column; two lessons of a folder with one id are a problem at the
  second one's `id` line.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .blanks import OPEN_RE, Scan, decide_kinds, line_starts, scan_blanks
from .checks import read_check_block
from .files import lesson_paths, lesson_sort_key
from .data import read_data_files
from .header import check_header, data_line, lesson_lines, read_lesson_text, split_header
from .markdown import Body, Fence, StepDraft, read_body, trim_blank_lines
from .model import (
    FRAMEWORK_NAMES,
    Blank,
    Lesson,
    LessonError,
    LessonProblem,
    Location,
    Step,
)
from .pycode import Code, check_syntax
from .template import render
from .toml_section import load_toml

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


# ----------------------------------------------------------------------------------------------
# Helpers


def _problem(path: str | Path, line: int, col: int, message: str) -> LessonProblem:
    return LessonProblem(Location(str(path), max(1, line), max(1, col)), message)


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _parse_file(path: Path) -> tuple[Lesson | None, list[LessonProblem], int]:
    text, refused = read_lesson_text(path)
    if text is None:
        return None, [_problem(path, 1, 1, refused or "the file cannot be read")], 1
    lesson, problems, id_line = _parse(text, path)
    if lesson is not None:
        lesson.order = lesson_sort_key(path)[1]  # the numeric prefix, 0 without one
    return lesson, problems, id_line


def _parse(text: str, path: str | Path) -> tuple[Lesson | None, list[LessonProblem], int]:
    """Parse without raising: the lesson (None when there are problems), the problems, the id line."""
    parser = _LessonParser(text, path)
    lesson = parser.parse()
    problems = sorted(parser.problems, key=lambda p: (p.location.line, p.location.col))
    return (None if problems else lesson), problems, parser.id_line


def _fence_code(fences: list[Fence]) -> Code:
    """The code of fenced blocks, one after the other, with the file line of each of its lines."""
    body: list[str] = []
    code = Code("", [], [])
    for fence in fences:
        body.extend(fence.body)
        code.lines.extend(fence.line + 1 + k for k in range(len(fence.body)))
        code.shifts.extend([fence.shift] * len(fence.body))
    code.text = "".join(line + "\n" for line in body)
    return code


# ----------------------------------------------------------------------------------------------
# The parser


class _LessonParser:
    """One pass over a lesson file, collecting problems as it goes."""

    def __init__(self, text: str, path: str | Path):
        self.path = Path(path) if not isinstance(path, Path) else path
        self.where = str(path)
        self.lines = lesson_lines(text)
        self.problems: list[LessonProblem] = []
        self.id_line = 1

    def add(self, line: int, col: int, message: str) -> None:
        """Record one problem at a 1-based place, kept inside the file."""
        line = min(max(line, 1), len(self.lines))
        self.problems.append(_problem(self.where, line, col, message))

    def parse(self) -> Lesson | None:
        split = split_header(self.lines)
        if split.problem is not None:
            self.add(1, 1, split.problem)
        settings = self._header(split.lines, split.body_start) if split.lines is not None else None
        body = read_body(self.lines, split.body_start, self.add)
        if not body.steps and not (split.unclosed or body.swallowed):
            self.add(
                split.body_start + 1,
                1,
                "the lesson has no steps: start each step with a heading line like `## Fit a line`",
            )
        setup = self._setup(body.setup)
        steps, blanks = self._steps(body)
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
            intro=trim_blank_lines(body.intro),
            setup=setup.text,
            setup_lines=setup.lines,
            steps=steps,
            blanks=blanks,
            data=settings["data"],
        )

    def _header(self, lines: list[str], body_start: int) -> dict[str, Any] | None:
        """The header's settings (None when it cannot be used, after reporting why)."""
        data = load_toml(lines, 2, body_start, "the header", self.add)
        if data is None:
            return None
        settings, self.id_line = check_header(data, lines, self.add)
        if settings is not None and settings["data"]:  # the instructor's own files, read now (data.py)
            settings["data"] = read_data_files(self.path.parent, settings["data"], lambda name: data_line(lines, name), self.add)
        return settings

    def _setup(self, fence: Fence | None) -> Code:
        if fence is None:
            return Code("", [], [])
        code = _fence_code([fence])
        starts = line_starts(code.text)
        found = False
        for m in OPEN_RE.finditer(code.text):
            found = True
            line = bisect.bisect_right(starts, m.start()) - 1
            self.add(
                *code.place(line, m.start() - starts[line]),
                f"the setup code cannot contain blanks: move the blank `{m.group(1)}` into a step's program",
            )
        if not found:
            check_syntax(code.text, code, None, "the setup code", self.lines, self.add)
        return code

    def _steps(self, body: Body) -> tuple[list[Step], dict[str, Blank]]:
        steps: list[Step] = []
        blanks: dict[str, Blank] = {}
        first_place: dict[str, int] = {}  # blank name -> file line of its first `{{`
        step_of: dict[str, int] = {}  # blank name -> number of its step
        for index, draft in enumerate(body.steps):
            steps.append(self._step(index, draft, blanks, first_place, step_of))
        for index, draft in enumerate(body.steps):
            if draft.check is not None:
                check = draft.check
                read_check_block(
                    index + 1, check.body, check.line, check.close_line, steps[index], blanks, step_of, self.where, self.add
                )
        return steps, blanks

    def _step(
        self,
        index: int,
        draft: StepDraft,
        blanks: dict[str, Blank],
        first_place: dict[str, int],
        step_of: dict[str, int],
    ) -> Step:
        """One step from its draft; its blanks are added to `blanks` (the first of a name wins)."""
        number = index + 1
        if not draft.title:
            self.add(draft.line, 1, f"step {number} has no title: write it after `## `, like `## Fit a line`")
        code = _fence_code(draft.blocks)
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
        scan = scan_blanks(code.text)
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
                    answer_line=blank.answer_line,
                    answer_col=blank.answer_col,
                    end_line=blank.end_line,
                    end_col=blank.end_col,
                )
        return Step(
            title=draft.title,
            prose=trim_blank_lines(draft.prose),
            code=code.text,
            segments=scan.segments,
            blanks=[b.name for b in scan.blanks],
            location=Location(self.where, draft.line, 1),
            code_location=Location(self.where, code.lines[0], 1) if code.lines else None,
            code_lines=list(code.lines),
        )

    def _analyse(self, number: int, code: Code, scan: Scan) -> None:
        """Check the step's reference program parses, and decide each one-line blank's kind."""
        own = _own_names(scan)
        text, anchors = render(own.segments, {b.name: b for b in own.blanks}, {})
        tree = check_syntax(text, code, anchors, f"the program of step {number}", self.lines, self.add)
        if tree is not None:
            decide_kinds(own, tree, number, lambda line, col, message: self.add(*code.place(line, col), message))
            for blank, mine in zip(scan.blanks, own.blanks):
                blank.kind = mine.kind


def _own_names(scan: Scan) -> Scan:
    """`scan` with a name of its own for each blank: two blanks of one name (a problem reported on its
    own) would otherwise be rendered with one answer, and checked as code that was never written."""
    if len({b.name for b in scan.blanks}) == len(scan.blanks):
        return scan
    taken = {b.name for b in scan.blanks}
    blanks: list = []
    segments = []
    drafts = iter(scan.blanks)
    for segment in scan.segments:
        if segment.blank is None:
            segments.append(segment)
            continue
        draft = next(drafts)
        name = draft.name
        if any(b.name == name for b in blanks):
            k = 2
            while f"{name}_{k}" in taken:
                k += 1
            name = f"{name}_{k}"
            taken.add(name)
        blanks.append(dataclasses.replace(draft, name=name))
        segments.append(dataclasses.replace(segment, blank=name))
    return Scan(blanks, segments, scan.problems)
