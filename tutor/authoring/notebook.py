"""`tutor import`: a Jupyter exercise notebook (and its solution) as a lesson file.

The notebooks are read with nbformat (a file of at most `NOTEBOOK_LIMIT` bytes, read like every
other file someone else wrote: tutor/lesson/files.py). The code cells' blanks are found in cells.py,
their imports, figures and file loads rewritten in transform.py; this module puts the lesson
together:

- Markdown cells are prose; each heading starts a step, titled by it. A heading followed by no code
  before the next heading is kept as a bold line of the next step's prose. The notebook's first
  level-1 heading, before any code, is the lesson's title (else the notebook's file name).
- Code before the first heading that holds no blank is the lesson's setup; any other code cell is
  part of the step it falls in, as its own ```python block, between the prose around it.
- Each step's check block compares the lists its program appends to and the names its blanks are
  assigned to (outside functions and classes), and draws the charts its figures became.
- In prose, a ```python fence becomes ```py (a fence the learner reads, not a program) and `{{`
  becomes `{ {` (it would read as a blank).
- The lesson's id is the output file's name without its numeric prefix; a data file the notebook
  loads is copied beside the lesson when the lesson goes to another folder.

`build` returns the text, every note (with its cell and line) and the map from lesson lines back to
cells, which the command uses to put a problem `tutor check` finds back in the notebook.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tutor.lesson.files import RefusedFile, read_limited

from .cells import (
    BLANK_MARK, CodeCell, Namer, Note, Piece, TextCell, align, drop_magics, has_nbgrader_markers, nbgrader_cell,
    pair_cell,
)
from .transform import Chart, State, rewrite, uses_torch

NOTEBOOK_LIMIT = 64 * 1024 * 1024  # bytes: a notebook with its outputs (images) included
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE_RE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\w*)(.*)$")
_APPEND_RE = re.compile(r"^\s*([A-Za-z_]\w*)\.append\(")
_NBGRADER_ANSWER = "YOUR ANSWER HERE"


class AuthoringError(Exception):
    """A notebook that cannot be imported: one sentence with the file and what to do."""


@dataclass
class Section:
    title: str | None
    parts: list[TextCell | CodeCell] = field(default_factory=list)

    @property
    def charts(self) -> list[Chart]:
        return [c for p in self.parts if isinstance(p, CodeCell) for c in p.charts]

    def has_code(self) -> bool:
        return any(isinstance(p, CodeCell) and p.pieces for p in self.parts)

    def has_blanks(self) -> bool:
        return any(isinstance(p, CodeCell) and any(x.blanks for x in p.pieces) for p in self.parts)


@dataclass
class Imported:
    text: str
    notes: list[Note]
    lines: dict[int, tuple[int, int]]  # lesson line -> (cell, line in the cell)
    blanks: dict[str, tuple[int, int]]  # blank name -> (cell, line)
    data: dict[str, Path]  # NAME -> the file the notebook loads
    framework: str


def _nbformat():
    """nbformat, imported without jsonschema's checker of the `iri` string format: the module behind it
    (rfc3987_syntax, when installed) builds a parser at import, 1.4 s of every `tutor import`, for a
    format no notebook schema uses (nbformat validates without format checks). Only when jsonschema
    is not loaded yet; afterwards the module imports as usual."""
    import sys

    if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
        import nbformat

        return nbformat
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment] - `import` of it raises ImportError
    try:
        import nbformat
    finally:
        if sys.modules.get("rfc3987_syntax", 0) is None:
            del sys.modules["rfc3987_syntax"]
    return nbformat


def read_notebook(path: Path):
    """The notebook at `path` (nbformat 4); AuthoringError with a sentence if it cannot be read."""
    nbformat = _nbformat()

    try:
        raw = read_limited(path, NOTEBOOK_LIMIT)
    except RefusedFile as exc:
        raise AuthoringError(f"{path}: the notebook cannot be read: {exc.reason}") from None
    try:
        return nbformat.reads(raw.decode("utf-8"), as_version=4)
    except UnicodeDecodeError:
        raise AuthoringError(f"{path}: the notebook is not UTF-8 text: save it again from Jupyter") from None
    except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError, nbformat.ValidationError) as exc:
        raise AuthoringError(f"{path}: this is not a Jupyter notebook nbformat can read ({str(exc)[:160]})") from None


def _lines(source: str) -> list[str]:
    return source.replace("\r\n", "\n").split("\n")


def _code_cells(nb) -> list[tuple[int, list[str]]]:
    return [(k, _lines(c.source)) for k, c in enumerate(nb.cells, 1) if c.cell_type == "code"]


def _alike(a: list[str], b: list[str]) -> bool:
    """Two code cells that are the same cell of an exercise and its solution (for pairing them)."""
    words = {w for line in a for w in re.findall(r"\w+", line)}
    other = {w for line in b for w in re.findall(r"\w+", line)}
    return bool(words | other) and len(words & other) >= 0.5 * min(len(words), len(other)) > 0


def _cells(exercise, solution, notes: list[Note]) -> list[TextCell | CodeCell]:
    """The exercise's cells, each code cell with its blanks (paired with the solution's, or nbgrader's)."""
    namer = Namer()
    solved: dict[int, list[str]] = {}
    if solution is not None:
        ex, so = _code_cells(exercise), _code_cells(solution)
        pairs = list(zip(range(len(ex)), range(len(so)))) if len(ex) == len(so) else align(
            [c for _, c in ex], [c for _, c in so], _alike)
        solved = {ex[i][0]: drop_magics(so[j][1], 0, []) for i, j in pairs}
    out: list[TextCell | CodeCell] = []
    for number, cell in enumerate(exercise.cells, 1):
        if cell.cell_type == "markdown":
            if _NBGRADER_ANSWER in cell.source:
                notes.append(Note(number, 0, "an nbgrader answer cell (YOUR ANSWER HERE) was dropped"))
                continue
            out.append(TextCell(number, cell.source))
            continue
        if cell.cell_type != "code":
            continue
        lines = drop_magics(_lines(cell.source), number, notes)
        if solution is None:
            out.append(nbgrader_cell(number, lines, namer, notes))
        elif any(BLANK_MARK in line for line in lines):
            if number not in solved:
                notes.append(Note(number, 0, "no cell of the solution matches this cell: its ??? were left for the author", True))
                out.append(CodeCell(number, [Piece([f"# {line}"], [f"# {line}"], k) for k, line in enumerate(lines, 1)]))
                continue
            out.append(pair_cell(number, lines, solved[number], namer, notes))
        else:
            out.append(CodeCell(number, [Piece([line], [line], k) for k, line in enumerate(lines, 1)]))
    return out


def _tidy(cell: CodeCell) -> CodeCell:
    """The cell without its leading and trailing blank lines and repeated blank lines; no pieces at
    all when nothing but comments is left (a cell of imports, say)."""
    def blank(p: Piece) -> bool:
        return not p.blanks and not any(t.strip() for t in p.template)

    if all(not p.blanks and all(not t.strip() or t.strip().startswith("#") for t in p.template) for p in cell.pieces):
        return CodeCell(cell.number, [], cell.charts)
    pieces: list[Piece] = []
    for p in cell.pieces:
        if blank(p) and (not pieces or blank(pieces[-1])):
            continue
        pieces.append(p)
    while pieces and blank(pieces[-1]):
        pieces.pop()
    return CodeCell(cell.number, pieces, cell.charts)


def _sections(cells: list[TextCell | CodeCell], notes: list[Note]) -> tuple[str | None, list[Section]]:
    """The lesson title and the sections: one per heading, a heading without code merged into the next."""
    title: str | None = None
    sections = [Section(None)]
    for cell in cells:
        if isinstance(cell, CodeCell):
            if cell.pieces or cell.charts:
                sections[-1].parts.append(cell)
            continue
        prose: list[str] = []
        fence = ""
        for line in _lines(cell.text):
            fenced = _FENCE_RE.match(line)
            if fenced and (not fence or fenced.group(2).startswith(fence)):
                fence = "" if fence else fenced.group(2)[:3]
                lang = {"python": "py", "toml": "text"}.get(fenced.group(3).lower(), fenced.group(3))
                line = f"{fenced.group(1)}{fenced.group(2)}{lang}{fenced.group(4)}"
            heading = None if fence else _HEADING_RE.match(line)
            if heading is None:
                prose.append(line.replace("{{", "{ {"))
                continue
            text = heading.group(2).strip()
            if title is None and len(heading.group(1)) == 1 and len(sections) == 1:  # the notebook's first heading
                title = text
                continue
            if prose:
                sections[-1].parts.append(TextCell(cell.number, "\n".join(prose)))
                prose = []
            current = sections[-1]
            if current.has_code() or current.title is None:
                sections.append(Section(text))
            else:  # a heading with no code before the next: a bold line of the next step
                current.parts.insert(0, TextCell(cell.number, f"**{current.title}**"))
                current.title = text
        if prose:
            sections[-1].parts.append(TextCell(cell.number, "\n".join(prose)))
    return title, sections


def _program(parts: list[TextCell | CodeCell]) -> tuple[str, list[Piece]]:
    pieces = [p for part in parts if isinstance(part, CodeCell) for p in part.pieces]
    return "\n".join(line for p in pieces for line in p.reference) + "\n", pieces


def _compare(parts: list[TextCell | CodeCell]) -> list[str]:
    """What a step's check block compares: the lists it appends to, and the names its blanks set."""
    source, pieces = _program(parts)
    names: list[str] = []
    for p in pieces:
        for line in p.reference:
            m = _APPEND_RE.match(line)
            if m:
                names.append(m.group(1))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return list(dict.fromkeys(names))
    owner: list[Piece] = [p for p in pieces for _ in p.reference]

    def visit(stmts: list[ast.stmt]) -> None:
        for stmt in stmts:
            if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and owner[stmt.lineno - 1].blanks:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                names.extend(t.id for t in targets if isinstance(t, ast.Name))
            for part in ("body", "orelse"):
                if isinstance(stmt, (ast.For, ast.While, ast.If, ast.With)) and getattr(stmt, part, None):
                    visit(getattr(stmt, part))

    visit(tree.body)
    return list(dict.fromkeys(names))


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _check_block(section: Section, notes: list[Note]) -> list[str]:
    compare = _compare(section.parts)
    charts: dict[str, Chart] = {}
    for chart in section.charts:
        if chart.kind in charts:
            notes.append(Note(chart.cell, chart.line, f"a second `{chart.kind}` chart in this step was left out: a step draws one of each"))
        else:
            charts[chart.kind] = chart
    if not compare and not charts:
        return []
    out = ["```toml check"]
    if compare:
        out += ["[compare]"] + [f"{name} = {{}}" for name in compare]
    if charts:
        out += ([""] if compare else []) + ["[charts]"]
        for kind, chart in charts.items():
            value = chart.value
            if isinstance(value, dict):
                text = "{ " + ", ".join(f"{k} = {_toml_string(str(v))}" for k, v in value.items()) + " }"
            else:
                text = _toml_string(str(value))
            out.append(f"{kind} = {text}")
    return out + ["```"]


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.origin: dict[int, tuple[int, int]] = {}
        self.blanks: dict[str, tuple[int, int]] = {}

    def add(self, text: str = "") -> None:
        self.lines.extend(text.split("\n"))  # one entry a file line: `origin` counts them

    def code(self, cells: list[CodeCell], info: str = "python") -> None:
        self.add(f"```{info}")
        for cell in cells:
            for piece in cell.pieces:
                for name in piece.blanks:
                    self.blanks[name] = (cell.number, piece.line)
                for line in piece.template:
                    self.add(line.rstrip())
                    self.origin[len(self.lines)] = (cell.number, piece.line)
        self.add("```")
        self.add()

    def prose(self, parts: list[TextCell | CodeCell]) -> None:
        for part in parts:
            if isinstance(part, TextCell) and part.text.strip():
                self.add(part.text.strip("\n"))
                self.add()


def _lesson_id(out: Path) -> str:
    stem = re.sub(r"^\d+[-_ ]*", "", out.stem).lower()
    return re.sub(r"[^a-z0-9]+", "-", stem).strip("-") or "imported-lesson"


def build(exercise_path: Path, solution_path: Path | None, out: Path) -> Imported:
    """The lesson text for an exercise notebook (and its solution), with notes and the line map."""
    exercise = read_notebook(exercise_path)
    solution = read_notebook(solution_path) if solution_path is not None else None
    sources = [c.source for c in exercise.cells if c.cell_type == "code"]
    if solution is None and not has_nbgrader_markers(sources):
        if any(BLANK_MARK in s for s in sources):
            raise AuthoringError(f"{exercise_path}: its ??? need their answers: give the solution notebook with --solution SOLUTION.ipynb")
        raise AuthoringError(f"{exercise_path}: no blanks found: mark them with ??? (and give --solution SOLUTION.ipynb),"
                             " or use nbgrader's ### BEGIN SOLUTION / ### END SOLUTION lines")
    if solution is not None and not any(BLANK_MARK in s for s in sources):
        raise AuthoringError(f"{exercise_path}: its code cells hold no ???: write ??? where the learner should fill in")
    notes: list[Note] = []
    cells = _cells(exercise, solution, notes)
    every = sources + ([c.source for c in solution.cells if c.cell_type == "code"] if solution is not None else [])
    state = State(folder=exercise_path.resolve().parent, framework="torch" if uses_torch(every) else "numpy", notes=notes)
    cells = [_tidy(rewrite(c, state)) if isinstance(c, CodeCell) else c for c in cells]
    cells = [c for c in cells if not isinstance(c, CodeCell) or c.pieces or c.charts]
    title, sections = _sections(cells, notes)
    return _assemble(title or exercise_path.stem, sections, state, out)


def _assemble(title: str, sections: list[Section], state: State, out: Path) -> Imported:
    w = _Writer()
    w.add("+++")
    w.add(f"id = {_toml_string(_lesson_id(out))}")
    w.add(f"title = {_toml_string(title)}")
    w.add(f"framework = {_toml_string(state.framework)}")
    if state.data:
        base = state.folder.resolve()
        w.add("data = { " + ", ".join(f"{name} = {_toml_string(path.relative_to(base).as_posix())}"
                                       for name, path in state.data.items()) + " }")
    w.add("timeout = 30                        # seconds one run may take: lower it once the lesson runs")
    w.add("+++")
    w.add()
    intro, rest = sections[0], sections[1:]
    w.prose(intro.parts)
    codes = [p for p in intro.parts if isinstance(p, CodeCell) and p.pieces]
    steps = [s for s in rest if s.has_code()]
    if codes and not intro.has_blanks():
        w.code(codes, "python setup")
    elif codes:
        steps.insert(0, Section(title, list(codes)))
    elif not steps:
        raise AuthoringError("the notebook has no code cells to make a lesson of")
    for section in steps:
        w.add(f"## {section.title}")
        w.add()
        for part in section.parts:
            if isinstance(part, TextCell):
                w.prose([part])
            elif part.pieces:
                w.code([part])
        check = _check_block(section, state.notes)
        for line in check:
            w.add(line)
        if check:
            w.add()
    for section in rest:
        if not section.has_code():  # prose after the last code: the end of the last step
            w.add(f"**{section.title}**")
            w.add()
            w.prose(section.parts)
    return Imported("\n".join(w.lines).rstrip("\n") + "\n", state.notes, w.origin, w.blanks, dict(state.data), state.framework)
