"""Grades a learner's answers to a lesson: static check, shadow evaluation, learner run, isolation runs.

See shared/DESIGN.md, "How an answer is graded". The reference run of each lesson is made once per
Grader and cached; every run happens in the sandboxed evaluator, never in this process.
"""

from __future__ import annotations

import ast
import textwrap
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tutor import datasets
from tutor.grading import programs
from tutor.grading.diagnose import Diagnosis, compare_runs, from_error, from_trace
from tutor.lesson.model import Blank, Lesson
from tutor.sandbox import policy
from tutor.sandbox.results import RunResult, parse_run


class LessonRunError(Exception):
    """The lesson's own reference program does not run: a problem for the instructor, with its place."""


class Cancelled(Exception):
    """The grading was cancelled (a newer check replaced it)."""


@dataclass
class BlankResult:
    name: str
    kind: str
    step: int
    verdict: str  # "correct", "incorrect", "missing", "error"
    diagnosis: str | None = None
    message: str = ""
    factor: float | None = None
    hint: str | None = None
    call: int | None = None
    line: int | None = None  # 1-based line within the answer, for syntax errors
    col: int | None = None  # 1-based column within the answer, for syntax errors

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verdict": self.verdict, "diagnosis": self.diagnosis, "message": self.message}
        if self.diagnosis == "scaled" and self.factor is not None:
            out["factor"] = self.factor
        if self.col is not None:
            out["line"] = self.line
            out["col"] = self.col
        return out


@dataclass
class GradeReport:
    lesson: str
    blanks: dict[str, BlankResult]
    layers: list[str] = field(default_factory=list)
    learner_run: RunResult | None = None
    reference_run: RunResult | None = None
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.blanks) and all(b.verdict == "correct" for b in self.blanks.values())

    @property
    def stdout(self) -> str:
        return self.learner_run.stdout if self.learner_run else ""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.blanks.values():
            out[b.verdict] = out.get(b.verdict, 0) + 1
        return out

    def to_json(self, answers_path: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"lesson": self.lesson}
        if answers_path is not None:
            out["answers"] = answers_path
        out["passed"] = self.passed
        out["blanks"] = {name: b.to_json() for name, b in self.blanks.items()}
        out["sandbox"] = {"layers": list(self.layers)}
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def _result(blank: Blank, diag: Diagnosis | None) -> BlankResult:
    if diag is None:
        return BlankResult(blank.name, blank.kind, blank.step, "correct", None, "Correct.")
    hint = blank.diagnosis_hints.get(diag.code) or (blank.hints[0] if blank.hints else None)
    return BlankResult(blank.name, blank.kind, blank.step, diag.verdict, diag.code, diag.message, diag.factor, hint, diag.call)


def normalize(text: str) -> str:
    """An answer's shape without spacing or comments, to tell answers identical to the reference."""
    src = textwrap.dedent(text).strip()
    for mode in ("eval", "exec"):
        try:
            return ast.dump(ast.parse(src, mode=mode))
        except SyntaxError:
            continue
    return "".join(src.split())


def static_check(lesson: Lesson, blank: Blank, text: str | None, in_place: bool = True) -> BlankResult | None:
    """Missing, syntax error or forbidden construct; None when the answer may run. With `in_place`
    False the answer is not compiled in its place in the program (the caller compiles all at once)."""
    if text is None or not text.strip():
        return BlankResult(blank.name, blank.kind, blank.step, "missing", "missing", f"`{blank.name}` has no answer yet.")
    src = text.strip() if blank.kind != "block" else textwrap.dedent(text).strip("\n")
    tree: ast.AST | None = None
    try:
        if blank.kind == "expression":
            tree = ast.parse(src, mode="eval")
        elif blank.kind == "block":
            tree = ast.parse(src)
        else:
            try:
                tree = ast.parse(src)
            except SyntaxError:
                tree = ast.parse(src, mode="eval")
    except SyntaxError as exc:
        if blank.kind == "expression":
            try:
                stmt = ast.parse(src)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                stmt = None
            if stmt is not None:  # valid Python, but statements where a value belongs
                bad = _forbidden(blank, stmt)
                if bad is not None:
                    return bad
                return BlankResult(
                    blank.name, blank.kind, blank.step, "error", "syntax_error",
                    f"`{blank.name}` must be one expression (a value), not a statement: no `=`, `;` or keywords like `import` here.",
                    line=1, col=1,
                )
        whole = blank.kind == "statement"
        if not whole or exc.offset is None:
            return _syntax(blank, exc.lineno or 1, exc.offset or 1, exc.msg)
        tree = None  # a fragment such as `step()` after `optimizer.`: judged in its line below
    except (ValueError, RecursionError, MemoryError) as exc:
        return _syntax(blank, 1, 1, str(exc) or "it cannot be read")
    if tree is not None:
        bad = _forbidden(blank, tree)
        if bad is not None:
            return bad
    if not in_place and tree is not None:
        return None
    prog = programs.build(lesson, answers={blank.name: src}, learner={blank.name}, mark=False)
    try:
        compile(prog.source, "<check>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        owner, _ = prog.origin(exc.lineno)
        if owner == blank.name or owner is None:
            col = exc.offset or 1
            if blank.kind == "statement":
                col = max(1, col - blank.code_col)
            return _syntax(blank, 1, col, exc.msg)
        return _syntax(blank, 1, 1, f"{exc.msg} (near the blank `{owner}`)")
    except (ValueError, RecursionError, MemoryError) as exc:
        return _syntax(blank, 1, 1, str(exc) or "it cannot be read")
    return None


def _compiles(source: str) -> bool:
    try:
        compile(source, "<check>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _forbidden(blank: Blank, tree: ast.AST) -> BlankResult | None:
    """The first policy violation in a parsed answer as a `forbidden` verdict, or None."""
    violations = policy.check(tree)
    if not violations:
        return None
    v = violations[0]
    return BlankResult(
        blank.name, blank.kind, blank.step, "error", "forbidden",
        f"`{blank.name}`: {v.message} (line {v.line}, column {v.col}).", line=v.line, col=v.col,
    )


def _syntax(blank: Blank, line: int, col: int, msg: str) -> BlankResult:
    where = f"column {col}" if line == 1 else f"line {line}, column {col}"
    return BlankResult(
        blank.name, blank.kind, blank.step, "error", "syntax_error",
        f"`{blank.name}` is not valid Python at {where}: {msg}.", line=line, col=col,
    )


class Grader:
    """Grades answers with one warm evaluator; several answer sets reuse it and the reference runs."""

    def __init__(self, evaluator: Any, *, datasets_dir: Any = None) -> None:
        self.evaluator = evaluator
        self.datasets_dir = datasets_dir
        self._refs: dict[tuple[str, str], RunResult] = {}
        self._sizes: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._layers: list[str] | None = None  # the evaluator's active layers, asked once

    # ---- jobs ---------------------------------------------------------------------------------
    # Shadow evaluation compares every call of a blank up to SAMPLE_AFTER, then one call in SAMPLE_EVERY;
    # when the learner's full run then disagrees with the reference and no blank explains it, the
    # grader repeats the shadow run comparing every call.
    SAMPLE_AFTER = 10
    SAMPLE_EVERY = 50

    def _job(self, lesson: Lesson, label: str, prog: programs.Program, sample: bool = False) -> dict:
        captures: dict[str, list[str]] = {}
        for s, step in enumerate(lesson.steps):
            exprs = [c.expr for c in step.compare]
            for value in step.charts.values():
                exprs += _chart_exprs(value)
            captures[str(s)] = list(dict.fromkeys(exprs))
        specs = []
        for blank in lesson.blanks.values():
            specs.append({
                "name": blank.name, "rtol": blank.rtol, "atol": blank.atol,
                "numpy_rng": "random" in blank.answer,
            })
        return {
            "id": label,
            "source": prog.source,
            "filename": f"<{lesson.id}>",
            "names": list(lesson.names),
            "data": datasets.job_data(lesson.datasets, self.datasets_dir),
            "seed": lesson.seed,
            "timeout": float(lesson.timeout),
            "captures": captures,
            "blanks": specs,
            "max_pairs": 8,
            **({"shadow_sample_after": self.SAMPLE_AFTER, "shadow_sample_every": self.SAMPLE_EVERY} if sample else {}),
        }

    def _run(self, jobs: list[tuple[dict, programs.Program]], on_output: Callable[[str], None] | None = None) -> list[RunResult]:
        if on_output is not None and any(j.get("stream") for j, _ in jobs):
            outcomes = self.evaluator.run([j for j, _ in jobs], on_output=lambda _i, text: on_output(text))
        else:
            outcomes = self.evaluator.run([j for j, _ in jobs])
        results = []
        for outcome in outcomes:
            res = parse_run(outcome.status, outcome.header, outcome.arrays)
            res.marker = outcome.marker
            res.stdout = outcome.stdout or ""
            res.stdout_truncated = bool(outcome.stdout_truncated)
            res.signal = outcome.signal
            if outcome.error:
                res.detail = outcome.error
            if not res.wall:
                res.wall = outcome.wall or 0.0
            results.append(res)
        return results

    def sizes(self, lesson: Lesson) -> list[int]:
        out: list[int] = []
        for name in lesson.datasets:
            if name not in self._sizes:
                self._sizes[name] = sorted({len(v) for v in datasets.load(name, self.datasets_dir).values()})
            out += self._sizes[name]
        return sorted(set(out))

    def reference(self, lesson: Lesson) -> RunResult:
        key = (lesson.id, str(lesson.path))
        if key in self._refs:
            return self._refs[key]
        prog = programs.build(lesson)
        (res,) = self._run([(self._job(lesson, "reference", prog), prog)])
        if res.status != "ok":
            raise LessonRunError(self._reference_problem(lesson, prog, res))
        self._refs[key] = res
        return res

    def _reference_problem(self, lesson: Lesson, prog: programs.Program, res: RunResult) -> str:
        line = None
        if res.error and res.error.line:
            _, line = prog.origin(res.error.line)
        where = f"{lesson.path}:{line}" if line else f"{lesson.path}"
        if res.status == "timeout":
            return f"{where}: the reference program of `{lesson.id}` did not finish within {lesson.timeout:g} s: raise `timeout` in the header or shorten the run."
        if res.error:
            return f"{where}: the reference program of `{lesson.id}` fails with {res.error.type}: {res.error.message.splitlines()[0] if res.error.message else ''}"
        return f"{where}: the reference program of `{lesson.id}` ended with `{res.status}` {res.detail}".rstrip()

    # ---- grading ------------------------------------------------------------------------------
    def grade(self, lesson: Lesson, answers: dict[str, str], cancelled: Callable[[], bool] | None = None,
              on_output: Callable[[str], None] | None = None) -> GradeReport:
        """Per-blank verdicts for `answers` (blank name -> text); blanks not in it are `missing`.
        `on_output(text)` gets the learner's program's output, whole lines, while it runs."""
        start = time.perf_counter()
        check = cancelled or (lambda: False)
        with self._lock:
            report = self._grade(lesson, answers, check, on_output)
        report.elapsed = time.perf_counter() - start
        return report

    def _grade(self, lesson: Lesson, answers: dict[str, str], cancelled: Callable[[], bool],
               on_output: Callable[[str], None] | None = None) -> GradeReport:
        results: dict[str, BlankResult] = {}
        valid: dict[str, str] = {}
        for blank in lesson.blanks.values():
            text = answers.get(blank.name)
            bad = static_check(lesson, blank, text, in_place=False)
            if bad is not None:
                results[blank.name] = bad
            else:
                valid[blank.name] = text.strip() if blank.kind != "block" else textwrap.dedent(text).strip("\n")
        if valid and not _compiles(programs.build(lesson, answers=valid, learner=set(valid), mark=False).source):
            for name in list(valid):  # which answer breaks the program: each in its place alone
                bad = static_check(lesson, lesson.blanks[name], answers.get(name))
                if bad is not None:
                    results[name] = bad
                    del valid[name]
        ref = self.reference(lesson)
        sizes = self.sizes(lesson)
        if self._layers is None:
            self._layers = list(self.evaluator.layers()) if hasattr(self.evaluator, "layers") else []
        layers = self._layers
        report = GradeReport(lesson.id, {}, layers=layers, reference_run=ref)
        names = list(lesson.blanks)
        by_index = {i: n for i, n in enumerate(names)}
        stmts = [n for n in valid if lesson.blanks[n].kind != "expression"]
        # An expression written exactly as the reference (spacing and comments aside) evaluates to the
        # reference's value in any state: it is right without a shadow comparison, and with every
        # expression so written no shadow run is made at all (the learner's run still is).
        exprs = []
        for n in valid:
            if lesson.blanks[n].kind != "expression":
                continue
            if normalize(valid[n]) == normalize(lesson.blanks[n].answer):
                results[n] = _result(lesson.blanks[n], None)
            else:
                exprs.append(n)
        tolerances = {c.expr: (c.rtol, c.atol) for st in lesson.steps for c in st.compare}
        loss_exprs = {v for st in lesson.steps for k, v in st.charts.items() if k == "loss" and isinstance(v, str)}

        def diag_status(res: RunResult, owner: str | None) -> Diagnosis:
            if res.status in ("timeout", "memory"):
                return from_error(owner, res.error or _no_error(), res.status)
            if res.status in ("crashed", "oversize", "bad_result"):
                what = {"crashed": "crashed the run", "oversize": "produced a result too large to read",
                        "bad_result": "left a result that cannot be read"}[res.status]
                return Diagnosis("runtime_error", f"`{owner}` {what}." if owner else f"the program {what}.")
            return from_error(owner, res.error or _no_error())

        # Shadow evaluation of expression blanks, beside the learner's full run.
        shadowed = set(exprs)
        learner_set = set(valid)
        pending_learner = True
        learner_res: RunResult | None = None
        unreached: list[str] = []
        for _attempt in range(len(exprs) + 1):
            if cancelled():
                raise Cancelled()
            jobs = []
            if shadowed:
                sp = programs.build(lesson, answers=valid, shadow=shadowed)
                jobs.append((self._job(lesson, "shadow", sp, sample=True), sp))
            if pending_learner:
                # The learner's run compares its rewritten expressions with the reference's in place, at
                # the calls the shadow run would: when all of them agree and the run ends well, the
                # shadow run is not needed and the worker skips it; it starts as soon as one disagrees,
                # the run fails, or the run takes longer than the reference's did.
                lp = programs.build(lesson, answers=valid, learner=learner_set, check=shadowed)
                lj = self._job(lesson, "learner", lp, sample=bool(shadowed))
                if on_output is not None:
                    lj["stream"] = True  # the learner watches their own run's prints as it trains
                if shadowed:
                    jobs[0][0]["after"] = {"job": 1, "seconds": max(0.05, 1.5 * (ref.wall or 0.0))}
                jobs.append((lj, lp))
            if not jobs:
                break
            ran = self._run(jobs, on_output)
            if pending_learner:
                learner_res = ran[-1]
                pending_learner = False
            if not shadowed:
                break
            sres = ran[0]
            if sres.status == "skipped" and learner_res is not None and learner_res.status == "ok":
                sres = learner_res  # its own checks all agreed: they are the verdicts
            if sres.status in ("timeout", "memory", "crashed", "oversize") and sres.marker is not None:
                owner = by_index.get(sres.marker)
                if owner in shadowed:
                    results[owner] = _result(lesson.blanks[owner], diag_status(sres, owner))
                    shadowed.discard(owner)
                    continue  # again without the answer that hung or blew up
            for name in list(shadowed):
                i = names.index(name)
                trace = sres.blanks.get(i)
                if trace is None or (trace.calls == 0 and trace.error is None):
                    unreached.append(name)
                    continue
                results[name] = _result(lesson.blanks[name], from_trace(name, trace, sizes))
            if sres.status not in ("ok", "error"):
                for name in shadowed:
                    if name not in results and name not in unreached:
                        results[name] = _result(lesson.blanks[name], diag_status(sres, name))
            break
        report.learner_run = learner_res
        if cancelled():
            raise Cancelled()

        # The learner's full run: does it reproduce the reference's traces?
        run_diag: Diagnosis | None = None
        culprit: str | None = None
        if learner_res is not None and valid:
            if learner_res.status == "ok":
                run_diag = compare_runs("program", ref.captures, learner_res.captures, tolerances,
                                        loss_exprs=loss_exprs, sizes=sizes)
            else:
                idx = learner_res.marker if learner_res.status in ("timeout", "memory", "crashed") else None
                if idx is None and learner_res.error is not None:
                    idx = learner_res.error.blank if learner_res.error.blank is not None else learner_res.failed_blank
                culprit = by_index.get(idx) if idx is not None else None
                if culprit is None and learner_res.error is not None and learner_res.error.line:
                    culprit = lp.origin(learner_res.error.line)[0]
                # An answer identical to the reference cannot be the cause: the error comes from another blank.
                if culprit in valid and culprit not in results and normalize(valid[culprit]) != normalize(lesson.blanks[culprit].answer):
                    results[culprit] = _result(lesson.blanks[culprit], diag_status(learner_res, culprit))
                run_diag = diag_status(learner_res, culprit)
        todo = [n for n in stmts + unreached if n not in results]
        if run_diag is None:
            for name in todo:
                results[name] = _result(lesson.blanks[name], None)
        else:
            iso = [n for n in todo if normalize(valid[n]) != normalize(lesson.blanks[n].answer)]
            for name in todo:
                if name not in iso:
                    results[name] = _result(lesson.blanks[name], None)
            if iso:
                if cancelled():
                    raise Cancelled()
                for name, d in self._isolate(lesson, valid, iso, ref, tolerances, loss_exprs, sizes, diag_status).items():
                    results[name] = _result(lesson.blanks[name], d)
            if all(r.verdict == "correct" for r in results.values()) and exprs:
                # Sampling may have skipped the calls where an expression goes wrong: compare them all.
                sp = programs.build(lesson, answers=valid, shadow=set(exprs))
                (full,) = self._run([(self._job(lesson, "shadow-full", sp), sp)])
                for name in exprs:
                    trace = full.blanks.get(names.index(name))
                    d = from_trace(name, trace, sizes) if trace is not None else None
                    if d is not None:
                        results[name] = _result(lesson.blanks[name], d)
            if all(r.verdict == "correct" for r in results.values()):
                self._isolate_expressions(lesson, valid, exprs, results, ref, tolerances, loss_exprs, sizes, diag_status)
            if all(r.verdict == "correct" for r in results.values()) and learner_res is not None:
                report.notes.append(f"Your whole program does not reproduce the reference run: {run_diag.message}")
        report.blanks = {n: results[n] for n in names if n in results}
        for n in names:
            if n not in report.blanks:
                report.blanks[n] = _result(lesson.blanks[n], Diagnosis("wrong_value", f"`{n}` could not be checked."))
        return report

    def _isolate_expressions(
        self, lesson: Lesson, valid: dict[str, str], exprs: list[str], results: dict[str, BlankResult],
        ref: RunResult, tolerances: Any, loss_exprs: Any, sizes: list[int], diag_status: Callable[[RunResult, str | None], Diagnosis],
    ) -> None:
        """An expression can equal the reference's value and still behave differently (`2 * nn.Sequential(...)`
        repeats the layers but holds the same parameters): when the run differs and no blank explains it,
        run each rewritten expression blank alone in the reference program."""
        suspects = [n for n in exprs if normalize(valid[n]) != normalize(lesson.blanks[n].answer)]
        for name, d in self._isolate(lesson, valid, suspects, ref, tolerances, loss_exprs, sizes, diag_status).items():
            if d is not None:
                results[name] = _result(lesson.blanks[name], d)

    def _isolate(
        self, lesson: Lesson, valid: dict[str, str], names: list[str], ref: RunResult, tolerances: Any,
        loss_exprs: Any, sizes: list[int], diag_status: Callable[[RunResult, str | None], Diagnosis],
    ) -> dict[str, Diagnosis | None]:
        """Isolation runs: the reference program with only one learner blank each, in parallel."""
        if not names:
            return {}
        jobs = []
        for name in names:
            p = programs.build(lesson, answers=valid, learner={name})
            jobs.append((self._job(lesson, f"isolate:{name}", p), p))
        out: dict[str, Diagnosis | None] = {}
        for name, res in zip(names, self._run(jobs)):
            if res.status == "ok":
                out[name] = compare_runs(name, ref.captures, res.captures, tolerances, loss_exprs=loss_exprs, sizes=sizes)
            else:
                out[name] = diag_status(res, name)
        return out


def _no_error():
    from tutor.sandbox.results import RunError

    return RunError(type="Error", message="")


def _chart_exprs(value: Any) -> list[str]:
    """Expressions a chart spec refers to ("loss_list", {"x": "X", "line": "y_pred"}...)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [v for k, v in value.items() if isinstance(v, str) and k not in ("title", "kind", "scale")]
    return []
