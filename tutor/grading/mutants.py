"""Typical wrong answers to a blank, generated from its reference: `tutor check` makes sure each is caught."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tutor.lesson.model import Blank


@dataclass(frozen=True)
class Mutant:
    blank: str
    label: str  # "flipped sign", "doubled", ...
    text: str
    wraps: str = ""  # `-(answer)` "neg", `2 * (answer)` "double" (tutor.sandbox.jobs.WRAPPERS), else ""


class _SumForMean(ast.NodeTransformer):
    def __init__(self) -> None:
        self.changed = False

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if node.attr == "mean":
            self.changed = True
            return ast.copy_location(ast.Attribute(node.value, "sum", node.ctx), node)
        return node


def _drop_factor(tree: ast.expr) -> ast.expr | None:
    """`-2 * x` -> `x`, `x * 0.5` -> `x`: the constant factor of a top-level product dropped."""
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, (ast.Mult, ast.Div)):
        for const, other in ((tree.left, tree.right), (tree.right, tree.left)):
            inner = const.operand if isinstance(const, ast.UnaryOp) and isinstance(const.op, ast.USub) else const
            if isinstance(inner, ast.Constant) and isinstance(inner.value, (int, float)) and inner.value not in (0, 1):
                if isinstance(tree.op, ast.Div) and const is tree.left:
                    continue
                if const is not inner:  # keep the sign, drop the size
                    return ast.UnaryOp(ast.USub(), other)
                return other
    return None


def _changed_config(tree: ast.expr) -> ast.expr | None:
    """`nn.Linear(1, 1)` -> `nn.Linear(1, 2)`, `SGD(..., lr=0.5)` -> `lr=5.0`: a wrong setting."""
    if not isinstance(tree, ast.Call):
        return None
    new = ast.parse(ast.unparse(tree), mode="eval").body
    assert isinstance(new, ast.Call)
    for kw in new.keywords:
        if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, (int, float)) and not isinstance(kw.value.value, bool):
            kw.value = ast.Constant(kw.value.value * 10)
            return new
    for i in range(len(new.args) - 1, -1, -1):
        arg = new.args[i]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, int) and not isinstance(arg.value, bool):
            new.args[i] = ast.Constant(arg.value + 1)
            return new
    return None


def mutants(blank: Blank) -> list[Mutant]:
    """The generated wrong answers for one blank (possibly none for an unusual reference)."""
    out: list[Mutant] = []
    ref = blank.answer.strip()

    def add(label: str, text: str, wraps: str = "") -> None:
        if text.strip() and "".join(text.split()) != "".join(ref.split()) and all(m.text != text for m in out):
            out.append(Mutant(blank.name, label, text, wraps))

    if blank.kind == "expression":
        try:
            tree = ast.parse(ref, mode="eval").body
        except SyntaxError:
            return out
        add("flipped sign", f"-({ref})", wraps="neg")
        add("doubled", f"2 * ({ref})", wraps="double")
        dropped = _drop_factor(tree)
        if dropped is not None:
            add("dropped factor", ast.unparse(dropped))
        sfm = _SumForMean()
        new = sfm.visit(ast.parse(ref, mode="eval"))
        if sfm.changed:
            add("sum for mean", ast.unparse(new))
        if isinstance(tree, ast.BinOp) and isinstance(tree.op, (ast.Sub, ast.Div, ast.Pow, ast.MatMult)):
            add("swapped operands", ast.unparse(ast.BinOp(tree.right, tree.op, tree.left)))
        changed = _changed_config(tree)
        if changed is not None:
            add("wrong setting", ast.unparse(changed))
        return out
    if blank.kind == "statement":
        try:
            tree = ast.parse(ref, mode="eval").body
        except SyntaxError:
            tree = None
        if isinstance(tree, ast.Call) and not tree.args and not tree.keywords:
            add("empty statement", ast.unparse(tree.func))  # `zero_grad` without the call does nothing
        else:
            add("empty statement", "pass")
        return out
    add("empty block", "pass")
    return out
