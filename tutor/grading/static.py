"""Stage 1 of grading, before anything runs: is the answer there, does it parse as its kind of
blank, does it pass the policy, does it compile in its place; and `normalize`, which tells an
answer written as the reference (spacing and comments aside) from a rewritten one."""

from __future__ import annotations

import ast
import re
import textwrap

from tutor.grading import programs
from tutor.grading.report import BlankResult
from tutor.lesson.model import Blank, Lesson
from tutor.sandbox import policy


def normalize(text: str) -> str:
    """An answer's shape without spacing or comments, to tell answers identical to the reference."""
    src = textwrap.dedent(text).strip()
    for mode in ("eval", "exec"):
        try:
            return ast.dump(ast.parse(src, mode=mode))
        except SyntaxError:
            continue
        except (ValueError, RecursionError, MemoryError):
            break  # too deep for ast.dump: static_check refuses such an answer before it gets here
    return "".join(src.split())


# An answer longer or deeper than this is refused by the static check, so that nothing after it (the
# policy's walk, ast.dump in `normalize`, the program's compile here and in the sandbox) sees a text
# that exhausts Python's recursion or memory: `1+1+...+1` of 5,000 terms, `not not ... x` 2,500 deep.
# Real answers are a line or a short `forward` body, a few levels deep.
ANSWER_MAX_CHARS = 10_000  # characters of one blank's answer
ANSWER_MAX_DEPTH = 100  # levels of the answer's syntax tree


def _depth_over(tree: ast.AST, limit: int) -> bool:
    """Whether the tree is more than `limit` levels deep; iterative, so any depth can be measured."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return False


def _too_complex(blank: Blank, why: str) -> BlankResult:
    return BlankResult(
        blank.name, blank.kind, blank.step, "error", "syntax_error",
        f"`{blank.name}` is too long or nested too deeply to check ({why}): write it in shorter, simpler steps.",
        line=1, col=1,
    )


def static_check(lesson: Lesson, blank: Blank, text: str | None, in_place: bool = True) -> BlankResult | None:
    """Missing, syntax error or forbidden construct; None when the answer may run. With `in_place`
    False the answer is not compiled in its place in the program (the caller compiles all at once)."""
    if text is None or not text.strip():
        return BlankResult(blank.name, blank.kind, blank.step, "missing", "missing", f"`{blank.name}` has no answer yet.")
    if len(text) > ANSWER_MAX_CHARS:
        return _too_complex(blank, f"{len(text):,} characters, more than {ANSWER_MAX_CHARS:,}")
    src = answer_text(lesson, blank, text)
    if src.rstrip().endswith("\\"):  # a line continuation: the answer would run into the program's next line
        end = src.rstrip()
        line = end.count("\n") + 1
        return _syntax(blank, line, _end_col(end, line), "a `\\` at its end continues it onto the program's next line", end)
    tree, bad = _parse(blank, src)
    if bad is not None:
        return bad
    if tree is not None:
        if _depth_over(tree, ANSWER_MAX_DEPTH):
            return _too_complex(blank, f"more than {ANSWER_MAX_DEPTH} levels deep")
        bad = _forbidden(blank, tree)
        if bad is not None or not in_place:
            return bad
    return _compile_in_place(lesson, blank, text, src)


def _parse(blank: Blank, src: str) -> tuple[ast.AST | None, BlankResult | None]:
    """The answer's tree as its kind of blank, or the verdict that it does not parse. A statement
    fragment (`step()` after `optimizer.`) that parses alone in no mode gives neither: its line decides."""
    try:
        if blank.kind == "expression":
            return ast.parse(src, mode="eval"), None
        if blank.kind == "block":
            return ast.parse(src), None
        try:
            return ast.parse(src), None
        except SyntaxError:
            return ast.parse(src, mode="eval"), None
    except SyntaxError as exc:
        if blank.kind == "expression":
            bad = _statement_for_expression(blank, src, exc)
            if bad is not None:
                return None, bad
        if blank.kind != "statement" or exc.offset is None:
            return None, _syntax(blank, exc.lineno or 1, exc.offset or _end_col(src, exc.lineno or 1), exc.msg, src)
        return None, None
    except (RecursionError, MemoryError):
        return None, _too_complex(blank, "too deep for Python's parser")
    except ValueError as exc:
        return None, _syntax(blank, 1, 1, str(exc) or "it cannot be read")


def _statement_for_expression(blank: Blank, src: str, exc: SyntaxError) -> BlankResult | None:
    """An expression blank's answer that is valid Python as a statement (`dw = ...`, `import x`): the
    sentence for that, or the better-placed syntax error the statement parse gives."""
    try:
        stmt = ast.parse(src)
    except SyntaxError as as_statement:
        if not exc.offset:  # eval mode says column 0 at the end of the text: the statement parse points right
            return _syntax(blank, as_statement.lineno or 1, as_statement.offset or _end_col(src, as_statement.lineno or 1),
                           as_statement.msg, src)
        if "'=='" in (as_statement.msg or ""):  # "Maybe you meant '==' instead of '='?": say so, at the `=`
            return _syntax(blank, exc.lineno or 1, exc.offset, as_statement.msg, src)
        return None
    except (ValueError, RecursionError, MemoryError):
        return None
    bad = _forbidden(blank, stmt)
    if bad is not None:
        return bad
    line, col = _statement_at(src, stmt)
    return BlankResult(
        blank.name, blank.kind, blank.step, "error", "syntax_error",
        f"`{blank.name}` must be one expression (a value), not a statement: no `=`, `;` or keywords like `import` here"
        f" ({_place(src, line, col)}).",
        line=line, col=col,
    )


def _compile_in_place(lesson: Lesson, blank: Blank, text: str, src: str) -> BlankResult | None:
    """Compile the program with the answer in its place: a syntax error there, placed in the answer."""
    shift = _repeat_len(lesson, blank, text.strip()) if blank.kind == "statement" else 0  # columns dropped from its front
    try:
        prog = programs.build(lesson, answers={blank.name: src}, learner={blank.name}, mark=False)
    except (RecursionError, MemoryError):
        return _too_complex(blank, "too deep for Python's parser")
    try:
        compile(prog.source, "<check>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        owner, _ = prog.origin(exc.lineno)
        if owner == blank.name or owner is None:
            line, col = _answer_position(prog, blank, src, exc)
            return _syntax(blank, line, col + shift, exc.msg, text.strip() if shift else src)
        return _syntax(blank, 1, 1, f"{exc.msg} (near the blank `{owner}`)")
    except (RecursionError, MemoryError):
        return _too_complex(blank, "too deep for Python's compiler")
    except ValueError as exc:
        return _syntax(blank, 1, 1, str(exc) or "it cannot be read")
    return _compile_as_run(lesson, blank, src)


def _compile_as_run(lesson: Lesson, blank: Blank, src: str) -> BlankResult | None:
    """The program as a learner's run has it (the answer wrapped in the hooks that mark its blank)
    must compile too: an answer may compile unwrapped only thanks to the line after it, which in the
    run is a hook's line instead (a trailing `\\` was one such answer: `static_check` refuses it first)."""
    try:
        compile(programs.build(lesson, answers={blank.name: src}, learner={blank.name}).source, "<check>", "exec",
                dont_inherit=True)
    except SyntaxError as exc:
        line = src.count("\n") + 1
        return _syntax(blank, line, _end_col(src, line), exc.msg, src)
    except (RecursionError, MemoryError, ValueError):
        return _too_complex(blank, "too deep for Python's compiler")
    return None


_CHAIN = re.compile(r"[A-Za-z_][\w.]*\.$")


def _repeat_len(lesson: Lesson, blank: Blank, text: str) -> int:
    """How many characters at the front of a statement answer repeat what its line already has before
    the blank (`optimizer.` before `{{step: step()}}`): 0 when none."""
    lines = lesson.steps[blank.step].code.split("\n") if 0 <= blank.step < len(lesson.steps) else []
    before = lines[blank.code_line][: blank.code_col] if 0 <= blank.code_line < len(lines) else ""
    chain = _CHAIN.search(before.strip())
    if chain is None:
        return 0
    names = chain.group(0)
    starts = [0] + [i + 1 for i, c in enumerate(names[:-1]) if c == "."]
    for start in starts:  # the longest repeat first: `self.optimizer.`, then `optimizer.`
        repeat = names[start:]
        if text.startswith(repeat) and text[len(repeat):].strip():
            return len(repeat)
    return 0


def answer_text(lesson: Lesson, blank: Blank, text: str) -> str:
    """An answer as it is graded: stripped (a block dedented). A statement written after a name and a
    dot on its line (`optimizer.{{step: step()}}`) is read without the learner's own repeat of them:
    `optimizer.step` there is the call forgotten (no effect), not an attribute `optimizer` of the optimizer."""
    if blank.kind == "block":
        return textwrap.dedent(text).strip("\n")
    src = text.strip()
    if blank.kind == "statement":
        src = src[_repeat_len(lesson, blank, src):]
    return src


def _compiles(source: str) -> bool:
    try:
        compile(source, "<check>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _forbidden(blank: Blank, tree: ast.AST) -> BlankResult | None:
    """The first policy violation in a parsed answer as a `forbidden` verdict, or None."""
    try:
        violations = policy.check(tree)
    except (RecursionError, MemoryError):  # the policy may recurse: an answer it cannot walk is refused
        return _too_complex(blank, "too deep to check what it uses")
    if not violations:
        return None
    v = violations[0]
    return BlankResult(
        blank.name, blank.kind, blank.step, "error", "forbidden",
        f"`{blank.name}`: {v.message} (line {v.line}, column {v.col}).", line=v.line, col=v.col,
    )


def _end_col(src: str, line: int) -> int:
    """The column just past the end of the answer's `line` (1-based both)."""
    lines = src.split("\n")
    return len(lines[line - 1]) + 1 if 1 <= line <= len(lines) else 1


def _place(src: str | None, line: int, col: int) -> str:
    """"column 8" or "line 2, column 13", and ", the end of the line" where Python points past its text."""
    where = f"column {col}" if line == 1 else f"line {line}, column {col}"
    if src is not None and col >= _end_col(src, line) > 1:
        where += ", the end of the line"
    return where


def _syntax(blank: Blank, line: int, col: int, msg: str, src: str | None = None) -> BlankResult:
    """A syntax error at `line`, `col` (1-based, within the answer `src`: where Python points)."""
    if src is not None:
        col = max(1, min(col, _end_col(src, line)))
    where = _place(src, line, col)
    if msg == "invalid syntax" and "the end of the line" in where:
        msg = "invalid syntax: the line stops where more is expected"
    stop = "" if msg.endswith(("?", ".", "!")) else "."
    return BlankResult(
        blank.name, blank.kind, blank.step, "error", "syntax_error",
        f"`{blank.name}` is not valid Python at {where}: {msg}{stop}", line=line, col=col,
    )


def _statement_at(src: str, tree: ast.Module) -> tuple[int, int]:
    """Where an answer that should be an expression turns into a statement: the `=` (`+=`, `:`) after
    an assignment's target (`w = X + b`), the start of a second statement (`a; b`), else the start
    of the first one (`import`, `return`...)."""
    body = tree.body
    if not body:
        return 1, 1
    first = body[0]
    if isinstance(first, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        target = first.targets[-1] if isinstance(first, ast.Assign) else first.target
        lines = src.split("\n")
        row = (target.end_lineno or 1) - 1
        if 0 <= row < len(lines) and target.end_col_offset is not None:
            rest = lines[row][target.end_col_offset:]
            if rest.strip():
                return row + 1, target.end_col_offset + len(rest) - len(rest.lstrip()) + 1
    if isinstance(first, ast.Expr) and len(body) > 1:
        first = body[1]
    return first.lineno, first.col_offset + 1


def _answer_position(prog: programs.Program, blank: Blank, src: str, exc: SyntaxError) -> tuple[int, int]:
    """Where a syntax error of the whole program (the answer in its place) falls within the answer:
    (line, column), 1-based, relative to the answer's own text (not the program's line)."""
    owned = [i for i, (o, _) in enumerate(prog.origins) if o == blank.name]
    row = (exc.lineno or 0) - 1
    if not owned or row not in owned:  # reported after the answer (something left open): its end
        last = src.count("\n") + 1
        return last, _end_col(src, last)
    line = row - owned[0] + 1
    col = exc.offset or 1
    if blank.kind == "block":
        head = prog.source.split("\n")[owned[0]]
        col -= len(head) - len(head.lstrip())  # the block's indentation in the program
    else:
        col -= blank.code_col + (1 if blank.kind == "expression" else 0)  # an expression is put in parentheses
    return line, max(1, col)
