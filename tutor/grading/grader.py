"""Grades a learner's answers to a lesson, in the four stages of DESIGN.md ("How an answer is graded"):

1. `_check_answers`: the static check of every answer (tutor/grading/static.py);
2. `_shadow_and_learner_runs`: the shadow run (each rewritten expression evaluated beside the
   reference's, on the reference's trajectory) and the learner's own run, sent together;
3. `_judge_learner_run`: does the learner's run reproduce the reference's traces, and if it failed,
   where;
4. `_isolation_runs`: each rewritten blank still in doubt run alone in the reference program, then
   `_last_checks` (a full shadow run when sampling may have hidden a mistake, and each rewritten
   expression alone, in one request).

What the stages share lives in one `GradeContext` (tutor/grading/context.py, with what they read
off a run). The reference run of each lesson is made once per
Grader and cached, and kept on disk for the next process (`ref_cache`, tutor/grading/refcache.py); it
is made with every blank marked, so answers that are all the reference's own code take it as their
run. Every run happens in the sandboxed evaluator, never in this process. The stages
that run programs are generators (`Runs`): `grade` drives one grading's, `grade_many` several at
once, so the runs they need at the same time go to the evaluator as one request, run in parallel.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any, Callable, Collection, Generator

from tutor import datasets
from tutor.grading import programs
from tutor.grading.context import (  # noqa: F401 - GradeContext re-exported
    GradeContext, decisive, diag_status, no_effect, same_outcome, whole_line,
)
from tutor.grading.diagnose import Diagnosis, Sizes, compare_runs, from_trace
from tutor.grading.facts import _chart_data_sizes, _chart_exprs, conventions, dataset_problem, learning_rates
from tutor.grading.report import (  # noqa: F401 - re-exported: the grader's results are imported from here
    BlankResult, Cancelled, GradeReport, _all_right, _result, _unjudged, gives_away, verdict_hint,
)
from tutor.grading.static import (  # noqa: F401 - re-exported
    ANSWER_MAX_CHARS, ANSWER_MAX_DEPTH, _compiles, answer_text, normalize, static_check,
)
from tutor.lesson.model import Blank, Lesson
from tutor.sandbox.results import RunResult, parse_run


# A grading stage that needs runs is a generator: it yields the jobs it needs run together (one
# request) and gets their results back, in order; its return value is what it found. `_drive` runs
# the generators of one or several gradings, merging what they need at the same time into one
# request, so `grade` and `grade_many` go through the very same stages.
Jobs = list[tuple[dict, programs.Program]]
Runs = Generator[Jobs, list[RunResult], Any]


class LessonRunError(Exception):
    """The lesson's own reference program does not run: a problem for the instructor, with its place."""


class Grader:
    """Grades answers with one warm evaluator; several answer sets reuse it and the reference runs."""

    def __init__(self, evaluator: Any, *, datasets_dir: Any = None, ref_cache: Any = None) -> None:
        self.evaluator = evaluator
        self.datasets_dir = datasets_dir
        self.ref_cache = ref_cache  # a refcache.ReferenceCache: reference runs kept across processes
        self._refs: dict[tuple[str, str], RunResult] = {}
        self._ref_problems: dict[tuple[str, str], str] = {}  # failed reference runs of `references`, said once
        self._sizes: dict[str, list[int]] = {}
        self._factors: dict[tuple[str, str], Sizes] = {}  # per lesson: `sizes`
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
            "data": datasets.lesson_job_data(lesson, self.datasets_dir),
            "seed": lesson.seed,
            "timeout": float(lesson.timeout),
            "captures": captures,
            "blanks": specs,
            "max_pairs": 8,
            **({"shadow_sample_after": self.SAMPLE_AFTER, "shadow_sample_every": self.SAMPLE_EVERY} if sample else {}),
            **({"once": once} if prog.compared and (once := programs.reached_once(prog.source)) else {}),
        }

    def _run(self, jobs: list[tuple[dict, programs.Program]], on_output: Callable[[str], None] | None = None) -> list[RunResult]:
        if on_output is not None and any(j.get("stream") for j, _ in jobs):
            outcomes = self.evaluator.run([j for j, _ in jobs], on_output=lambda _i, text: on_output(text))
        else:
            outcomes = self.evaluator.run([j for j, _ in jobs])
        return [_run_result(outcome) for outcome in outcomes]

    def _reference_runs(self, jobs: list[dict]) -> list[RunResult]:
        """Reference runs: those kept on disk (`ref_cache`) read back, the others run in one request
        (and kept when they end well)."""
        cache = self.ref_cache
        outcomes = [cache.get(job) if cache is not None else None for job in jobs]
        todo = [k for k, o in enumerate(outcomes) if o is None]
        if todo:
            for k, outcome in zip(todo, self.evaluator.run([jobs[k] for k in todo])):
                outcomes[k] = outcome
                if cache is not None:
                    cache.put(jobs[k], outcome)
        return [_run_result(outcome) for outcome in outcomes]

    def sizes(self, lesson: Lesson) -> Sizes:
        """What a `scaled` factor may be explained by, worked out once per lesson (after its reference
        run): the number of data points (the lengths of its datasets' columns, and the leading length
        of the `x` and `y` its charts draw, for data the program makes itself) and, as `.rates`, its
        learning rates (`learning_rates`). See `diagnose.explain_factor`."""
        key = (lesson.id, str(lesson.path))
        known = self._factors.get(key)
        if known is not None:
            return known
        out: set[int] = set()
        for name in lesson.datasets:
            if name not in self._sizes:
                self._sizes[name] = sorted({len(v) for v in datasets.load(name, self.datasets_dir).values()})
            out.update(self._sizes[name])
        out.update(len(own.array) for own in lesson.data.values())  # the instructor's own data: its rows
        ref = self._refs.get(key)
        if ref is not None:
            out.update(_chart_data_sizes(lesson, ref))
        found = Sizes(sorted(out), learning_rates(lesson))
        if ref is not None:
            self._factors[key] = found
        return found

    def reference(self, lesson: Lesson) -> RunResult:
        key = (lesson.id, str(lesson.path))
        if key in self._refs:
            return self._refs[key]
        problem = self._ref_problems.pop(key, None)
        if problem is not None:
            raise LessonRunError(problem)
        prog = _reference_program(lesson)
        (res,) = self._reference_runs([self._reference_job(lesson, prog)])
        if res.status != "ok":
            raise LessonRunError(self._reference_problem(lesson, prog, res))
        self._refs[key] = res
        return res

    def references(self, lessons: list[Lesson]) -> None:
        """The reference runs of `lessons` not made yet, in one request (run in parallel): `reference`
        then answers from the cache, or raises LessonRunError for one that failed (once; asked again,
        it runs it again). A lesson whose program cannot even be built is left to `reference`."""
        with self._lock:
            todo = []
            for lesson in lessons:
                key = (lesson.id, str(lesson.path))
                if key in self._refs or key in self._ref_problems or any(key == k for k, *_ in todo):
                    continue
                try:
                    prog = _reference_program(lesson)
                    todo.append((key, lesson, prog, self._reference_job(lesson, prog)))
                except LessonRunError as exc:
                    self._ref_problems[key] = str(exc)
                except Exception:  # noqa: BLE001 - `reference` meets it again, in its turn
                    continue
            ran = self._reference_runs([job for *_, job in todo])
            for (key, lesson, prog, _), res in zip(todo, ran):
                if res.status == "ok":
                    self._refs[key] = res
                else:
                    self._ref_problems[key] = self._reference_problem(lesson, prog, res)

    def _reference_job(self, lesson: Lesson, prog: programs.Program) -> dict:
        """The reference run's job; a dataset that is unknown or cannot be read is the lesson's problem."""
        try:
            job = self._job(lesson, "reference", prog)
        except datasets.DatasetError as exc:
            raise LessonRunError(dataset_problem(lesson, str(exc))) from None
        # Its expression blanks' first values also judge `tutor check`'s "flipped sign" and "doubled"
        # mutants (check.judged_by_reference): two operations on a value, in place of two runs each.
        probe = [i for i, b in enumerate(lesson.blanks.values()) if b.kind == "expression"]
        return {**job, "probe_wrappers": probe} if probe else job

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

    def grade_many(self, lesson: Lesson, answer_sets: list[dict[str, str]],
                   cancelled: Callable[[], bool] | None = None, *, verdicts_only: Collection[int] = ()) -> list[GradeReport]:
        """`grade` for several answer sets to one lesson, one report each, in order, every verdict the
        same as `grade` gives; their runs go to the evaluator together: the first stage's runs of every
        set in one request (run in parallel by the worker, up to its `max_parallel`), then what each
        still needs (isolation runs, a full shadow run), again in one request per round. No output is
        streamed. Each report's `elapsed` is the whole batch's. Raises LessonRunError as `grade` does.

        `verdicts_only`: the sets (by index) whose learner run nobody draws and whose verdicts alone
        are read (`tutor check`'s wrong answers): it ends at its first disagreement with the
        reference, so the report's run and captures cover only its start; the verdicts are those of a
        full grading, but a diagnosis may be coarser: one rewritten expression that disagrees at its
        first call is judged there, without the shadow run whose later calls tell "scaled" or "sign
        flipped" from "wrong value" (context.decisive)."""
        start = time.perf_counter()
        check = cancelled or (lambda: False)
        quick = set(verdicts_only)
        # Identical answer sets (a class's many copies of the same answer) are graded once: every
        # run is seeded, so a second grading could only repeat the first. Each gets its own copy.
        first: dict[Any, int] = {}
        graded: list[int] = []  # per set: the set whose grading it takes
        for k, answers in enumerate(answer_sets):
            graded.append(first.setdefault(_same_answers(answers, k in quick, k), k))
        todo = sorted(set(graded))
        with self._lock:
            done = self._drive([self._stages(GradeContext(lesson, answer_sets[k], check, None, verdicts_only=k in quick))
                                for k in todo])
        by_set = dict(zip(todo, done))
        reports = [by_set[g] if g == k else copy.deepcopy(by_set[g]) for k, g in enumerate(graded)]
        for report in reports:
            report.elapsed = time.perf_counter() - start
        return reports

    def _grade(self, lesson: Lesson, answers: dict[str, str], cancelled: Callable[[], bool],
               on_output: Callable[[str], None] | None = None) -> GradeReport:
        (report,) = self._drive([self._stages(GradeContext(lesson, answers, cancelled, on_output))], on_output)
        return report

    def _stages(self, ctx: GradeContext) -> Runs:
        """The four stages of one grading; returns its report."""
        self._check_answers(ctx)
        ctx.ref = self.reference(ctx.lesson)
        ctx.sizes = self.sizes(ctx.lesson)
        if self._layers is None:
            self._layers = list(self.evaluator.layers()) if hasattr(self.evaluator, "layers") else []
        yield from self._shadow_and_learner_runs(ctx)
        ctx.stop_if_cancelled()
        self._judge_learner_run(ctx)
        yield from self._isolation_runs(ctx)
        return self._report(ctx)

    def _drive(self, gradings: list[Runs], on_output: Callable[[str], None] | None = None) -> list[Any]:
        """Runs the gradings' stages until each returns; what they need run at the same time goes to the
        evaluator as one request (a job's "after" renumbered to its place there). Their results."""
        out: list[Any] = [None] * len(gradings)
        waiting: dict[int, Jobs] = {}

        def advance(i: int, ran: list[RunResult] | None) -> None:
            try:
                jobs = gradings[i].send(ran)  # type: ignore[arg-type] - None starts a generator
            except StopIteration as stop:
                out[i] = stop.value
                return
            waiting[i] = jobs

        for i in range(len(gradings)):
            advance(i, None)
        while waiting:
            batch: Jobs = []
            spans: list[tuple[int, int, int]] = []
            for i, jobs in waiting.items():
                base = len(batch)
                spans.append((i, base, len(jobs)))
                batch += [(_renumbered(job, base), prog) for job, prog in jobs]
            waiting = {}
            ran = self._run(batch, on_output) if batch else []
            for i, first, n in spans:
                advance(i, ran[first:first + n])
        return out

    # ---- stage 1: the static check ------------------------------------------------------------
    def _check_answers(self, ctx: GradeContext) -> None:
        lesson = ctx.lesson
        for blank in lesson.blanks.values():
            text = ctx.answers.get(blank.name)
            bad = static_check(lesson, blank, text, in_place=False)
            if bad is not None:
                ctx.results[blank.name] = bad
            else:
                ctx.valid[blank.name] = answer_text(lesson, blank, text)
        # The program as the learner's run has it (each answer inside the hooks that mark its blank).
        if ctx.valid and not _compiles(programs.build(lesson, answers=ctx.valid, learner=set(ctx.valid)).source):
            for name in list(ctx.valid):  # which answer breaks the program: each in its place alone
                bad = static_check(lesson, lesson.blanks[name], ctx.answers.get(name))
                if bad is not None:
                    ctx.results[name] = bad
                    del ctx.valid[name]
        ctx.names = list(lesson.blanks)
        ctx.stmts = [n for n in ctx.valid if lesson.blanks[n].kind != "expression"]
        # An expression written exactly as the reference (spacing and comments aside) evaluates to the
        # reference's value in any state: it is right without a shadow comparison, and with every
        # expression so written no shadow run is made at all (the learner's run still is).
        # A rewritten expression with `judge = "run"` is judged as a statement is: by the learner's run,
        # then (when the run differs) by isolation runs, never value by value beside the reference's.
        for n in ctx.valid:
            if lesson.blanks[n].kind == "expression":
                if not ctx.rewritten(n):
                    ctx.set(n, None)
                elif lesson.blanks[n].judge == "run":
                    ctx.stmts.append(n)
                else:
                    ctx.exprs.append(n)
        ctx.tolerances = {c.expr: (c.rtol, c.atol) for st in lesson.steps for c in st.compare}
        ctx.loss_exprs = {v for st in lesson.steps for k, v in st.charts.items() if k == "loss" and isinstance(v, str)}

    # ---- stage 2: the shadow run and the learner's run ---------------------------------------------
    def _shadow_and_learner_runs(self, ctx: GradeContext) -> Runs:
        """The shadow run (when an expression is rewritten) waits on the learner's run, which compares
        its rewritten expressions with the reference's in place, at the calls the shadow run would:
        when all agree and the run ends well, the worker skips the shadow run; it starts as soon as one
        disagrees, the run fails, or the run takes longer than the reference's did. An answer that hangs
        or blows the memory in the shadow run is judged so, and the shadow run made again without it; one
        that hangs in the learner's run, every check agreeing so far, is judged by that run (the shadow
        run, which would hang in the same call, waits and is never started)."""
        lesson, shadowed = ctx.lesson, set(ctx.exprs)
        if not any(ctx.rewritten(n) for n in ctx.valid):
            # Every answer is the reference's own code (or none is given): the learner's program is
            # the reference program, whose run (seeded, made with the blanks marked) is at hand.
            ctx.learner_program = programs.build(lesson, answers=ctx.valid, learner=set(ctx.valid))
            ctx.learner_run = copy.copy(ctx.ref)
            if ctx.on_output is not None and ctx.ref.stdout:
                ctx.on_output(ctx.ref.stdout)
            return
        for _attempt in range(len(ctx.exprs) + 1):
            ctx.stop_if_cancelled()
            jobs = []
            if shadowed:
                sp = programs.build(lesson, answers=ctx.valid, shadow=shadowed)
                sj = self._job(lesson, "shadow", sp, sample=True)
                # Once each shadowed expression is described (its first differing calls, or its
                # error), the rest of the shadow run cannot change a verdict: it ends there.
                sj["stop_when_judged"] = sorted(ctx.names.index(n) for n in shadowed)
                jobs.append((sj, sp))
            if ctx.learner_program is None:
                lp = programs.build(lesson, answers=ctx.valid, learner=set(ctx.valid), check=shadowed)
                lj = self._job(lesson, "learner", lp, sample=bool(shadowed))
                if ctx.on_output is not None:
                    lj["stream"] = True  # the learner watches their own run's prints as it trains
                if ctx.verdicts_only:
                    lj["stop_at_disagreement"] = True  # nobody draws this run: the shadow run decides
                lj.update(decisive(ctx, shadowed, lj))
                if shadowed:
                    jobs[0][0]["after"] = {"job": 1, "seconds": max(0.05, 1.5 * (ctx.ref.wall or 0.0)),
                                           "hold": sorted(ctx.names.index(n) for n in shadowed)}
                jobs.append((lj, lp))
                ctx.learner_program = lp
                ran = yield jobs
                ctx.learner_run = ran[-1]
            elif jobs:
                ran = yield jobs
            else:
                break
            if not shadowed or not self._judge_shadow(ctx, ran[0], shadowed):
                break

    def _judge_shadow(self, ctx: GradeContext, sres: RunResult, shadowed: set[str]) -> bool:
        """Verdicts from the shadow run; True when it must be made again without an answer that hung."""
        learner = ctx.learner_run
        if sres.status == "skipped" and learner is not None and learner.status in ("ok", "timeout"):
            # Its own checks agreed, or disagreed only where they are decisive: the verdicts. Or it ran
            # out of time inside a rewritten expression, every check agreeing: the shadow run would
            # have hung in the same call, so it was never started.
            sres = learner
        if sres.status in ("timeout", "memory", "crashed", "oversize") and sres.marker is not None:
            owner = ctx.names[sres.marker] if 0 <= sres.marker < len(ctx.names) else None
            if owner in shadowed:
                ctx.set(owner, diag_status(sres, owner))
                shadowed.discard(owner)
                return True
        for name in list(shadowed):
            trace = sres.blanks.get(ctx.names.index(name))
            if trace is None or (trace.calls == 0 and trace.error is None):
                ctx.unreached.append(name)
                continue
            ctx.set(name, from_trace(name, trace, ctx.sizes))
        if sres.status not in ("ok", "error"):
            for name in shadowed:
                if name not in ctx.results and name not in ctx.unreached:
                    ctx.set(name, diag_status(sres, name))
        return False

    # ---- stage 3: judging the learner's run ----------------------------------------------------
    def _judge_learner_run(self, ctx: GradeContext) -> None:
        """Does the learner's whole run reproduce the reference's traces? If it failed, in which blank?"""
        res = ctx.learner_run
        if res is None or not ctx.valid:
            return
        if res.status == "ok":
            ctx.run_diag = compare_runs("program", ctx.ref.captures, res.captures, ctx.tolerances,
                                        loss_exprs=ctx.loss_exprs, sizes=ctx.sizes)
            return
        idx = res.marker if res.status in ("timeout", "memory", "crashed") else None
        if idx is None and res.error is not None:
            idx = res.error.blank if res.error.blank is not None else res.failed_blank
        culprit = ctx.names[idx] if idx is not None and 0 <= idx < len(ctx.names) else None
        if culprit is None and res.error is not None and res.error.line:
            culprit = ctx.learner_program.origin(res.error.line)[0]
        # Where the run failed is not always its cause (`z.backward()` fails for a `w` autograd does
        # not track): a rewritten blank there is run alone in the reference program (stage 4), with
        # the others, and blamed for the failure only if nothing else explains it.
        if culprit in ctx.valid and culprit not in ctx.results and ctx.rewritten(culprit):
            ctx.suspect = culprit
        ctx.run_diag = diag_status(res, culprit)

    # ---- stage 4: isolation runs, and the last checks -----------------------------------------------
    def _isolation_runs(self, ctx: GradeContext) -> Runs:
        todo = [n for n in ctx.stmts + ctx.unreached if n not in ctx.results]
        if ctx.suspect is not None and ctx.suspect not in todo:
            todo.append(ctx.suspect)
        # An expression no run reached (in a branch or function the program never runs) was never
        # compared: unless it is the reference's own text, it is "not judged yet", never ✓.
        unjudged = {n for n in ctx.unreached if ctx.rewritten(n)}
        if ctx.run_diag is None:
            for name in todo:
                ctx.results[name] = _unjudged(ctx.lesson.blanks[name]) if name in unjudged else _result(ctx.lesson.blanks[name], None)
            return
        iso = [n for n in todo if ctx.rewritten(n)]
        for name in todo:
            if name not in iso:
                ctx.set(name, None)
        if iso:
            ctx.stop_if_cancelled()
            for name, d in (yield from self._isolate(ctx, iso)).items():
                ctx.results[name] = _unjudged(ctx.lesson.blanks[name]) if d is None and name in unjudged else _result(ctx.lesson.blanks[name], d)
        if ctx.suspect is not None and _all_right(ctx.results):
            # Alone, every answer runs: the failure comes from how they meet, and it showed in `suspect`.
            ctx.set(ctx.suspect, diag_status(ctx.learner_run, ctx.suspect))
        # Blanks with no answer yet run as the reference in every run, so they neither hide nor excuse a
        # mistake: the checks below look at the answered blanks.
        if _all_right(ctx.results) and ctx.exprs:
            yield from self._last_checks(ctx)

    def _last_checks(self, ctx: GradeContext) -> Runs:
        """The run differs and no blank explains it: two checks of the rewritten expressions, whose runs
        go in one request. A full shadow run: sampling may have skipped the calls where an expression
        goes wrong, so it compares them all. And each expression alone in the reference program: an
        expression can equal the reference's value and still behave differently (`2 * nn.Sequential(...)`
        repeats the layers but holds the same parameters). What the full shadow run finds comes first;
        the isolation runs count only when it finds nothing."""
        sp = programs.build(ctx.lesson, answers=ctx.valid, shadow=set(ctx.exprs))
        suspects = [n for n in ctx.exprs if ctx.rewritten(n)]
        iso, probes = self._isolation_jobs(ctx, suspects)
        fj = self._job(ctx.lesson, "shadow-full", sp)
        fj["stop_when_judged"] = sorted(ctx.names.index(n) for n in ctx.exprs)
        full, *alone = yield [(fj, sp)] + iso
        for name in ctx.exprs:
            trace = full.blanks.get(ctx.names.index(name))
            d = from_trace(name, trace, ctx.sizes) if trace is not None else None
            if d is not None:
                ctx.set(name, d)
        if _all_right(ctx.results):
            for name, d in self._judge_isolation(ctx, suspects, probes, iso, alone).items():
                if d is not None:
                    ctx.set(name, d)

    def _isolate(self, ctx: GradeContext, names: list[str]) -> Runs:
        """Isolation runs: the reference program with only one learner blank each, in parallel."""
        if not names:
            return {}
        reused = {n for n in names if self._learner_run_isolates(ctx, n)}
        jobs, probes = self._isolation_jobs(ctx, names, reused)
        # Blanks judged by the run (`judge = "run"`) may follow another convention than the reference's
        # together (momentum as `v = mu * v - lr * g` with `w = w + v`): alone, each would fail. They
        # are also run together; if the run then matches the reference's, they are right as a whole.
        group = [n for n in names if ctx.lesson.blanks[n].judge == "run"]
        if len(group) > 1:
            p = programs.build(ctx.lesson, answers=ctx.valid, learner=set(group))
            jobs = jobs + [(self._job(ctx.lesson, "together", p), p)]
        ran = yield jobs
        if reused:  # the learner's own run stands for these isolation runs: put it in their places
            runs, made = iter(ran), iter(jobs)
            ran = [ctx.learner_run if n in reused else next(runs) for n in names] + list(runs)
            jobs = [({}, ctx.learner_program) if n in reused else next(made) for n in names] + list(made)
        if len(group) > 1:
            together, ran, jobs = ran[-1], ran[:-1], jobs[:-1]
            out = self._judge_isolation(ctx, names, probes, jobs, ran)
            if self._matches(ctx, together):
                out.update({n: None for n in group})
            elif len(conventions(ctx.lesson)) > 1:
                out.update((yield from self._by_convention(ctx)))
            return out
        return self._judge_isolation(ctx, names, probes, jobs, ran)

    def _matches(self, ctx: GradeContext, res: RunResult) -> bool:
        return res.status == "ok" and compare_runs("", ctx.ref.captures, res.captures, ctx.tolerances,
                                                   loss_exprs=set(), sizes=[]) is None

    def _by_convention(self, ctx: GradeContext) -> Runs:
        """The `judge = "run"` answers judged against each convention the lesson knows (the reference's,
        and each place of the `accept` lists): an answer is right in a convention when the program of
        that convention, with this one answer of the learner's, reproduces the reference run. The
        convention that makes most answers right is the learner's; the others' answers are wrong in it."""
        lesson = ctx.lesson
        mine = [n for n in ctx.valid if lesson.blanks[n].judge == "run"]
        plans, jobs = [], []
        for k, conv in enumerate(conventions(lesson)):
            for n in mine:
                if normalize(ctx.valid[n]) != normalize(conv[n]):
                    p = programs.build(lesson, answers={**conv, n: ctx.valid[n]}, learner={*conv, n})
                    plans.append((k, n))
                    jobs.append((self._job(lesson, f"convention:{k}:{n}", p), p))
        ran = yield jobs
        wrong: dict[int, dict[str, Diagnosis | None]] = {k: {} for k in range(len(conventions(lesson)))}
        for (k, n), res in zip(plans, ran):
            if not self._matches(ctx, res):
                wrong[k][n] = diag_status(res, n) if res.status != "ok" else compare_runs(
                    n, ctx.ref.captures, res.captures, ctx.tolerances, loss_exprs=ctx.loss_exprs, sizes=ctx.sizes)
        best = min(wrong, key=lambda k: (len(wrong[k]), k))
        return {n: wrong[best].get(n) for n in mine}

    @staticmethod
    def _learner_run_isolates(ctx: GradeContext, name: str) -> bool:
        """Whether the learner's run already is `name`'s isolation run: `name` is the one answer that
        differs from the reference's, not compared in place (no check hooks), and the run went to its end."""
        run = ctx.learner_run
        return (run is not None and not run.stopped and name in ctx.valid and name not in ctx.exprs
                and ctx.rewritten(name) and not any(ctx.rewritten(n) for n in ctx.valid if n != name))

    def _isolation_jobs(self, ctx: GradeContext, names: list[str], reused: Collection[str] = ()) -> tuple[Jobs, list[str]]:
        """The isolation runs of `names` (but those in `reused`) and, after them, the "without" probes
        (the blanks they are for)."""
        lesson, valid = ctx.lesson, ctx.valid
        jobs = []
        for name in names:
            if name in reused:
                continue
            p = programs.build(lesson, answers=valid, learner={name})
            jobs.append((self._job(lesson, f"isolate:{name}", p), p))
        # A statement that does nothing (`z.backward` without its call, `pass`) shows where a later
        # fixed line fails or where training stands still: beside each whole-line statement, the
        # same program with the statement left out tells "did nothing" from "did something wrong".
        # Not for a function's body (`forward`): what it does is what it returns.
        probes = [n for n in names if _probed(lesson.blanks[n], lesson) and not _empty(valid[n])]
        # (an answer that is `pass` is its own probe: _judge_isolation)
        for name in probes:
            p = programs.build(lesson, answers={**valid, name: "pass"}, learner={name})
            jobs.append((self._job(lesson, f"without:{name}", p), p))
        return jobs, probes

    def _judge_isolation(self, ctx: GradeContext, names: list[str], probes: list[str], jobs: Jobs,
                         ran: list[RunResult]) -> dict[str, Diagnosis | None]:
        without = dict(zip(probes, ran[len(names):]))
        out: dict[str, Diagnosis | None] = {}
        for name, res in zip(names, ran):
            if _probed(ctx.lesson.blanks[name], ctx.lesson) and _empty(ctx.valid[name]):
                without[name] = res  # the program without the line is the very program this run ran
            if res.status == "ok":
                out[name] = compare_runs(name, ctx.ref.captures, res.captures, ctx.tolerances,
                                         loss_exprs=ctx.loss_exprs, sizes=ctx.sizes)
            else:
                out[name] = diag_status(res, name)
            if out[name] is not None and name in without and same_outcome(res, without[name], ctx.tolerances):
                out[name] = no_effect(name, res, jobs[names.index(name)][1])
        return out

    # ---- the report ---------------------------------------------------------------------------
    def _report(self, ctx: GradeContext) -> GradeReport:
        report = GradeReport(ctx.lesson.id, {}, layers=self._layers or [], reference_run=ctx.ref)
        report.learner_run = ctx.learner_run
        report.learner_program, report.learner_answered = ctx.learner_program, bool(ctx.valid)
        if ctx.run_diag is not None and _all_right(ctx.results) and ctx.learner_run is not None:
            report.notes.append(f"Your whole program does not reproduce the reference run: {ctx.run_diag.message}")
        report.blanks = {n: ctx.results[n] for n in ctx.names if n in ctx.results}
        for n in ctx.names:
            if n not in report.blanks:
                report.blanks[n] = _result(ctx.lesson.blanks[n], Diagnosis("wrong_value", f"`{n}` could not be checked."))
        for n, result in report.blanks.items():  # every way a result is made (static.py, _result) gets them here
            result.points = ctx.lesson.blanks[n].points
        return report


def _reference_program(lesson: Lesson) -> programs.Program:
    """The reference program as a learner who gives every reference answer would run it (each blank
    marked: the run counts how often each blank runs, and says which one a failure is in), so a
    grading whose answers are all the reference's own code takes this run as the learner's."""
    return programs.build(lesson, answers=lesson.reference_answers(), learner=set(lesson.blanks))


def _run_result(outcome: Any) -> RunResult:
    """A RunResult from the evaluator's JobOutcome (its child header is decoded, untrusted)."""
    res = parse_run(outcome.status, outcome.header, outcome.arrays)
    res.marker = outcome.marker
    res.stdout = outcome.stdout or ""
    res.stdout_truncated = bool(outcome.stdout_truncated)
    res.signal = outcome.signal
    if outcome.error:
        res.detail = outcome.error
    if not res.wall:
        res.wall = outcome.wall or 0.0
    return res


_PASS = normalize("pass")


def _probed(blank: Blank, lesson: Lesson) -> bool:
    """A whole-line statement or block, not a function's body (what that does is what it returns)."""
    return whole_line(lesson, blank) and "return" not in blank.answer


def _empty(answer: str) -> bool:
    """The answer is `pass` (comments and spacing aside): the line does nothing by construction."""
    return normalize(answer) == _PASS


def _same_answers(answers: dict[str, str], quick: bool, k: int) -> Any:
    """What makes two answer sets one grading: the same texts for the same blanks, graded the same
    way; a set that cannot be compared so (a value that is not hashable) is its own (`k`)."""
    try:
        return frozenset(answers.items()), quick
    except TypeError:
        return "own", k


def _renumbered(job: dict, base: int) -> dict:
    """`job` placed `base` jobs into a merged request: the job its "after" names moves with it."""
    after = job.get("after")
    if base and isinstance(after, dict) and isinstance(after.get("job"), int):
        return {**job, "after": {**after, "job": after["job"] + base}}
    return job


