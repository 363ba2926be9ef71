"""Runs that end once what they are for is decided: a shadow run once every expression it compares is
described, `tutor check`'s wrong answers at their first disagreement, and the learner's own run
standing for the isolation run of its one changed statement. Verdicts stay those of the full runs."""

from __future__ import annotations

import pytest

from lesson_checks import lesson as find
from tutor.grading.mutants import mutants
from tutor.sandbox.jobs import Job, JobError
from tutor.sandbox.results import parse_run


def _parsed(evaluator, job):
    (out,) = evaluator.run([job])
    res = parse_run(out.status, out.header, out.arrays)
    res.stdout = out.stdout or ""
    return res


def _record_runs(grader, monkeypatch, walls: list[tuple[str, float]] | None = None) -> list[tuple[str, str, bool]]:
    """(job id, status, whether it was sent "decisive") of every run the grader asks for from now on;
    with `walls`, each run's (job id, seconds) go there too."""
    runs: list[tuple[str, str, bool]] = []
    run = grader.evaluator.run

    def recording(jobs, *args, **kwargs):
        outs = run(jobs, *args, **kwargs)
        runs.extend((j["id"], o.status, "decisive" in j) for j, o in zip(jobs, outs))
        if walls is not None:
            walls.extend((j["id"], o.wall) for j, o in zip(jobs, outs))
        return outs

    monkeypatch.setattr(grader.evaluator, "run", recording)
    return runs


LOOP = """
total = 0.0
for i in range(200000):
    total = total + __tutor_blank__(0, __tutor_learner__(0, lambda: 2.0 * i), lambda: 1.0 * i)
print("reached the end")
"""


def _run(evaluator, **extra):
    job = {"id": "shadow", "source": LOOP, "blanks": [{"name": "x"}], "max_pairs": 8, "timeout": 60.0, **extra}
    return _parsed(evaluator, job)


def test_a_shadow_run_ends_once_its_expressions_are_described(grader):
    full = _run(grader.evaluator)
    early = _run(grader.evaluator, stop_when_judged=[0])
    assert full.status == early.status == "ok"
    assert early.stopped and not full.stopped
    a, b = full.blanks[0], early.blanks[0]
    # The same description of the blank, from the same calls; only the calls it was not needed for are gone.
    assert [p[2] for p in b.pairs] == [p[2] for p in a.pairs] and len(b.pairs) == 8
    assert b.first_mismatch == a.first_mismatch == 1
    assert "reached the end" in full.stdout and "reached the end" not in early.stdout


def test_a_run_whose_expression_agrees_is_never_cut_short(grader):
    agreeing = LOOP.replace("2.0 * i", "1.0 * i")
    job = {"id": "shadow", "source": agreeing, "blanks": [{"name": "x"}], "stop_when_judged": [0], "timeout": 60.0}
    res = _parsed(grader.evaluator, job)
    assert res.status == "ok" and not res.stopped and "reached the end" in res.stdout


OBJECTS = """
total = 0.0
for i in range(200000):
    kind = __tutor_blank__(0, __tutor_learner__(0, lambda: LEARNER), lambda: "sum")
    total = total + i
print("reached the end")
"""


@pytest.mark.parametrize("learner", [
    '"mean"',  # a string (a loss or an optimizer of another kind alike): one pair is its diagnosis
    "None",
    "float(i)",  # a number where a string is expected
])
def test_a_value_that_is_not_a_number_is_described_by_its_first_differing_call(grader, learner):
    # (Two numbers that differ keep counting up to `max_pairs`, for the scale and the call they
    # differ from: the first test above.)
    job = {"id": "shadow", "source": OBJECTS.replace("LEARNER", learner), "blanks": [{"name": "kind"}],
           "max_pairs": 8, "stop_when_judged": [0], "timeout": 60.0}
    res = _parsed(grader.evaluator, job)
    trace = res.blanks[0]
    assert res.status == "ok" and res.stopped and trace.first_mismatch == 0
    assert len(trace.pairs) == 1 and trace.seen == 1  # ended at its first call, not 8 or 200000 calls on
    assert "reached the end" not in res.stdout


@pytest.mark.parametrize("bad", [[-1], ["0"], [True], 3, [0.5]])
def test_stop_when_judged_must_be_blank_numbers(bad):
    with pytest.raises(JobError):
        Job.from_wire({"source": "x = 1", "stop_when_judged": bad})
    assert Job.from_wire({"source": "x = 1", "stop_when_judged": [2, 0]}).to_wire()["stop_when_judged"] == [2, 0]


def test_check_s_quick_verdicts_are_the_full_verdicts(grader, lessons, monkeypatch):
    """`verdicts_only` (how `tutor check` grades its wrong answers) changes no verdict; a mutant of
    a blank in the training loop, wrong from its first call, is judged by the learner's run alone
    (its diagnosis may be the coarser "wrong value" where the shadow run's later calls say "scaled")."""
    les = find(lessons, "linreg-numpy")
    ref = les.reference_answers()
    sets = [{**ref, m.blank: m.text} for b in les.blanks.values() for m in mutants(b)]
    runs = _record_runs(grader, monkeypatch)
    quick = grader.grade_many(les, sets, verdicts_only=range(len(sets)))
    quick_shadows = sum(1 for i, status, _ in runs if i == "shadow" and status != "skipped")
    runs.clear()
    full = grader.grade_many(les, sets)
    full_shadows = sum(1 for i, status, _ in runs if i == "shadow" and status != "skipped")
    for answers, a, b in zip(sets, quick, full):
        assert {n: r.verdict for n, r in a.blanks.items()} == {n: r.verdict for n, r in b.blanks.items()}, answers
        assert all(r.diagnosis for r in a.blanks.values() if r.verdict != "correct"), answers
    stopped = [r.learner_run.stopped for r in quick if r.learner_run is not None]
    assert any(stopped) and not any(r.learner_run.stopped for r in full if r.learner_run is not None)
    assert quick_shadows < full_shadows / 2, (quick_shadows, full_shadows)


def test_one_changed_statement_is_judged_from_the_learner_s_own_run(grader, lessons, monkeypatch):
    les = find(lessons, "autograd-basics")
    ref = les.reference_answers()
    stmt = next(b for b in les.blanks.values() if b.kind == "statement")
    wrong = next(m.text for m in mutants(stmt))
    grader.reference(les)
    runs = _record_runs(grader, monkeypatch)
    report = grader.grade(les, {**ref, stmt.name: wrong})
    assert report.blanks[stmt.name].verdict != "correct"
    assert f"isolate:{stmt.name}" not in [i for i, _, _ in runs]  # the learner's run was that isolation run


def test_a_line_answered_pass_is_its_own_without_probe(grader, lessons, monkeypatch):
    """`pass` for a whole-line statement: the program without the line is the learner's own, so no
    second run tells "did nothing" from "did something wrong"; the verdict still says it did nothing."""
    les = find(lessons, "zero-grad")
    stmt = next(b for b in les.blanks.values() if b.kind == "statement" and "zero_grad" in b.answer)
    grader.reference(les)
    runs = _record_runs(grader, monkeypatch)
    report = grader.grade(les, {**les.reference_answers(), stmt.name: "pass  # later"})
    assert report.blanks[stmt.name].diagnosis == "no_effect", report.blanks[stmt.name].message
    assert not [i for i, _, _ in runs if i.startswith(("without:", "isolate:"))], runs
    runs.clear()
    report = grader.grade(les, {**les.reference_answers(), stmt.name: "optimizer.zero_grad"})  # does nothing too
    assert report.blanks[stmt.name].diagnosis == "no_effect" and f"without:{stmt.name}" in [i for i, _, _ in runs]


# ---- blanks the program reaches once ---------------------------------------------------------------

HOOK = "__tutor_blank__({i}, __tutor_learner__({i}, lambda: 2.0), lambda: 1.0)"


@pytest.mark.parametrize("source, once", [
    ("a = " + HOOK.format(i=0) + "\nb = " + HOOK.format(i=1), [0, 1]),
    ("if True:\n    a = " + HOOK.format(i=0) + "\nelse:\n    a = 0\ntry:\n    b = " + HOOK.format(i=1) + "\nexcept Exception:\n    pass", [0, 1]),
    ("with open('x') as f:\n    a = __tutor_check__(3, __tutor_check_learner__(3, lambda: 2.0), lambda: 1.0)", [3]),
    ("for k in range(3):\n    a = " + HOOK.format(i=0), []),
    ("while False:\n    a = " + HOOK.format(i=0), []),
    ("def f():\n    return " + HOOK.format(i=0) + "\nf()", []),
    ("class C:\n    a = " + HOOK.format(i=0), []),
    ("a = [" + HOOK.format(i=0) + " for k in range(3)]", []),
    ("g = lambda: " + HOOK.format(i=0), []),
    ("for x in [" + HOOK.format(i=0) + "]:\n    pass", []),  # a loop's header counts as the loop: conservative
    ("a = " + HOOK.format(i=0) + "\nb = " + HOOK.format(i=0), []),  # the same hook twice
    ("a = (", []),  # does not parse
])
def test_reached_once_is_read_off_the_program_as_built(source, once):
    from tutor.grading.programs import reached_once

    assert reached_once(source) == once


def test_a_blank_reached_once_ends_the_shadow_run_after_its_call(grader):
    src = "a = " + HOOK.format(i=0) + "\nfor i in range(200000):\n    pass\nprint('reached the end')\n"
    job = {"id": "shadow", "source": src, "blanks": [{"name": "x"}], "stop_when_judged": [0], "timeout": 60.0}
    full = _parsed(grader.evaluator, job)
    early = _parsed(grader.evaluator, {**job, "once": [0]})
    assert full.status == early.status == "ok"
    assert early.stopped and not full.stopped and "reached the end" not in early.stdout
    assert early.blanks[0].pairs == full.blanks[0].pairs and early.blanks[0].calls == full.blanks[0].calls == 1
    with pytest.raises(JobError):
        Job.from_wire({"source": "x = 1", "once": ["0"]})


@pytest.mark.parametrize("lesson_id", ["linreg-torch", "logreg-2features"])
def test_verdicts_with_blanks_reached_once_are_the_full_runs(grader, lessons, monkeypatch, lesson_id):
    """Every mutant of a blank a torch lesson reaches once (the model, the loss, the optimizer at the
    top level): the same verdicts and diagnoses as when every run goes to its end. (A mutant of
    another blank is graded the same either way: only a rewritten blank reached once is judged early.)"""
    from tutor.grading import programs

    les = find(lessons, lesson_id)
    ref = les.reference_answers()
    once = programs.reached_once(programs.build(les, answers=ref, shadow=set(ref)).source)
    names = list(les.blanks)
    sets = [{**ref, m.blank: m.text} for b in les.blanks.values() if names.index(b.name) in once for m in mutants(b)]
    assert len(sets) >= 2, sets
    early = grader.grade_many(les, sets)
    monkeypatch.setattr(programs, "reached_once", lambda source: [])
    full = grader.grade_many(les, sets)
    for answers, a, b in zip(sets, early, full):
        assert {n: (r.verdict, r.diagnosis, r.message) for n, r in a.blanks.items()} == \
               {n: (r.verdict, r.diagnosis, r.message) for n, r in b.blanks.items()}, answers


def test_a_wrong_last_line_alone_is_judged_by_the_learner_s_run(grader, lessons, monkeypatch):
    """Every other answer the reference's own code and the wrong one reached once: the learner's run
    compared it where the shadow run would, so no shadow run is made; with another answer rewritten,
    the shadow run is made as before. The verdicts are those of a grading without the shortcut."""
    from tutor.grading import grader as grader_module

    les = find(lessons, "linreg-torch")
    ref = les.reference_answers()
    wrong = {**ref, "y_pred": "model(X_tensor).detach().numpy() * 2"}
    rewritten = {**wrong, "loss": "criterion(input=pred_y, target=y_tensor)"}
    grader.reference(les)
    runs = _record_runs(grader, monkeypatch)
    alone = grader.grade(les, wrong)
    assert ("learner", "ok", True) in runs and ("shadow", "skipped", False) in runs
    runs.clear()
    both = grader.grade(les, rewritten)
    assert not any(decisive for _, _, decisive in runs) and ("shadow", "ok", False) in runs
    monkeypatch.setattr(grader_module, "decisive", lambda *a: {})
    for answers, got in ((wrong, alone), (rewritten, both)):
        full = grader.grade(les, answers)
        assert {n: (r.verdict, r.diagnosis, r.message) for n, r in got.blanks.items()} == \
               {n: (r.verdict, r.diagnosis, r.message) for n, r in full.blanks.items()}
    assert alone.blanks["y_pred"].verdict == "incorrect" and both.blanks["loss"].verdict == "correct"


# ---- `tutor check`'s wrapping mutants, judged by the reference run ---------------------------------


def _wrapped(evaluator, values: str) -> dict:
    """What a reference run records for blank 0, whose one call returns `values`."""
    job = {"id": "reference", "source": f"v = __tutor_run__(0, lambda: {values})\n", "names": ["np", "torch"],
           "timeout": 10.0, "probe_wrappers": [0], "blanks": [{"name": "v", "rtol": None, "atol": None}]}
    res = _parsed(evaluator, job)
    assert res.status == "ok", res
    return res.blanks[0].wrapped


def test_the_reference_run_says_which_wrapped_values_would_disagree_at_the_first_call(grader):
    ev = grader.evaluator
    assert _wrapped(ev, "np.array([1.0, -2.0])") == {"neg": "differs", "double": "differs"}
    assert _wrapped(ev, "torch.tensor([0.5])") == {"neg": "differs", "double": "differs"}
    # Zero is its own negation and double: those mutants would agree there, and are graded.
    assert _wrapped(ev, "np.zeros(3)") == {"neg": "same", "double": "same"}
    assert _wrapped(ev, "0.0") == {"neg": "same", "double": "same"}
    # Not numbers: nothing is judged here (a module, a string: its operations could run program code).
    assert _wrapped(ev, "torch.nn.Linear(1, 1)") == {}
    assert _wrapped(ev, "'text'") == {}
    # An operation that fails (negating a bool tensor) judges nothing either.
    assert "neg" not in _wrapped(ev, "torch.tensor([True])")


@pytest.mark.parametrize("lesson_id", ["linreg-numpy", "linreg-torch", "logreg-torch", "autograd-basics", "backprop-by-hand"])
def test_wrapping_mutants_the_reference_run_judged_are_caught_by_their_own_grading_too(grader, lessons, lesson_id):
    """`tutor check` counts a "flipped sign" or "doubled" mutant as caught without grading it when the
    reference run says it disagrees at its blank's first call; graded as `tutor check` grades a wrong
    answer, each is caught, and `tutor check` finds the same counts as before (every mutant caught)."""
    from tutor.grading.check import check_lesson, judged_by_reference

    les = find(lessons, lesson_id)
    ref = grader.reference(les)
    wrapping = [m for b in les.blanks.values() for m in mutants(b) if m.label in ("flipped sign", "doubled")]
    judged = [m for m in wrapping if judged_by_reference(les, ref, m)]
    assert judged, "no mutant was judged by the reference run"
    answers = les.reference_answers()
    reports = grader.grade_many(les, [{**answers, m.blank: m.text} for m in judged], verdicts_only=range(len(judged)))
    for m, report in zip(judged, reports):
        assert report.blanks[m.blank].verdict != "correct", (m, report.blanks[m.blank].message)
    result = check_lesson(grader, les)
    assert result.survivors == [] and result.caught == sum(len(mutants(b)) for b in les.blanks.values())


def test_check_of_the_longest_lesson_makes_no_run_for_its_last_line_s_mutants(grader, lessons, monkeypatch):
    """mlp-regression's `output` comes after 10000 epochs: its two wrapping mutants were two full
    runs each `tutor check`; the reference run's first value of `output` judges them, and no run of
    the check lasts a third of the training (each stops at its blank's first call)."""
    from tutor.grading.check import check_lesson

    les = find(lessons, "mlp-regression")
    ref = grader.reference(les)
    walls: list[tuple[str, float]] = []
    _record_runs(grader, monkeypatch, walls)
    result = check_lesson(grader, les)
    assert result.ok and result.survivors == [] and result.caught == sum(len(mutants(b)) for b in les.blanks.values())
    assert walls and max(w for _, w in walls) < ref.wall / 3, (ref.wall, walls)
