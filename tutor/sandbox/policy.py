"""The AST policy for learner answers: what a lesson program may name, and the first line of the
grader's integrity.

The operating-system layers around the child keep a run from touching the machine; this check keeps
an answer from touching the grader. A value graded "correct" must come from the learner's own
expression, so the policy refuses every way out of the names a lesson gives: Python's frames, code
and tracebacks (from a learner frame they lead up to the grader's runtime), private (`_`) and dunder
attributes, modules that numpy and torch happen to hold (`torch.os`, `torch.importlib`,
`np.ctypeslib`), attribute names computed at run time (`getattr`, `vars`, `dir`, strings or bytes
that spell a dunder), and dunder methods a block answer would define (`__eq__` returning True). The
runtime (tutor/sandbox/runtime.py) holds the same line on its own: it refuses frame access in the
child and keeps reference values out of reach while learner code runs.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass

FORBIDDEN_NAMES = frozenset(
    {
        "exec", "eval", "compile", "open", "globals", "locals", "vars", "getattr", "setattr", "delattr",
        "hasattr", "__import__", "breakpoint", "input", "help", "exit", "quit", "memoryview", "dir",
    }
)

# Attributes of frames, generators, coroutines, tracebacks, code objects and cells: from any of them
# a learner expression climbs to the frames around it (the grader's runtime) and their locals.
FRAME_ATTRS = frozenset(
    {
        "f_back", "f_builtins", "f_code", "f_globals", "f_lasti", "f_lineno", "f_locals", "f_trace",
        "f_trace_lines", "f_trace_opcodes", "f_generator", "clear",
        "gi_code", "gi_frame", "gi_running", "gi_yieldfrom", "gi_suspended",
        "cr_await", "cr_code", "cr_frame", "cr_origin", "cr_running", "cr_suspended",
        "ag_await", "ag_code", "ag_frame", "ag_running",
        "tb_frame", "tb_lasti", "tb_lineno", "tb_next", "with_traceback",
        "cell_contents", "func_code", "func_globals", "func_closure", "func_defaults", "im_func", "im_self",
        "currentframe", "stack", "getframeinfo", "getouterframes", "getinnerframes", "walk_stack", "walk_tb",
    }
) - {"clear", "stack"}  # `list.clear()` and `torch.stack` / `np.stack` are lessons' bread and butter
FRAME_PREFIXES = ("co_", "tb_", "gi_", "cr_", "ag_")

# Standard-library modules a lesson has a public use for under the same name: `np.random`,
# `np.array`, `x.copy()`, `np.math`, `t.trace()`, `t.select()`, `torch.signal`.
_HARMLESS_MODULE_NAMES = frozenset({"random", "array", "copy", "math", "cmath", "trace", "select", "signal"})
# Other names by which numpy and torch hold modules that are not theirs (torch.multiprocessing's `mp`,
# `reducer`, `reduction`), and the helpers that take an attribute name as a string.
_MODULE_ALIASES = frozenset({"ctypeslib", "mp", "reducer", "reduction", "attrgetter", "methodcaller"})
MODULE_ATTRS = frozenset(
    name for name in sys.stdlib_module_names if not name.startswith("_") and name not in _HARMLESS_MODULE_NAMES
) | _MODULE_ALIASES
# Attributes refused for what they do rather than what they are.
FORBIDDEN_ATTRS = frozenset({"format", "format_map", "system"})

# Dunder methods a block answer may define: a class's constructor and the Dataset protocol. Any
# other (`__eq__`, `__float__`, `__array_ufunc__`, `__torch_function__`, `__getattr__`...) would let
# an object decide for itself how the grader sees it.
ALLOWED_DUNDER_DEFS = frozenset({"__init__", "__len__", "__getitem__"})


@dataclass(frozen=True)
class Violation:
    line: int  # 1-based, within the answer
    col: int  # 1-based, within the answer
    message: str


def _is_super_init(node: ast.Attribute, calls: set[int]) -> bool:
    """The base class's constructor, the one dunder attribute a lesson's class needs: `super().__init__`,
    `super(Cls, self).__init__`, or the older `nn.Module.__init__(self)` (a dotted name called with
    `self` first)."""
    v = node.value
    if node.attr != "__init__":
        return False
    if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super":
        return True
    return id(node) in calls and _is_dotted_name(v)


def _is_dotted_name(node: ast.AST) -> bool:
    """`nn.Module`, `torch.nn.Module`, `Base`: a class by its name, not an object (`self.linear`)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id != "self"


def _init_calls(tree: ast.AST) -> set[int]:
    """ids of `X.__init__` attributes called with `self` as their first argument."""
    out = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                and isinstance(node.args[0], ast.Name) and node.args[0].id == "self"):
            out.add(id(node.func))
    return out


def _attribute_problem(attr: str) -> str | None:
    """Why `.attr` is refused, or None."""
    if attr.startswith("__"):
        return f"attributes starting with `__` (like `.{attr}`) are not available in lessons"
    if attr.startswith("_"):
        return f"private attributes (starting with `_`, like `.{attr}`) are not available in lessons: use the public name"
    if attr in FRAME_ATTRS or attr.startswith(FRAME_PREFIXES):
        return f"`.{attr}` reaches into Python's frames, code or tracebacks, which lessons do not use"
    if attr in MODULE_ATTRS:
        return f"`.{attr}` is a module that is not available in lessons: np, torch, nn, optim and F have what you need"
    if attr in FORBIDDEN_ATTRS:
        return f"`.{attr}` is not available in lessons"
    return None


def _definition_problem(node: ast.AST) -> str | None:
    """Why a function or class definition is refused, or None."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if node.name.startswith("__") and node.name not in ALLOWED_DUNDER_DEFS:
            allowed = ", ".join(f"`{n}`" for n in sorted(ALLOWED_DUNDER_DEFS))
            return f"defining `{node.name}` is not available in lessons (of the `__` methods only {allowed} are)"
    elif isinstance(node, ast.ClassDef):
        if node.name.startswith("__"):
            return f"class names starting with `__` (like `{node.name}`) are not available in lessons"
        if any(k.arg == "metaclass" for k in node.keywords):
            return "`metaclass=` is not available in lessons"
    return None


def check(tree: ast.AST) -> list[Violation]:
    """Every policy violation in a parsed answer, in source order."""
    out: list[Violation] = []

    def add(node: ast.AST, message: str) -> None:
        out.append(Violation(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1, message))

    calls = _init_calls(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            add(node, "imports are not allowed here: np, torch, nn, optim and F are already available")
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES:
                add(node, f"`{node.id}` is not available in lessons")
            elif node.id.startswith("__"):
                add(node, f"names starting with `__` (like `{node.id}`) are not available in lessons")
        elif isinstance(node, ast.Attribute):
            if _is_super_init(node, calls):
                continue  # `super().__init__(...)`: every nn.Module (and Dataset) subclass needs it
            problem = _attribute_problem(node.attr)
            if problem:
                add(node, problem)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            problem = _definition_problem(node)
            if problem:
                add(node, problem)
        elif isinstance(node, ast.arg) and node.arg.startswith("__"):
            add(node, f"parameter names starting with `__` (like `{node.arg}`) are not available in lessons")
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            add(node, "`global` and `nonlocal` are not needed here")
        elif isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await, ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith)):
            add(node, "generators and async code are not needed here")
        elif isinstance(node, ast.MatchClass):
            add(node, "class patterns in `match` are not available in lessons")
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and _spells_dunder(node.value):
            kind = "strings" if isinstance(node.value, str) else "byte strings"
            add(node, f"{kind} containing `__` are not available in lessons")
        elif isinstance(node, ast.keyword) and node.arg and node.arg.startswith("__"):
            add(node, "keyword names starting with `__` are not available in lessons")
    out.sort(key=lambda v: (v.line, v.col))
    return out


def _spells_dunder(value: str | bytes) -> bool:
    return ("__" in value) if isinstance(value, str) else (b"__" in value)
