"""Equivalent forms of a blank's reference answer, written the way learners write them: `tutor check`
grades each, and an equivalent form the grader rejects is a tolerance or lesson problem the author
should see before a learner meets it.

Each rule is an AST transform applied at the first place (outermost first) where it fits; a rule
that fits nowhere, or gives back the reference's own text, gives no form. The rules:

- operand order of `+` and `*` (`a + b` -> `b + a`), never with a list, tuple or text literal (their
  `+` and `*` do not commute);
- a difference as the negated opposite one (`a - b` -> `-(b - a)`);
- regrouping that changes the rounding only (`a - (b + c)` -> `a - b - c`, `(a + b) + c` ->
  `a + (b + c)`, `(a * b) * c` -> `a * (b * c)`, `x / 4` -> `x * (1 / 4)`): what a tolerance must
  allow for;
- a mean or sum as a method or as a function (`x.mean()` <-> `np.mean(x)`, `torch.mean(x)` -> `x.mean()`;
  `np.` in numpy lessons, `torch.` in torch lessons);
- a matrix product as `@` or as a call (`x.T @ g` <-> `np.dot(x.T, g)`, `torch.matmul(a, b)`);
- a square as a product (`d ** 2` -> `d * d`, for a `d` that calls nothing: a call may draw random
  numbers or cost twice).

Types are not known before the program runs (a `.mean()` may be a tensor's, a list has none): a form
that raises when it runs was not valid there, and `tutor check` drops it without a word. Only a form
that runs and is judged wrong is reported.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import Callable

from tutor.lesson.model import Blank

MAX_PER_BLANK = 3  # forms graded per blank: each costs runs in `tutor check`


@dataclass(frozen=True)
class Rewrite:
    blank: str
    label: str  # "operand order of +", ...
    text: str


_Rule = Callable[[ast.AST, str], "ast.AST | None"]


def _literal(node: ast.AST) -> bool:
    """A list, tuple, text or f-string literal: its `+` and `*` do not commute."""
    return isinstance(node, (ast.List, ast.Tuple, ast.JoinedStr, ast.ListComp)) or (
        isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))
    )


def _calls(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


def _module_call(node: ast.AST, module: str, names: tuple[str, ...]) -> str | None:
    """`np.mean(...)` -> "mean" when `node` calls `module.NAME` for a NAME in `names`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names:
        owner = node.func.value
        if isinstance(owner, ast.Name) and owner.id == module:
            return node.func.attr
    return None


def _commute(op: type) -> _Rule:
    def rule(node: ast.AST, _framework: str) -> ast.AST | None:
        if isinstance(node, ast.BinOp) and isinstance(node.op, op) and not (_literal(node.left) or _literal(node.right)):
            return ast.BinOp(node.right, node.op, node.left)
        return None
    return rule


def _negated_difference(node: ast.AST, _framework: str) -> ast.AST | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        return ast.UnaryOp(ast.USub(), ast.BinOp(node.right, ast.Sub(), node.left))
    return None


def _regroup(node: ast.AST, _framework: str) -> ast.AST | None:
    if not isinstance(node, ast.BinOp):
        return None
    left, right = node.left, node.right
    if isinstance(node.op, ast.Sub) and isinstance(right, ast.BinOp) and isinstance(right.op, (ast.Add, ast.Sub)):
        # a - (b + c) -> a - b - c;  a - (b - c) -> a - b + c
        flipped = ast.Sub() if isinstance(right.op, ast.Add) else ast.Add()
        return ast.BinOp(ast.BinOp(left, ast.Sub(), right.left), flipped, right.right)
    if isinstance(node.op, (ast.Add, ast.Mult)) and isinstance(left, ast.BinOp) and type(left.op) is type(node.op):
        if not any(_literal(n) for n in (left.left, left.right, right)):
            return ast.BinOp(left.left, node.op, ast.BinOp(left.right, node.op, right))
    if isinstance(node.op, ast.Div) and isinstance(right, ast.Constant) and isinstance(right.value, (int, float)) \
            and not isinstance(right.value, bool) and right.value not in (0, 1):
        return ast.BinOp(left, ast.Mult(), ast.BinOp(ast.Constant(1), ast.Div(), right))
    return None


def _reduction(node: ast.AST, framework: str) -> ast.AST | None:
    """`x.mean()` <-> `np.mean(x)` (`torch.mean(x)` in a torch lesson); the same for `sum`."""
    module = "torch" if framework == "torch" else "np"
    for mod in ("np", "torch"):
        name = _module_call(node, mod, ("mean", "sum"))
        if name is not None and isinstance(node, ast.Call) and node.args and not isinstance(node.args[0], ast.Starred):
            return ast.Call(ast.Attribute(node.args[0], name, ast.Load()), node.args[1:], node.keywords)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("mean", "sum"):
        owner = node.func.value
        if not (isinstance(owner, ast.Name) and owner.id in ("np", "torch", "F", "nn")) and not _literal(owner):
            func = ast.Attribute(ast.Name(module, ast.Load()), node.func.attr, ast.Load())
            return ast.Call(func, [owner, *node.args], node.keywords)
    return None


def _matmul(node: ast.AST, framework: str) -> ast.AST | None:
    """`a @ b` <-> `np.dot(a, b)` (`torch.matmul(a, b)` in a torch lesson)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        func = "torch.matmul" if framework == "torch" else "np.dot"
        mod, name = func.split(".")
        return ast.Call(ast.Attribute(ast.Name(mod, ast.Load()), name, ast.Load()), [node.left, node.right], [])
    if (_module_call(node, "np", ("dot", "matmul")) or _module_call(node, "torch", ("matmul", "mm"))) \
            and isinstance(node, ast.Call) and len(node.args) == 2 and not node.keywords \
            and not any(isinstance(a, ast.Starred) for a in node.args):
        return ast.BinOp(node.args[0], ast.MatMult(), node.args[1])
    return None


def _square(node: ast.AST, _framework: str) -> ast.AST | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) \
            and node.right.value == 2 and not isinstance(node.right.value, bool) and not _calls(node.left):
        return ast.BinOp(node.left, ast.Mult(), copy.deepcopy(node.left))
    return None


# In the order they are tried: the forms learners write most first, then the ones that test tolerances.
RULES: tuple[tuple[str, _Rule], ...] = (
    ("operand order of +", _commute(ast.Add)),
    ("mean or sum as a function", _reduction),
    ("matrix product", _matmul),
    ("regrouped", _regroup),
    ("operand order of *", _commute(ast.Mult)),
    ("negated difference", _negated_difference),
    ("square as a product", _square),
)


class _AtFirst(ast.NodeTransformer):
    """Applies `rule` at the first node (outermost first) where it gives a new node."""

    def __init__(self, rule: _Rule, framework: str) -> None:
        self.rule, self.framework, self.done = rule, framework, False

    def visit(self, node: ast.AST) -> ast.AST:
        if self.done:
            return node
        new = self.rule(node, self.framework)
        if new is not None:
            self.done = True
            return ast.copy_location(new, node) if hasattr(node, "lineno") else new
        return self.generic_visit(node)


def _parse(blank: Blank) -> tuple[ast.AST, str] | None:
    text = blank.answer.strip() if blank.kind != "block" else blank.answer
    for mode in (("eval",) if blank.kind == "expression" else ("exec",)):
        try:
            return ast.parse(text, mode=mode), mode
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
    return None


def rewrites(blank: Blank, framework: str, limit: int = MAX_PER_BLANK) -> list[Rewrite]:
    """Up to `limit` equivalent forms of the blank's reference answer, each different from it."""
    parsed = _parse(blank)
    if parsed is None:
        return []
    tree, _mode = parsed
    try:
        own = ast.unparse(tree)
    except (ValueError, RecursionError):
        return []
    out: list[Rewrite] = []
    for label, rule in RULES:
        if len(out) >= limit:
            break
        work = copy.deepcopy(tree)
        mover = _AtFirst(rule, framework)
        try:
            new = mover.visit(work)
            if not mover.done:
                continue
            ast.fix_missing_locations(new)
            text = ast.unparse(new)
            compile(new, "<rewrite>", _mode)  # only forms that are valid code
        except (SyntaxError, ValueError, TypeError, RecursionError):
            continue
        if text != own and all(r.text != text for r in out):
            out.append(Rewrite(blank.name, label, text))
    return out
