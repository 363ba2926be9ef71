"""What a notebook's code becomes in a lesson program: imports, matplotlib, file loads.

A lesson program cannot import, draw or open files (docs/authoring.md), so each code cell's reference
(its solution, blanks filled) is read with `ast`, and its statements are rewritten in place:

- `import numpy as np`, `import torch.nn as nn`, `from torch import optim`: names the lesson already
  gives (np; torch, nn, optim and F in a torch lesson) are dropped; any other numpy or torch module
  becomes an assignment from them (`import torch.nn.init as init` -> `init = nn.init`). Every other
  import is dropped with a note, and so is each statement that then uses what it imported.
- matplotlib statements are dropped. At the top of a cell, `plt.plot(LIST)` becomes the chart
  `loss = "LIST"`, and `plt.scatter(X, y)` followed by `plt.plot(X, LINE)` the chart
  `fit = { x = "X", y = "y", line = "LINE" }`; other figures are named in a note.
- `NAME = np.loadtxt("FILE")` (or `np.genfromtxt`, `np.load`, `pd.read_csv`, with `.values` or
  `.to_numpy()`) becomes the header entry `data = { NAME = "FILE" }` when FILE is a .csv or .npy file
  beside the notebook (or below it); otherwise the statement is dropped with a note saying what the
  author must provide. `open(...)` (a pickle, say) is always such a note.
A statement that holds a blank is never dropped: the note says so. A loop or function whose body
loses every statement gets `pass`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from tutor.lesson.data import DATA_SUFFIXES, name_problem

from .cells import CodeCell, Note, Piece

MODULES = {"numpy": "np", "torch": "torch", "torch.nn": "nn", "torch.optim": "optim", "torch.nn.functional": "F"}
_LOADERS = {("np", "loadtxt"), ("np", "genfromtxt"), ("np", "load"), ("pd", "read_csv"), ("numpy", "loadtxt"),
            ("numpy", "load"), ("pandas", "read_csv")}
_FINE_LOAD_ARGS = {"delimiter", "skiprows", "dtype", "sep", "allow_pickle", "comments"}


@dataclass
class State:
    """What the cells of one notebook share, in order."""

    folder: Path  # the notebook's folder: where file loads are looked for
    framework: str = "numpy"
    plot_names: set[str] = field(default_factory=set)  # matplotlib and figures made with it
    unavailable: dict[str, str] = field(default_factory=dict)  # a dropped import's name -> its module
    data: dict[str, Path] = field(default_factory=dict)  # NAME -> the file it loads
    notes: list[Note] = field(default_factory=list)


@dataclass
class Chart:
    kind: str  # "loss" or "fit"
    value: object  # the TOML value: an expression, or a table of them
    cell: int
    line: int


def module_expr(module: str, framework: str) -> str | None:
    """The expression a lesson program reaches `module` with, or None when it cannot."""
    if framework == "numpy" and module.split(".")[0] == "torch":
        return None
    best = max((m for m in MODULES if module == m or module.startswith(m + ".")), key=len, default=None)
    if best is None:
        return None
    return MODULES[best] + module[len(best):]


def uses_torch(sources: list[str]) -> bool:
    return any(w in src for src in sources for w in ("import torch", "from torch"))


class _Cell:
    """One cell's rewrite: its reference parsed, the lines to drop or replace, then applied to pieces."""

    def __init__(self, cell: CodeCell, state: State) -> None:
        self.cell = cell
        self.state = state
        self.owner: list[int] = []  # reference line (0-based) -> index of its piece
        lines: list[str] = []
        for p, piece in enumerate(cell.pieces):
            lines.extend(piece.reference)
            self.owner.extend([p] * len(piece.reference))
        self.source = "\n".join(lines) + "\n"
        self.edits: dict[int, list[str] | None] = {}  # first reference line (0-based) -> replacement
        self.dropped: set[int] = set()  # reference lines (0-based) dropped
        self.charts: list[Chart] = []
        self.scatter: tuple[str, str] | None = None

    def note(self, line: int, text: str, todo: bool = False) -> None:
        self.state.notes.append(Note(self.cell.number, self.cell.pieces[self.owner[line - 1]].line if self.owner else 0, text, todo))

    def run(self) -> CodeCell:
        if not self.source.strip():
            return self.cell
        try:
            tree = ast.parse(self.source)
        except SyntaxError as exc:
            line = max(1, min(exc.lineno or 1, len(self.owner)))
            self.note(line, f"this cell is not Python the tutor can read ({exc.msg}): fix it in the lesson", True)
            return self.cell
        self.body(tree.body, top=True)
        return self.apply()

    # ---- statements ----------------------------------------------------------------------------
    def body(self, stmts: list[ast.stmt], top: bool = False) -> None:
        kept = 0
        for stmt in stmts:
            if not self.statement(stmt, top):
                kept += 1
        if not top and stmts and kept == 0:  # every statement went: the first becomes `pass`
            first = stmts[0]
            indent = self.line_text(first.lineno)[: first.col_offset]
            self.edits[first.lineno - 1] = [indent + "pass"]

    def statement(self, stmt: ast.stmt, top: bool) -> bool:
        """Rewrite one statement; True when it is dropped (or replaced by assignments)."""
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return self.drop(stmt, self.imports(stmt))
        if isinstance(stmt, (ast.For, ast.While, ast.If, ast.With)):
            if self.unavailable_in(_header_nodes(stmt), stmt):
                return True
            for part in ("body", "orelse"):
                if getattr(stmt, part, None):
                    self.body(getattr(stmt, part))
            return False
        if isinstance(stmt, (ast.FunctionDef, ast.ClassDef, ast.Try)):
            for part in ("body", "orelse", "finalbody"):
                if getattr(stmt, part, None):
                    self.body(getattr(stmt, part))
            for handler in getattr(stmt, "handlers", []):
                self.body(handler.body)
            return False
        if self.plotting(stmt, top):
            return self.drop(stmt)
        if isinstance(stmt, ast.Assign) and self.load(stmt):
            return True
        return self.unavailable_in([stmt], stmt)

    def imports(self, stmt: ast.Import | ast.ImportFrom) -> list[str]:
        """The assignments that replace an import (none when the lesson gives the name already)."""
        out = []
        pairs = ([(a.name if a.asname else a.name.split(".")[0], a.asname or a.name.split(".")[0]) for a in stmt.names]
                 if isinstance(stmt, ast.Import) else
                 [(f"{stmt.module}.{a.name}" if stmt.module else a.name, a.asname or a.name) for a in stmt.names])
        for module, name in pairs:
            top = module.split(".")[0]
            if top in ("matplotlib", "seaborn"):
                self.state.plot_names.add(name)
                continue
            expr = module_expr(module, self.state.framework) if not (isinstance(stmt, ast.ImportFrom) and stmt.level) else None
            if name == "*" or expr is None:
                self.state.unavailable[name] = module
                self.note(stmt.lineno, f"`{module}` is not available in lessons: its import was dropped")
            elif expr != name:
                out.append(f"{name} = {expr}")
        return out

    def plotting(self, stmt: ast.stmt, top: bool) -> bool:
        value = getattr(stmt, "value", None)
        if not isinstance(stmt, (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign)) or value is None:
            return False
        if _root(value) not in self.state.plot_names:
            return False
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                self.state.plot_names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            self.figure(value, top, stmt.lineno)
        return True

    def figure(self, call: ast.Call, top: bool, line: int) -> None:
        kind = call.func.attr  # type: ignore[attr-defined]
        args = [ast.get_source_segment(self.source, a) or "" for a in call.args]
        if kind == "scatter" and len(args) >= 2:
            self.scatter = (args[0], args[1])
            return
        if kind != "plot" or not args:
            return
        if not top:
            self.note(line, "a figure drawn inside a loop or function was dropped: see [charts] epochs in docs/authoring.md")
        elif len(args) == 1:
            self.charts.append(Chart("loss", args[0], self.cell.number, line))
        elif len(args) == 2 and self.scatter and self.scatter[0] == args[0]:
            self.charts.append(Chart("fit", {"x": args[0], "y": self.scatter[1], "line": args[1]}, self.cell.number, line))
        else:
            self.note(line, f"the figure plt.plot({', '.join(args)[:60]}) was dropped: add a chart in [charts] if the lesson needs it")

    def load(self, stmt: ast.Assign) -> bool:
        """`NAME = np.loadtxt("FILE", ...)`: a `data` entry (True), else False (not a load)."""
        call = stmt.value
        tail = ""
        if isinstance(call, ast.Attribute) and call.attr == "values":
            call, tail = call.value, ".values"
        elif isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "to_numpy" and not call.args:
            call, tail = call.func.value, ".to_numpy()"
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name)):
            return False
        if (call.func.value.id, call.func.attr) not in _LOADERS:
            return False
        line = stmt.lineno
        target = stmt.targets[0] if len(stmt.targets) == 1 else None
        file = call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) else None
        if not isinstance(target, ast.Name) or not isinstance(file, str):
            return self.drop(stmt, note=(line, "this file load cannot become lesson data (it needs one name and a file name):"
                                         " give the lesson the data with `data = { NAME = \"FILE\" }`", True))
        name = target.id
        path = (self.state.folder / file).resolve()
        why = name_problem(name)
        if why is not None:
            why = f"the name `{name}` {why}"
        elif path.suffix.lower() not in DATA_SUFFIXES:
            why = f"{file!r} is not a .csv or .npy file: save the data as one beside the lesson and add it to `data`"
        elif not path.is_relative_to(self.state.folder.resolve()) or not path.is_file():
            why = f"{file!r} is not beside the notebook: copy it (as .csv or .npy) beside the lesson and add `{name} = \"FILE\"` to `data`"
        if why is not None:
            return self.drop(stmt, note=(line, f"the file load of `{name}` was dropped: {why}", True))
        self.state.data[name] = path
        extra = sorted(k.arg for k in call.keywords if k.arg and k.arg not in _FINE_LOAD_ARGS)
        more = f"; its options {', '.join(extra)} are not applied: apply them in the program" if extra else ""
        if call.func.value.id in ("pd", "pandas") and not tail:
            more += "; it is a numpy array now, not a DataFrame: select its columns by number"
        return self.drop(stmt, note=(line, f"`{name}` comes from {file!r} through `data` in the header{more}", bool(more)))

    def unavailable_in(self, nodes: list[ast.AST], stmt: ast.stmt) -> bool:
        """Drop a statement that uses a dropped import's name or `open`; True when dropped."""
        used = {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}
        gone = sorted(used & (set(self.state.unavailable) | {"open"}))
        if not gone:
            return False
        defined = sorted({n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)})
        what = f"; {', '.join(defined)} must come from elsewhere (`data` in the header, or the setup)" if defined else ""
        return self.drop(stmt, note=(stmt.lineno, f"this statement uses {', '.join(f'`{g}`' for g in gone)}, which lessons do not have:"
                                     f" dropped{what}", bool(defined)))

    def drop(self, stmt: ast.stmt, replacement: list[str] | None = None, note: tuple[int, str, bool] | None = None) -> bool:
        first, last = stmt.lineno - 1, (stmt.end_lineno or stmt.lineno) - 1
        pieces = {self.owner[k] for k in range(first, last + 1)}
        if any(self.cell.pieces[p].blanks for p in pieces):
            self.note(stmt.lineno, "this statement holds a blank, so it was kept although lessons cannot run it: rewrite it", True)
            return False
        if note is not None:
            self.note(*note)
        indent = self.line_text(stmt.lineno)[: stmt.col_offset]
        self.edits[first] = [indent + r for r in replacement or []]
        self.dropped.update(range(first, last + 1))
        return True

    def line_text(self, lineno: int) -> str:
        return self.source.split("\n")[lineno - 1]

    def apply(self) -> CodeCell:
        """The cell's pieces with the dropped lines gone and each replacement at its statement's line."""
        out: list[Piece] = []
        k = 0
        for piece in self.cell.pieces:
            rows = range(k, k + len(piece.reference))
            k += len(piece.reference)
            if not any(r in self.dropped or r in self.edits for r in rows):
                out.append(piece)
                continue
            for r in rows:
                if r in self.edits and self.edits[r] is not None:
                    out.extend(Piece([t], [t], piece.line) for t in self.edits[r] or [])
        return CodeCell(self.cell.number, out, self.charts)


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _header_nodes(stmt: ast.stmt) -> list[ast.AST]:
    if isinstance(stmt, ast.For):
        return [stmt.target, stmt.iter]
    if isinstance(stmt, (ast.While, ast.If)):
        return [stmt.test]
    if isinstance(stmt, ast.With):
        return [item.context_expr for item in stmt.items]
    return []


def rewrite(cell: CodeCell, state: State) -> CodeCell:
    """The cell as a lesson program can run it, with the charts its figures became."""
    return _Cell(cell, state).run()
