"""A lesson as one Python file the learner edits in their own editor, and the answers read back from it.

`render_program(lesson, answers)` writes the lesson as a Python file: a docstring with its title and
data, the introduction and each step's prose as comments, the setup, every step's program, and each
blank as `???` (or the learner's answer where there is one; a block blank as an indented block).
`answers_from_program(lesson, text, path)` matches such a file against the lesson's template (walked
by tutor/lesson/template.py's `walk`, the one walker) and returns the answers in it, blank -> text.
`tutor edit`, `tutor grade --program`, `tutor watch` and the app's editor key use these two.

Decisions, written down:

- Only the places where `???` stood are answers: one line's text for an expression or statement
  blank, the indented lines for a block blank. Every other line of code must stay the lesson's: a
  changed, deleted or added line of code raises `ProgramFileError`, naming the file's line and what
  the lesson has there. Grading runs the lesson's own program with the answers written in, never the
  learner's file, so an edit outside a blank would silently not count: it is refused instead.
- Comments and the docstring are the learner's: a comment may be added, changed or deleted anywhere
  (notes beside the code, the prose trimmed), since they change nothing that runs. A code line is
  compared without its trailing comment, and a line holding only a comment is skipped.
- Extra blank lines and trailing spaces are not edits; indentation is (it is Python).
- A `???` left in place (or a blank emptied) is absent from the answers, so it is graded `missing`.
- A block blank's answer is every line between the code line before it and the code line after it
  (the one that matches the lesson there; a line indented less than the block also ends it), its
  first and last comment-only or empty lines left out, dedented.
- Known limit: two block blanks with no code line between them cannot be told apart (the first
  takes all the lines); no built-in lesson has one.
"""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .files import RefusedFile, read_limited
from .model import Lesson, LessonProblem, Location, Segment
from .template import TemplateBlank, block_lines, walk

HOLE = "???"  # what a blank without an answer is written as
PROGRAM_FILE_LIMIT = 1024 * 1024  # bytes: a lesson as a file is some 10 KB
COMMENT_WIDTH = 77  # characters of prose on a comment line: "# " + 77 fits an 80-column terminal
LINE_LIMIT = 10_000  # characters of one line of code compared with the lesson's
_RULE = "# " + "=" * 76
_ONLY_HOLES = "only the ??? places are answers"


class ProgramFileError(Exception):
    """A lesson's program file that cannot be read as answers: one sentence naming its place (str() is
    `path:line: sentence`), shaped like a `LessonError` (`problems`) for callers that print those."""

    def __init__(self, path: str, line: int | None, sentence: str) -> None:
        self.path = path
        self.line = line
        self.sentence = sentence
        self.location = Location(path, line or 0)
        super().__init__(f"{path}:{line}: {sentence}" if line else f"{path}: {sentence}")

    @property
    def problems(self) -> list[LessonProblem]:
        return [LessonProblem(self.location, self.sentence)]


# ---- the template as lines --------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One line of code: literal text and one-line blanks, in order (`str` parts and blanks)."""

    parts: tuple[str | TemplateBlank, ...]

    @property
    def blanks(self) -> list[TemplateBlank]:
        return [p for p in self.parts if not isinstance(p, str)]

    def text(self, fill: Mapping[str, str] | None = None) -> str:
        """The line with each blank written as its answer in `fill` (or `???`)."""
        return "".join(p if isinstance(p, str) else (fill or {}).get(p.name, HOLE) for p in self.parts)

    @functools.cached_property
    def literals(self) -> list[str]:
        """The text before, between and after the blanks (one more than the blanks), the line's own
        comment and trailing spaces left out of the last."""
        literals = [""]
        for part in self.parts:
            if isinstance(part, str):
                literals[-1] += part
            else:
                literals.append("")
        full = self.text()
        cut = len(full) - len(code_part(full))  # characters of comment and spaces at the end
        if cut <= len(literals[-1]):
            literals[-1] = literals[-1][: len(literals[-1]) - cut]
        return literals


@dataclass(frozen=True)
class _Block:
    blank: TemplateBlank


_Item = _Line | _Block


def _items(segments: Sequence[Segment], blanks: Mapping[str, TemplateBlank]) -> list[_Item]:
    """A step's template as lines and blocks, from the one walk (template.walk)."""
    items: list[_Item] = []
    current: list[str | TemplateBlank] = []
    for piece in walk(segments, blanks):
        if piece.blank is None:
            for k, text in enumerate(piece.text.split("\n")):
                if k:
                    items.append(_Line(tuple(current)))
                    current = []
                if text:
                    current.append(text)
        elif piece.blank.kind == "block":
            if current:  # a block starts a line (model.Segment); kept whole if ever it does not
                items.append(_Line(tuple(current)))
                current = []
            items.append(_Block(piece.blank))
        else:
            current.append(piece.blank)
    if current:
        items.append(_Line(tuple(current)))
    return items


def _code_items(lesson: Lesson) -> list[_Item]:
    """Every line and block of code the file holds, in order: the setup, then each step's program."""
    items: list[_Item] = [_Line((line,)) for line in lesson.setup.split("\n")] if lesson.setup.strip() else []
    for step in lesson.steps:
        items += _items(step.segments, lesson.blanks)
    return items


# ---- writing ----------------------------------------------------------------------------------


_LIST_ITEM = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+")


def _comment(text: str) -> list[str]:
    """Prose as comment lines that fit an 80-column editor: each paragraph (and each list item) is
    wrapped again at COMMENT_WIDTH; a line indented four spaces or more (a formula, a code block)
    is kept as it is written."""
    if not text.strip():
        return []
    out: list[str] = []
    words: list[str] = []
    first = rest = ""  # the paragraph's first-line and next-line indents

    def flush() -> None:
        if words:
            out.extend(textwrap.wrap(" ".join(words), COMMENT_WIDTH, initial_indent=first, subsequent_indent=rest,
                                     break_long_words=False, break_on_hyphens=False))
            words.clear()

    for line in text.strip("\n").split("\n"):
        indent = len(line) - len(line.lstrip())
        item = _LIST_ITEM.match(line)
        if not line.strip() or (indent >= 4 and not words) or item:
            flush()
        if not line.strip() or (indent >= 4 and not words):
            out.append(line.rstrip())
            continue
        if not words:
            first = line[:indent]
            rest = " " * (item.end() if item else indent)
        words += line.split()
    flush()
    return [f"# {line}".rstrip() for line in out]


def _docstring_text(text: str) -> str:
    """Text safe inside a triple-quoted docstring on one line."""
    return " ".join(text.split()).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _inline_answer(answers: Mapping[str, str], name: str) -> str:
    answer = answers.get(name)
    text = " ".join(answer.split("\n")).strip() if isinstance(answer, str) else ""
    return text or HOLE


def _render_items(items: Sequence[_Item], answers: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if isinstance(item, _Block):
            answer = answers.get(item.blank.name)
            lines = block_lines(answer) if isinstance(answer, str) and answer.strip() else [HOLE]
            out += [item.blank.indent + line if line.strip() else "" for line in lines]
        else:
            out.append(item.text({b.name: _inline_answer(answers, b.name) for b in item.blanks}).rstrip())
    return out


def render_program(lesson: Lesson, answers: Mapping[str, str], *, data: Sequence[str] | None = None,
                   commands: Sequence[str] = ()) -> str:
    """The lesson as one Python file, each blank `???` or its answer in `answers`.

    `data` are lines that say where the lesson's data comes from (the CLI gives each dataset's file
    path; by default its name); `commands` are the commands that check the file, for its docstring.
    """
    data_lines = list(data) if data is not None else list(lesson.datasets)
    doc = [f'"""{_docstring_text(lesson.title)}', "", f"Lesson {_docstring_text(lesson.id)}, from {_docstring_text(str(lesson.path))}."]
    if data_lines:
        doc.append("Data (loaded by the tutor before this program runs):")
        doc += [f"    {_docstring_text(line)}" for line in data_lines]
    doc += [
        "",
        "Replace each ??? with your answer and save. Only the ??? places are answers:",
        "the rest of the code is the lesson's and must stay as it is (the comments are",
        "yours to add or change). The tutor runs the lesson's program with your answers",
        "written in, in its sandbox.",
    ]
    if commands:
        doc.append("Check it with:")
        doc += [f"    {_docstring_text(c)}" for c in commands]
    doc.append('"""')
    out = doc + [""]
    if lesson.intro.strip():
        out += _comment(lesson.intro) + [""]
    if lesson.setup.strip():
        out += ["# Set up before the steps (read-only).", ""]
        out += lesson.setup.rstrip("\n").split("\n") + [""]
    for number, step in enumerate(lesson.steps, 1):
        out += ["", _RULE, f"# Step {number} of {len(lesson.steps)}: {' '.join(step.title.split())}", _RULE]
        out += _comment(step.prose) + [""]
        out += _render_items(_items(step.segments, lesson.blanks), answers)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


# ---- reading ----------------------------------------------------------------------------------


def code_part(line: str) -> str:
    """A line without its comment and trailing spaces: the `#` that starts a comment is the first
    one outside a string literal (a line is scanned alone: a line inside a multi-line string is
    read as code)."""
    if "#" not in line:
        return line.rstrip()
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == "#":
            return line[:i].rstrip()
        if c in "\"'":
            quote = c * 3 if line.startswith(c * 3, i) else c
            i += len(quote)
            while i < n and not line.startswith(quote, i):
                i += 2 if line[i] == "\\" else 1
            i += len(quote)
            continue
        i += 1
    return line.rstrip()


@dataclass(frozen=True)
class _FileLine:
    number: int  # 1-based line of the file
    text: str  # the line, trailing spaces removed
    code: str  # without its comment ("" for an empty or comment-only line)


def _short(text: str, width: int = 60) -> str:
    text = text.strip()
    return text if len(text) <= width else text[: width - 3] + "..."


class _Matcher:
    """Walks the file's lines beside the lesson's code lines, collecting the answers."""

    def __init__(self, lesson: Lesson, lines: list[_FileLine], path: str) -> None:
        self.lesson = lesson
        self.lines = lines
        self.path = path

    def error(self, line: int | None, sentence: str) -> ProgramFileError:
        return ProgramFileError(self.path, line, sentence)

    def next_code(self, i: int) -> int | None:
        while i < len(self.lines):
            if self.lines[i].code:
                return i
            i += 1
        return None

    @staticmethod
    def match(item: _Line, code: str) -> dict[str, str] | None:
        """The answers on a file line that matches the lesson's line (its text outside the blanks
        equal, comments aside), or None."""
        literals = item.literals
        if len(literals) == 1:
            return {} if code == literals[0] else None
        head, tail = literals[0], literals[-1]
        if len(literals) == 2 and not tail and code == head.rstrip():  # the `???` at the end of the line deleted
            return {item.blanks[0].name: ""}
        if not code.startswith(head) or not code.endswith(tail) or len(code) < len(head) + len(tail):
            return None
        middle = code[len(head): len(code) - len(tail)]
        found: list[str] = []
        for literal in literals[1:-1]:  # two blanks on one line: split at the first of the text between them
            at = middle.find(literal)
            if at < 0:
                return None
            found.append(middle[:at])
            middle = middle[at + len(literal):]
        found.append(middle)
        return {b.name: text.strip() for b, text in zip(item.blanks, found)}

    def run(self, start: int) -> dict[str, str]:
        items = [it for it in _code_items(self.lesson) if isinstance(it, _Block) or it.blanks or code_part(it.text())]
        answers: dict[str, str] = {}
        i = start
        for k, item in enumerate(items):
            if isinstance(item, _Block):
                following = items[k + 1] if k + 1 < len(items) else None
                end = self.block_end(i, item.blank, following)
                if end == len(self.lines) and isinstance(following, _Line):
                    first = self.next_code(i)
                    raise self.error(self.lines[first].number if first is not None else self.lines[-1].number, f"after the ??? block `{item.blank.name}` that starts here, the lesson's line "
                                            f"`{_short(following.text())}` is missing or changed; {_ONLY_HOLES}: put it back as it was")
                answer = self.block_answer(self.lines[i:end], item.blank)
                if answer is not None:
                    answers[item.blank.name] = answer
                i = end
                continue
            j = self.next_code(i)
            if j is None:
                last = self.lines[-1].number if self.lines else 1
                raise self.error(last, f"the file ends before the lesson's line `{_short(item.text())}`; {_ONLY_HOLES}: "
                                       f"put back what was deleted, or start again with `tutor edit {self.lesson.id} --force`")
            found = self.match(item, self.lines[j].code)
            if found is None:
                raise self.mismatch(items, k, j)
            answers.update({name: text for name, text in found.items() if text and text != HOLE})
            i = j + 1
        j = self.next_code(i)
        if j is not None:
            raise self.error(self.lines[j].number, f"`{_short(self.lines[j].text)}` is not a line of the lesson; {_ONLY_HOLES}: delete it")
        return answers

    def block_end(self, i: int, blank: TemplateBlank, following: _Item | None) -> int:
        """Where a block's lines end: at the code line that matches the lesson's next line, or at
        a line indented less than the block, or at the end of the file."""
        width = len(blank.indent)
        for j in range(i, len(self.lines)):
            code = self.lines[j].code
            if not code:
                continue
            if isinstance(following, _Line) and self.match(following, code) is not None:
                return j
            if width and len(code) - len(code.lstrip()) < width:
                return j
        return len(self.lines)

    @staticmethod
    def block_answer(lines: list[_FileLine], blank: TemplateBlank) -> str | None:
        """A block's answer from its lines, or None for `???` (or nothing) left there."""
        while lines and not lines[0].code:
            lines = lines[1:]
        while lines and not lines[-1].code:
            lines = lines[:-1]
        if not lines or (len(lines) == 1 and lines[0].code.strip() == HOLE):
            return None
        text = "\n".join(line.text[len(blank.indent):] if line.text.startswith(blank.indent) else line.text for line in lines)
        return textwrap.dedent(text)

    def mismatch(self, items: list[_Item], k: int, j: int) -> ProgramFileError:
        """A file line that is not the lesson's line `items[k]`: added, the lesson's deleted, or changed."""
        item = items[k]
        assert isinstance(item, _Line)
        line = self.lines[j]
        expected = _short(item.text())
        after = self.next_code(j + 1)
        if after is not None and self.match(item, self.lines[after].code) is not None:
            return self.error(line.number, f"`{_short(line.text)}` is not a line of the lesson; {_ONLY_HOLES}: "
                                           "delete it, or move what it does into a ???")
        following = items[k + 1] if k + 1 < len(items) else None
        if isinstance(following, _Line) and self.match(following, line.code) is not None:
            return self.error(line.number, f"the lesson's line `{expected}` is missing before this line; {_ONLY_HOLES}: "
                                           f"put it back, or start again with `tutor edit {self.lesson.id} --force`")
        if item.blanks:
            return self.error(line.number, f"this line differs from the lesson's `{expected}` outside its ???; {_ONLY_HOLES}: "
                                           "change only what stands where ??? stood")
        return self.error(line.number, f"this line should be the lesson's `{expected}`; {_ONLY_HOLES}: put it back as it was")


def _file_lines(text: str, path: str) -> list[_FileLine]:
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip()
        if len(line) > LINE_LIMIT:
            raise ProgramFileError(path, number, f"this line is longer than {LINE_LIMIT} characters; an answer fits on a screen: shorten it")
        out.append(_FileLine(number, line, code_part(line)))
    return out


def _after_docstring(lines: list[_FileLine], path: str) -> int:
    """Where the code starts: after the module docstring (the learner's to change, like the comments),
    or at the top when the file has none."""
    first = next((i for i, line in enumerate(lines) if line.code), None)
    if first is None:
        return 0
    head = lines[first].text.lstrip()
    quote = next((q for q in ('"""', "'''") if head.lstrip("rRuU").startswith(q)), None)
    if quote is None:
        return first
    opening = head.index(quote) + len(quote)
    if quote in head[opening:]:
        return first + 1
    for i in range(first + 1, len(lines)):
        if quote in lines[i].text:
            return i + 1
    raise ProgramFileError(path, lines[first].number, f"the docstring that starts on this line is never closed with {quote}: close it")


def answers_from_program(lesson: Lesson, text: str, path: str) -> dict[str, str]:
    """The answers in a lesson's program file (blank -> text; a `???` left is absent). Raises
    ProgramFileError, naming `path` and the line, for an edit outside the blanks."""
    lines = _file_lines(text, path)
    return _Matcher(lesson, lines, path).run(_after_docstring(lines, path))


_READ_REMEDY = {
    "special": "give the path of the lesson's .py file",
    "link": "fix the link, or give the file's own path",
    "large": "a lesson's program is some 10 KB; check that this is the file `tutor edit` wrote",
    "os": "check the path, or write the file with `tutor edit`",
}


def read_program(lesson: Lesson, path: str) -> dict[str, str]:
    """`answers_from_program` of a file on disk, read as every file someone else wrote is
    (tutor/lesson/files.py: a regular file of bounded size, never blocking); ProgramFileError else."""
    try:
        raw = read_limited(path, PROGRAM_FILE_LIMIT)
    except RefusedFile as exc:
        raise ProgramFileError(path, None, f"cannot read the program file: {exc.reason}: {_READ_REMEDY[exc.kind]}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ProgramFileError(path, line, "this line is not UTF-8 text: save the file as UTF-8") from None
    return answers_from_program(lesson, text, path)
