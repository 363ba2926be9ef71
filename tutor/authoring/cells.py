"""A notebook's cells as the importer works on them, and the blanks found in its code cells.

Two shapes of exercise are read:

- a pair: the exercise's code cells hold `???` where the learner writes, and the solution notebook
  holds the same cells filled in. The code cells are paired in order (by likeness when the two
  notebooks have different numbers of code cells), each exercise line with its solution line, and
  every `???` becomes a blank whose reference is the text at the same place in the solution line. An
  exercise line that is `???` alone, where the solution has several lines, becomes a block blank.
- one nbgrader notebook: the lines between `### BEGIN SOLUTION` and `### END SOLUTION` become a
  block blank; `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` are dropped.

A blank is named after what it is assigned to (`loss = ???` -> `loss`, `self.linear = ???` ->
`linear`), after the method it calls (`optimizer.???` -> `zero_grad`), `loop` for a `for` line, else
`blank`; a name used before is numbered (`y_pred`, `y_pred_2`). IPython magics (`%...`) and shell
lines (`!...`) are dropped here, with a note: they are not Python.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

BLANK_MARK = "???"
_BEGIN_RE = re.compile(r"^(\s*)#+\s*BEGIN SOLUTION\s*$")
_END_RE = re.compile(r"^\s*#+\s*END SOLUTION\s*$")
_BEGIN_TESTS_RE = re.compile(r"^\s*#+\s*BEGIN HIDDEN TESTS\s*$")
_END_TESTS_RE = re.compile(r"^\s*#+\s*END HIDDEN TESTS\s*$")
_TARGET_RE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*(?:[-+*/@%&|^]|//|\*\*)?=(?!=)")
_WORD_RE = re.compile(r"[A-Za-z_]\w*")


@dataclass
class Note:
    """Something the author should know: `cell` (1-based, counting every cell), `line` in that cell
    (0: the whole cell), the sentence; `todo` when the lesson will not work until the author acts."""

    cell: int
    line: int
    text: str
    todo: bool = False

    def place(self) -> str:
        return f"cell {self.cell}" + (f", line {self.line}" if self.line else "")


@dataclass
class Piece:
    """One line of a code cell, or one block blank standing for several.

    `template` is the lesson's text for it (blanks written `{{name: answer}}`), `reference` the
    program's lines with every answer in place; `line` is its line in the exercise cell (1-based)."""

    template: list[str]
    reference: list[str]
    line: int
    blanks: list[str] = field(default_factory=list)


@dataclass
class CodeCell:
    number: int  # 1-based, counting every cell of the exercise notebook
    pieces: list[Piece]
    charts: list = field(default_factory=list)  # transform.Chart: what its figures became


@dataclass
class TextCell:
    number: int
    text: str


class Namer:
    """Unique blank names: the first `loss` is `loss`, the next `loss_2`."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    def __call__(self, base: str) -> str:
        base = re.sub(r"\W", "_", base).strip("_") or "blank"
        if base[0].isdigit():
            base = "b_" + base
        if keyword.iskeyword(base):  # `optimizer.???` answered `None`: not a name a blank can have
            base = "blank"
        count = self.used.get(base, 0) + 1
        self.used[base] = count
        return base if count == 1 else f"{base}_{count}"


def split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of one line: the comment starts at the first `#` outside a string."""
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif line.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif c in "\"'":
            quote = c * 3 if line.startswith(c * 3, i) else c
            i += len(quote) - 1
        elif c == "#":
            return line[:i].rstrip(), line[i:]
        i += 1
    return line.rstrip(), ""


def drop_magics(lines: list[str], number: int, notes: list[Note]) -> list[str]:
    """The cell's lines with IPython magics and shell lines blanked (a cell magic `%%` drops the cell)."""
    if lines and lines[0].lstrip().startswith("%%"):
        notes.append(Note(number, 0, f"the cell magic `{lines[0].strip()[:40]}` is IPython, not Python: the cell was dropped"))
        return []
    out = []
    for k, line in enumerate(lines, 1):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            notes.append(Note(number, k, f"`{stripped[:40]}` is an IPython magic or shell line: dropped"))
            out.append("")
        else:
            out.append(line)
    return out


def blank_base(exercise_line: str, at: int, answer: str) -> str:
    """The name a blank at column `at` of the exercise line gets, before numbering."""
    before = exercise_line[:at]
    target = _TARGET_RE.match(before)
    if target and not before[target.end():].strip():
        names = [part.strip().rpartition(".")[2] for part in target.group(1).split(",")]
        return "_".join(n for n in names if n)
    if before.rstrip().endswith("."):
        word = _WORD_RE.match(answer.strip())
        if word:
            return word.group()
    if before.strip().startswith("for") and not before.strip()[3:4].isalnum():
        return "loop"
    return "blank"


# ---- a pair: exercise (???) and solution ----------------------------------------------------------


def _pattern(exercise_code: str) -> re.Pattern[str]:
    """The exercise line's code as a pattern of the solution line's: each ??? a group, spaces loose."""
    parts = []
    for k, literal in enumerate(exercise_code.split(BLANK_MARK)):
        if k:
            parts.append("(.+?)")
        parts.append(r"\s*".join(re.escape(w) for w in re.split(r"\s+", literal.strip())) if literal.strip() else "")
        if literal[:1].isspace() or literal[-1:].isspace():
            parts[-1] = r"\s*" + parts[-1] + r"\s*"
    return re.compile(r"\s*" + "".join(parts) + r"\s*")


def line_matches(exercise: str, solution: str) -> bool:
    e_code, _ = split_comment(exercise)
    s_code, _ = split_comment(solution)
    if BLANK_MARK in e_code:
        return _pattern(e_code).fullmatch(s_code) is not None
    if not e_code.strip() and not s_code.strip():
        return exercise.strip() == solution.strip() or (not exercise.strip() and not solution.strip())
    return e_code.strip() == s_code.strip()


def align(a: list[str], b: list[str], same) -> list[tuple[int, int]]:
    """The pairs (i, j) of a longest common subsequence of a and b under `same(a[i], b[j])`."""
    n, m = len(a), len(b)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = best[i + 1][j + 1] + 1 if same(a[i], b[j]) else max(best[i + 1][j], best[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if same(a[i], b[j]) and best[i][j] == best[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _blank_line(line: str, solution: str, number: int, k: int, namer: Namer, notes: list[Note]) -> Piece:
    """An exercise line with ??? and its solution line: the line with its blanks."""
    code, comment = split_comment(line)
    s_code, _ = split_comment(solution)
    m = _pattern(code).fullmatch(s_code)
    if m is None:  # they differ around the ???: the whole solution line is the blank
        indent = solution[: len(solution) - len(solution.lstrip())]
        name = namer(blank_base(line, line.index(BLANK_MARK), s_code))
        notes.append(Note(number, k, f"the exercise and the solution differ around the ???: the whole line became the blank `{name}`; check it"))
        return Piece([f"{indent}{{{{{name}: {s_code.strip()}}}}}" + (f"  {comment}" if comment else "")], [s_code], k, [name])
    template, names, pos = [], [], 0
    pieces = code.split(BLANK_MARK)
    for g, answer in enumerate(m.groups()):
        template.append(pieces[g])
        pos += len(pieces[g])
        name = namer(blank_base(code, pos, answer))
        names.append(name)
        template.append(f"{{{{{name}: {answer.strip()}}}}}")
        pos += len(BLANK_MARK)
    template.append(pieces[-1])
    text = "".join(template) + (f"  {comment}" if comment else "")
    answers = [a.strip() for a in m.groups()] + [""]
    reference = "".join(p + a for p, a in zip(pieces, answers))
    return Piece([text], [reference], k, names)


def pair_cell(number: int, exercise: list[str], solution: list[str], namer: Namer, notes: list[Note]) -> CodeCell:
    """An exercise code cell with ???, read against its solution cell."""
    pairs = align(exercise, solution, line_matches)
    pieces: list[Piece] = []
    i = j = 0
    for pi, pj in pairs + [(len(exercise), len(solution))]:
        _gap(number, exercise, solution, (i, pi), (j, pj), namer, notes, pieces)
        if pi < len(exercise):
            line = exercise[pi]
            if BLANK_MARK in split_comment(line)[0]:
                pieces.append(_blank_line(line, solution[pj], number, pi + 1, namer, notes))
            else:
                pieces.append(Piece([line], [line], pi + 1))
        i, j = pi + 1, pj + 1
    return CodeCell(number, pieces)


def _gap(number: int, exercise: list[str], solution: list[str], e: tuple[int, int], s: tuple[int, int],
         namer: Namer, notes: list[Note], pieces: list[Piece]) -> None:
    """Exercise lines e[0]:e[1] and solution lines s[0]:s[1] that did not match line for line."""
    e_lines, s_lines = exercise[e[0]:e[1]], solution[s[0]:s[1]]
    marks = [k for k, line in enumerate(e_lines) if BLANK_MARK in split_comment(line)[0]]
    if len(marks) == 1 and split_comment(e_lines[marks[0]])[0].strip() == BLANK_MARK:
        while s_lines and not s_lines[-1].strip():
            s_lines = s_lines[:-1]
        line = e_lines[marks[0]]
        indent = line[: len(line) - len(line.lstrip())]
        body = [sl[len(indent):] if sl.startswith(indent) else sl.lstrip() for sl in s_lines]
        for k, el in enumerate(e_lines):
            if k != marks[0]:
                pieces.append(Piece([el], [el], e[0] + k + 1))
                continue
            if not any(b.strip() for b in body):
                notes.append(Note(number, e[0] + k + 1, "this ??? has no solution in the matching cell: write its answer in the lesson", True))
                pieces.append(Piece([f"{indent}pass  # ??? had no solution"], [f"{indent}pass"], e[0] + k + 1))
                continue
            name = namer(_block_base(body))
            template = [f"{indent}{{{{{name}:"] + [indent + b if b.strip() else "" for b in body] + [f"{indent}}}}}"]
            pieces.append(Piece(template, [indent + b if b.strip() else "" for b in body], e[0] + k + 1, [name]))
        return
    if len(e_lines) == len(s_lines):
        for k, (el, sl) in enumerate(zip(e_lines, s_lines)):
            if BLANK_MARK in split_comment(el)[0]:
                pieces.append(_blank_line(el, sl, number, e[0] + k + 1, namer, notes))
            else:
                pieces.append(Piece([el], [el], e[0] + k + 1))
        return
    for k, el in enumerate(e_lines):
        if BLANK_MARK in split_comment(el)[0]:
            indent = el[: len(el) - len(el.lstrip())]
            notes.append(Note(number, e[0] + k + 1, "no solution line matches this line with ???: write the line in the lesson", True))
            pieces.append(Piece([f"{indent}pass  # {el.strip()}"], [f"{indent}pass"], e[0] + k + 1))
        else:
            pieces.append(Piece([el], [el], e[0] + k + 1))
    if any(split_comment(sl)[0].strip() for sl in s_lines):
        notes.append(Note(number, e[0] + 1, f"the solution has {len(s_lines)} line(s) here that the exercise does not: they were left out"))


def _block_base(body: list[str]) -> str:
    """A block blank's name: its first assignment's target, a def's name, else `block`."""
    for line in body:
        stripped = line.strip()
        if stripped.startswith(("def ", "class ")):
            return _WORD_RE.findall(stripped)[1] if len(_WORD_RE.findall(stripped)) > 1 else "block"
        target = _TARGET_RE.match(line)
        if target:
            return "_".join(p.strip().rpartition(".")[2] for p in target.group(1).split(","))
    return "block"


# ---- one nbgrader notebook ------------------------------------------------------------------------


def nbgrader_cell(number: int, lines: list[str], namer: Namer, notes: list[Note]) -> CodeCell:
    """A code cell with nbgrader's solution markers: each region a block blank."""
    pieces: list[Piece] = []
    k = 0
    enclosing = ""
    while k < len(lines):
        line = lines[k]
        if _BEGIN_TESTS_RE.match(line):
            end = next((j for j in range(k + 1, len(lines)) if _END_TESTS_RE.match(lines[j])), len(lines))
            notes.append(Note(number, k + 1, "nbgrader's hidden tests were dropped"))
            k = end + 1
            continue
        begin = _BEGIN_RE.match(line)
        if begin is None:
            if line.strip().startswith("def "):
                enclosing = (_WORD_RE.findall(line.strip()) + ["", ""])[1]
            pieces.append(Piece([line], [line], k + 1))
            k += 1
            continue
        end = next((j for j in range(k + 1, len(lines)) if _END_RE.match(lines[j])), None)
        if end is None:
            notes.append(Note(number, k + 1, "this BEGIN SOLUTION has no END SOLUTION: add it to the notebook", True))
            end = len(lines)
        indent = begin.group(1)
        body = [b[len(indent):] if b.startswith(indent) else b.lstrip() for b in lines[k + 1:end]]
        while body and not body[-1].strip():
            body.pop()
        if any(b.strip() for b in body):
            base = _block_base(body)
            name = namer(enclosing if base == "block" and enclosing else base)
            template = [f"{indent}{{{{{name}:"] + [indent + b if b.strip() else "" for b in body] + [f"{indent}}}}}"]
            pieces.append(Piece(template, [indent + b if b.strip() else "" for b in body], k + 1, [name]))
        k = end + 1
    return CodeCell(number, pieces)


def has_nbgrader_markers(sources: list[str]) -> bool:
    return any(_BEGIN_RE.match(line) for src in sources for line in src.splitlines())
