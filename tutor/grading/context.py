"""What the four stages of one grading share (tutor/grading/grader.py): the `GradeContext` they fill
in, and what they read off a run: a run that did not end well said in terms of a blank
(`diag_status`), two runs that ended alike, a statement that did nothing, an expression whose in-place
check in the learner's run decides it (`decisive`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from tutor.grading import programs
from tutor.grading.diagnose import Diagnosis, Sizes, compare_runs, from_error
from tutor.grading.report import BlankResult, Cancelled, _result
from tutor.grading.static import normalize
from tutor.lesson.model import Blank, Lesson
from tutor.sandbox.results import RunError, RunResult


@dataclass
class GradeContext:
    """What the four stages of one grading share."""

    lesson: Lesson
    answers: dict[str, str]
    cancelled: Callable[[], bool]
    on_output: Callable[[str], None] | None
    results: dict[str, BlankResult] = field(default_factory=dict)
    valid: dict[str, str] = field(default_factory=dict)  # answers that may run, as they run
    ref: RunResult | None = None
    sizes: Sizes | list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # every blank, in lesson order (its index is its hook number)
    exprs: list[str] = field(default_factory=list)  # rewritten expression blanks (shadow-compared)
    stmts: list[str] = field(default_factory=list)  # statement and block blanks that may run
    tolerances: dict[str, tuple[float, float]] = field(default_factory=dict)
    loss_exprs: set[str] = field(default_factory=set)
    learner_run: RunResult | None = None
    learner_program: programs.Program | None = None
    unreached: list[str] = field(default_factory=list)  # expressions no compared call reached
    run_diag: Diagnosis | None = None  # how the learner's whole run differs, if it does
    suspect: str | None = None  # a rewritten blank the learner's run failed in
    verdicts_only: bool = False  # see Grader.grade_many

    def rewritten(self, name: str) -> bool:
        return normalize(self.valid[name]) != normalize(self.lesson.blanks[name].answer)

    def set(self, name: str, diag: Diagnosis | None) -> None:
        self.results[name] = _result(self.lesson.blanks[name], diag)

    def stop_if_cancelled(self) -> None:
        if self.cancelled():
            raise Cancelled()


def diag_status(res: RunResult, owner: str | None) -> Diagnosis:
    """A run that did not end well, explained in terms of the blank it was in (`owner`)."""
    if res.status in ("timeout", "memory"):
        return from_error(owner, res.error or _no_error(), res.status)
    if res.status in ("crashed", "oversize", "bad_result"):
        what = {"crashed": "crashed the run", "oversize": "produced a result too large to read",
                "bad_result": "left a result that cannot be read"}[res.status]
        return Diagnosis("runtime_error", f"`{owner}` {what}." if owner else f"the program {what}.")
    return from_error(owner, res.error or _no_error())


def decisive(ctx: GradeContext, shadowed: set[str], learner_job: dict) -> dict:
    """One rewritten expression, every other answer the reference's own code: up to its first call
    the learner's program is the reference's, so its in-place check there compares the values the
    shadow run would, and a disagreement there needs no shadow run. For a blank reached once (a wrong
    last line of a long training is then judged by one run, not two); for any blank when only the
    verdict is read (`verdicts_only`: a diagnosis reads the shadow run's later calls)."""
    if len(shadowed) != 1:
        return {}
    (only,) = shadowed
    i = ctx.names.index(only)
    if i not in learner_job.get("once", ()) and not ctx.verdicts_only:
        return {}
    if any(n != only and ctx.rewritten(n) for n in ctx.valid):
        return {}
    return {"decisive": [i]}


def whole_line(lesson: Lesson, blank: Blank) -> bool:
    """A block, or a statement blank that is its line's whole statement (not `optimizer.{{step: step()}}`)."""
    if blank.kind == "block":
        return True
    if blank.kind != "statement":
        return False
    lines = lesson.steps[blank.step].code.split("\n")
    line = lines[blank.code_line] if 0 <= blank.code_line < len(lines) else ""
    return not line[: blank.code_col].strip()


def same_outcome(a: RunResult, b: RunResult, tolerances: Any) -> bool:
    """Two runs that ended alike: the same failure at the same line, or the same captured values."""
    if a.status != b.status:
        return False
    if a.status != "ok":
        return a.status != "error" or (a.error is not None and b.error is not None
                                       and (a.error.type, a.error.line) == (b.error.type, b.error.line))
    return compare_runs("", a.captures, b.captures, tolerances, loss_exprs=set(), sizes=[]) is None


def no_effect(name: str, res: RunResult, prog: programs.Program) -> Diagnosis:
    """`name` did what an empty line would: nothing, and the program shows it later."""
    if res.status == "ok":
        return Diagnosis("no_effect", f"`{name}` has no effect: the program runs as if the line were not there.")
    line = prog.origin(res.error.line)[1] if res.error is not None and res.error.line else None
    where = f" at line {line}" if line else ""
    what = f" ({res.error.type})" if res.error is not None else ""
    return Diagnosis("no_effect", f"`{name}` has no effect: the program runs as if the line were not there, and fails later{where}{what}.")


def _no_error() -> RunError:
    return RunError(type="Error", message="")
