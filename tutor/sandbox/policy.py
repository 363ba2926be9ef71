"""The AST policy for learner answers: for teaching and clear messages, not for security.

Security comes from the operating-system layers around the child; this check only turns the
obvious escapes into a `forbidden` verdict with a sentence a learner understands.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

FORBIDDEN_NAMES = frozenset(
    {
        "exec", "eval", "compile", "open", "globals", "locals", "vars", "getattr", "setattr", "delattr",
        "__import__", "breakpoint", "input", "help", "exit", "quit", "memoryview", "dir",
    }
)
FORBIDDEN_ATTRS = frozenset({"format", "format_map", "ctypeslib", "os", "sys", "subprocess", "system"})


@dataclass(frozen=True)
class Violation:
    line: int  # 1-based, within the answer
    col: int  # 1-based, within the answer
    message: str


def _is_super_init(node: ast.Attribute) -> bool:
    """`super().__init__` or `super(Cls, self).__init__`: the one dunder attribute a lesson's class needs."""
    v = node.value
    return (
        node.attr == "__init__" and isinstance(v, ast.Call)
        and isinstance(v.func, ast.Name) and v.func.id == "super"
    )


def check(tree: ast.AST) -> list[Violation]:
    """Every policy violation in a parsed answer, in source order."""
    out: list[Violation] = []

    def add(node: ast.AST, message: str) -> None:
        out.append(Violation(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1, message))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            add(node, "imports are not allowed here: np, torch, nn, optim and F are already available")
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES:
                add(node, f"`{node.id}` is not available in lessons")
            elif node.id.startswith("__"):
                add(node, f"names starting with `__` (like `{node.id}`) are not available in lessons")
        elif isinstance(node, ast.Attribute):
            if _is_super_init(node):
                continue  # `super().__init__(...)`: every nn.Module (and Dataset) subclass needs it
            if node.attr.startswith("__"):
                add(node, f"attributes starting with `__` (like `.{node.attr}`) are not available in lessons")
            elif node.attr in FORBIDDEN_ATTRS:
                add(node, f"`.{node.attr}` is not available in lessons")
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            add(node, "`global` and `nonlocal` are not needed here")
        elif isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await, ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith)):
            add(node, "generators and async code are not needed here")
        elif isinstance(node, ast.MatchClass):
            add(node, "class patterns in `match` are not available in lessons")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            add(node, "strings containing `__` are not available in lessons")
        elif isinstance(node, ast.keyword) and node.arg and node.arg.startswith("__"):
            add(node, "keyword names starting with `__` are not available in lessons")
    out.sort(key=lambda v: (v.line, v.col))
    return out
