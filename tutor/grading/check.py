"""`tutor check`: run every reference, then make sure the grader judges answers as the author means.

For each lesson, after its reference run:

- what the reference run produced: every `[compare]` and `[charts]` entry must name something the
  program computes, and no compared value may be NaN or infinite (every learner would be compared
  with it); each such problem is at the entry's line;
- one batch of gradings (`Grader.grade_many`: their runs go to the evaluator together, in parallel):
  the reference answers (all must be accepted, and each blank must run at least once: a blank in
  `if False:` or in a function never called could never be judged), every mutant (tutor/grading/
  mutants.py: each must be caught; a "flipped sign" or "doubled" one is caught without a run when
  the reference run's first value of its blank already tells it apart, `judged_by_reference`),
  every `accept` entry (each must be accepted; the entries at one place in the lists of a step's
  `judge = "run"` blanks are graded together, as one convention), and the built-in equivalent forms
  of each blank (tutor/grading/rewrites.py).

An equivalent form that is rejected is a warning, unless it shows a tolerance tighter than rounding:
its run's compared values (or, when those all match, the blank's own values, under the blank's own
`rtol`/`atol`) differ from the reference's by rounding only. That is a problem at the tolerance's
line, for every learner who writes the same computation in another order would be refused. A form
that fails to run was not valid for the values at hand (a `.mean()` of a list) and is left out.

A lesson's `check_seconds` is its grading batch's time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from tutor.grading.diagnose import ERROR_CODES, rounding_only
from tutor.grading.facts import _chart_exprs
from tutor.grading.grader import GradeReport, Grader, LessonRunError, gives_away
from tutor.grading.mutants import Mutant, mutants
from tutor.grading.rewrites import Rewrite, rewrites
from tutor.lesson.model import Lesson
from tutor.sandbox.results import RunResult, Value



@dataclass
class LessonCheck:
    lesson: str
    path: str
    reference_error: str | None = None
    reference_passes: bool = False
    caught: int = 0
    survivors: list[str] = field(default_factory=list)  # "blank: label: text"
    notes: list[str] = field(default_factory=list)  # what a learner would see wrongly, short of a missed answer
    problems: list[str] = field(default_factory=list)  # "file:line: sentence": the lesson must be fixed
    warnings: list[str] = field(default_factory=list)  # "file:line: sentence": worth a look, not a failure
    forms_tried: int = 0  # accepted answers and equivalent forms graded
    reference_seconds: float = 0.0
    check_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reference_error is None and self.reference_passes and not self.survivors and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "lesson": self.lesson, "path": self.path, "ok": self.ok, "reference_error": self.reference_error,
            "reference_passes": self.reference_passes, "mutants_caught": self.caught, "survivors": self.survivors,
            "notes": self.notes, "problems": self.problems, "warnings": self.warnings, "forms_tried": self.forms_tried,
            "reference_seconds": round(self.reference_seconds, 3), "check_seconds": round(self.check_seconds, 3),
        }


@dataclass(frozen=True)
class _Accepted:
    """One `accept` entry (or, for `judge = "run"` blanks, the entries at one place of a step's lists)."""

    answers: dict[str, str]  # blank -> accepted answer
    line: int  # the `accept` line of its (first) blank


def check_lesson(grader: Grader, lesson: Lesson) -> LessonCheck:
    start = time.perf_counter()
    out = LessonCheck(lesson.id, str(lesson.path))
    try:
        ref = grader.reference(lesson)
        out.reference_seconds = ref.wall
    except LessonRunError as exc:
        out.reference_error = str(exc)
        out.check_seconds = time.perf_counter() - start
        return out
    out.problems += reference_value_problems(lesson, ref)
    values_ok = not out.problems  # else every answer fails on them: the forms would only repeat it
    answers = lesson.reference_answers()
    tried = [m for blank in lesson.blanks.values() for m in mutants(blank)]
    judged = [m for m in tried if judged_by_reference(lesson, ref, m)]
    out.caught += len(judged)
    tried = [m for m in tried if m not in judged]
    accepted = accepted_sets(lesson)
    forms = [f for blank in lesson.blanks.values() for f in rewrites(blank, lesson.framework)]
    out.forms_tried = len(accepted) + len(forms)
    # Everything is graded together: the runs go to the evaluator as one request (then one per later
    # round of isolation runs), which runs them in parallel.
    sets = [answers] + [{**answers, m.blank: m.text} for m in tried] + [{**answers, **a.answers} for a in accepted]
    sets += [{**answers, f.blank: f.text} for f in forms]
    # A wrong answer's run is only there to be caught: it ends at its first disagreement (the forms and
    # accepted answers, which must be right, run in full, as a learner's would).
    report, *graded = grader.grade_many(lesson, sets, verdicts_only=range(1, 1 + len(tried)))
    out.reference_passes = report.passed
    if not report.passed:
        wrong = [f"{n}: {b.diagnosis}: {b.message}" for n, b in report.blanks.items() if b.verdict != "correct"]
        out.survivors.append("the reference answers themselves are not all accepted: " + "; ".join(wrong))
    out.problems += never_run(lesson, report.learner_run)
    for blank in lesson.blanks.values():
        for code, hint in blank.diagnosis_hints.items():
            if gives_away(blank, hint):
                out.notes.append(f"{blank.name}: the hint for `{code}` shows the answer, so it is never shown with a "
                                 "verdict: the answer belongs in the last of `hints` only")
    mutant_reports, graded = graded[: len(tried)], graded[len(tried):]
    for m, rep in zip(tried, mutant_reports):
        if rep.blanks[m.blank].verdict == "correct":
            out.survivors.append(f"{m.blank}: {m.label}: `{m.text}` is accepted as correct")
        else:
            out.caught += 1
    for a, rep in zip(accepted, graded[: len(accepted)]):
        out.problems += _accept_problems(lesson, a, rep)
    for f, rep in zip(forms, graded[len(accepted):]):
        found = _form_finding(lesson, ref, f, rep) if values_ok else None
        if found is None:
            continue
        if not found[0]:
            out.warnings.append(found[1])
        elif not any(p.startswith(found[1].split(" tighter than rounding")[0]) for p in out.problems):
            out.problems.append(found[1])  # one problem a tolerance: the first form that shows it
    out.check_seconds = time.perf_counter() - start
    return out


# ---- what the reference run produced --------------------------------------------------------------

def judged_by_reference(lesson: Lesson, ref: RunResult, mutant: Mutant) -> bool:
    """A "flipped sign" or "doubled" mutant (`-(answer)`, `2 * (answer)`) whose verdict the reference
    run already holds: caught, because at the blank's first call its value would disagree with the
    reference's. That first call is where its grading decides (every other answer is the reference's,
    so the program is the reference's up to there, and a wrong answer alone is judged by its first
    disagreement: context.decisive); the reference run made that comparison on `-value` and
    `2 * value` (runtime.Runtime._wrappers). For a long run whose blank comes last (mlp-regression's
    `output`) that is two 10000-epoch runs saved. Anything else (a mutant that would agree there, a
    blank judged by the run, a value that is not numbers) is graded."""
    blank = lesson.blanks.get(mutant.blank)
    if not mutant.wraps or blank is None or blank.judge == "run":
        return False
    trace = ref.blanks.get(list(lesson.blanks).index(mutant.blank))
    return trace is not None and trace.wrapped.get(mutant.wraps) == "differs"


def reference_value_problems(lesson: Lesson, ref: RunResult) -> list[str]:
    """`[compare]` and `[charts]` entries the reference run could not compute, and compared values that
    are NaN or infinite in it; each at the entry's line."""
    out: list[str] = []
    for s, step in enumerate(lesson.steps):
        caps = ref.captures.get(str(s), {})
        entries = [(c.expr, c.location.line if c.location else 1, "compares", True) for c in step.compare]
        for name, spec in step.charts.items():
            line = step.chart_lines.get(name, step.location.line if step.location else 1)
            entries += [(expr, line, f"draws the chart `{name}` from", False) for expr in _chart_exprs(spec)]
        for expr, line, what, compared in entries:
            where = f"{lesson.path}:{line}: the check block of step {s + 1} {what} `{expr}`"
            value = caps.get(expr)
            if value is None or value.kind in ("error", "invalid"):
                why = value.text if value is not None and value.text else "it cannot be computed"
                if why.startswith("NameError"):
                    out.append(f"{where}, which the program never defines (by the end of step {s + 1}): name a variable"
                               " the program sets, or fix its spelling")
                else:
                    out.append(f"{where}, which the reference run cannot compute ({why}): fix the expression")
            elif compared and value.is_numeric and value.array.size and not np.all(np.isfinite(value.array)):
                out.append(f"{where}, which becomes NaN or infinite in the reference run: every learner would be compared"
                           " with it; fix the reference program (a learning rate too large, a log of 0, a division by 0)")
    return list(dict.fromkeys(out))


def never_run(lesson: Lesson, run: RunResult | None) -> list[str]:
    """Blanks the reference program never runs (in `if False:`, in a function never called): no answer
    to them could be judged. Read off the reference answers' own run, which counts each blank's runs."""
    if run is None or run.status != "ok":
        return []
    out = []
    for i, blank in enumerate(lesson.blanks.values()):
        trace = run.blanks.get(i)
        if trace is None or trace.seen == 0:
            out.append(f"{blank.location.path}:{blank.location.line}: the blank `{blank.name}` never runs: the program"
                       " never reaches it (a branch that is never taken, a function never called), so no answer to it"
                       " could be judged: put it where the program runs it")
    return out


# ---- accepted answers -----------------------------------------------------------------------------

def accepted_sets(lesson: Lesson) -> list[_Accepted]:
    """Each blank's `accept` entries, graded with the other blanks at their reference answers; the
    `judge = "run"` blanks of one step are one convention per place in their lists, graded together."""
    out: list[_Accepted] = []
    run_blanks: dict[int, list] = {}
    for blank in lesson.blanks.values():
        line = blank.setting_lines.get("accept", blank.location.line)
        if blank.judge == "run" and blank.accept:
            run_blanks.setdefault(blank.step, []).append(blank)
            continue
        out += [_Accepted({blank.name: text}, line) for text in blank.accept]
    for group in run_blanks.values():
        for k in range(max(len(b.accept) for b in group)):
            answers = {b.name: b.accept[k] for b in group if k < len(b.accept)}
            first = next(b for b in group if b.name in answers)
            out.append(_Accepted(answers, first.setting_lines.get("accept", first.location.line)))
    return out


def _accept_problems(lesson: Lesson, accepted: _Accepted, rep: GradeReport) -> list[str]:
    if rep.passed:
        return []
    wrong = [(n, b) for n, b in rep.blanks.items() if b.verdict != "correct"]
    shown = " with ".join(f"`{n}` = `{_short(t)}`" for n, t in accepted.answers.items())
    why = "; ".join(f"`{n}`: {b.message}" for n, b in wrong[:2])
    return [f"{lesson.path}:{accepted.line}: the accepted answer {shown} is not accepted by the grader ({why}):"
            " fix the answer, or the tolerances that refuse it"]


# ---- equivalent forms -----------------------------------------------------------------------------

def _form_finding(lesson: Lesson, ref: RunResult, form: Rewrite, rep: GradeReport) -> tuple[bool, str] | None:
    """None when the form is accepted (or does not run: not valid here); else (is a problem, sentence)."""
    result = rep.blanks.get(form.blank)
    if result is None or result.verdict in ("correct", "error", "unjudged") or result.diagnosis in ERROR_CODES:
        return None
    blank = lesson.blanks[form.blank]
    written = f"`{form.blank}` written as `{_short(form.text)}` ({form.label}, the same computation)"
    run = rep.learner_run
    loose = _rounding_only_entries(lesson, ref, run)
    if loose:
        line, expr, spec, rel = loose[0]
        return True, (f"{lesson.path}:{line}: `{expr}` is compared with rtol = {spec[0]:g}, atol = {spec[1]:g}, tighter"
                      f" than rounding: {written} differs from the reference by {rel:.1g} (relative) and is rejected;"
                      f" allow at least rtol = {_at_least(rel):g}, or leave the default (1e-4)")
    if run is not None and run.status == "ok" and _all_match(lesson, ref, run) and (blank.rtol is not None or blank.atol is not None):
        key = "rtol" if blank.rtol is not None else "atol"
        line = blank.setting_lines.get(key, blank.location.line)
        return True, (f"{lesson.path}:{line}: blank `{blank.name}` is compared with {key} = {getattr(blank, key):g},"
                      f" tighter than rounding: {written} gives the same run but is rejected ({result.message});"
                      " loosen it, or remove it for the default")
    return False, (f"{lesson.path}:{blank.location.line}: warning: {written} is rejected: {result.message} A learner who"
                   " writes it is told it is wrong: loosen the tolerance, add judge = \"run\", or check the reference")


def _entries(lesson: Lesson, ref: RunResult, run: RunResult) -> list[tuple[int, str, tuple[float, float], Value, Value]]:
    out = []
    for s, step in enumerate(lesson.steps):
        refs, gots = ref.captures.get(str(s), {}), run.captures.get(str(s), {})
        for c in step.compare:
            r, g = refs.get(c.expr), gots.get(c.expr)
            if r is not None and g is not None:
                out.append((c.location.line if c.location else 1, c.expr, (c.rtol, c.atol), r, g))
    return out


def _all_match(lesson: Lesson, ref: RunResult, run: RunResult) -> bool:
    for _line, _expr, (rtol, atol), r, g in _entries(lesson, ref, run):
        if not (r.is_numeric and g.is_numeric and r.shape == g.shape):
            continue
        if not np.allclose(g.array, r.array, rtol=rtol, atol=atol, equal_nan=True):
            return False
    return True


def _rounding_only_entries(lesson: Lesson, ref: RunResult, run: RunResult | None) -> list[tuple[int, str, tuple[float, float], float]]:
    """The compared entries a run misses under the lesson's tolerances but meets within rounding:
    (line, expression, (rtol, atol), largest relative difference)."""
    if run is None or run.status != "ok":
        return []
    out = []
    for line, expr, tol, r, g in _entries(lesson, ref, run):
        if not (r.is_numeric and g.is_numeric and r.shape == g.shape):
            continue
        if np.allclose(g.array, r.array, rtol=tol[0], atol=tol[1], equal_nan=True):
            continue
        rel = rounding_only(r, g)
        if rel is not None:
            out.append((line, expr, tol, rel))
    return out


def _at_least(rel: float) -> float:
    """A tolerance that leaves room for `rel` and more: the power of ten at or above 100 times it."""
    return 10.0 ** math.ceil(math.log10(max(rel * 100, 1e-12)))


def _short(text: str, limit: int = 60) -> str:
    text = " / ".join(line.strip() for line in text.strip().splitlines())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- a folder of lessons ------------------------------------------------------------------------

def check_lessons(grader: Grader, lessons: list[Lesson], progress: Callable[[str], None] | None = None) -> list[LessonCheck]:
    grader.references(lessons)  # every lesson's reference run at once, in parallel
    reports = []
    for lesson in lessons:
        r = check_lesson(grader, lesson)
        reports.append(r)
        if progress is not None:
            _say(r, progress)
    return reports


def _say(r: LessonCheck, progress: Callable[[str], None]) -> None:
    if r.reference_error:
        progress(f"FAIL {r.lesson}: {r.reference_error}")
        return
    state = "ok  " if r.ok else "FAIL"
    progress(
        f"{state} {r.lesson}: reference runs in {r.reference_seconds:.2f} s, "
        f"{r.caught} wrong answers caught, {len(r.survivors)} missed, "
        f"{r.forms_tried} right forms tried ({r.check_seconds:.1f} s)"
    )
    for p in r.problems:
        progress(f"     {p}")
    for s in r.survivors:
        progress(f"     missed {s}")
    for w in r.warnings:
        progress(f"     {w}")
    for n in r.notes:
        progress(f"     note {n}")
