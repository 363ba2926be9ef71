"""`Grader.grade_many`, which `tutor check` grades a lesson's mutants with, gives each answer set the
very report `grade` gives it, while sending their runs to the evaluator together."""

from __future__ import annotations

import pytest

from lesson_checks import lesson as find
from tutor.grading.grader import _renumbered
from tutor.grading.mutants import mutants


def _answer_sets(les) -> list[dict[str, str]]:
    """What `tutor check` grades: the reference answers, then each mutant in its place."""
    ref = les.reference_answers()
    return [ref] + [{**ref, m.blank: m.text} for b in les.blanks.values() for m in mutants(b)]


def _seen(report):
    return report.blanks, report.notes, report.learner_run.status if report.learner_run else None


# Light lessons with every kind of blank: expressions (linreg-numpy), a statement that needs isolation
# runs and a block (autograd-basics), a statement in a function (backprop-by-hand). Every built-in
# lesson's mutants go through `grade_many` in tests/test_cli.py's slow `tutor check lessons` test.
@pytest.mark.parametrize("key", ["linreg-numpy", "autograd-basics", "backprop-by-hand"])
def test_a_batch_grades_each_answer_set_as_grade_does(grader, lessons, key, monkeypatch):
    les = find(lessons, key)
    sets = _answer_sets(les)
    grader.reference(les)
    requests = []
    run = grader.evaluator.run

    def recording(jobs, *args, **kwargs):
        requests.append(list(jobs))
        return run(jobs, *args, **kwargs)

    monkeypatch.setattr(grader.evaluator, "run", recording)
    many = grader.grade_many(les, sets)
    batch_requests = list(requests)
    single = [grader.grade(les, s) for s in sets]
    assert len(many) == len(sets)
    for answers, a, b in zip(sets, many, single):
        assert _seen(a) == _seen(b), answers
    assert many[0].passed and not any(r.passed for r in many[1:])
    # The first round is one request with every set's learner run (and shadow runs, each waiting on
    # the learner run of its own set, renumbered to its place in the request).
    first = batch_requests[0]
    # (The first set, the reference answers, needs none: its run is the reference run.)
    assert sum(j["id"] == "learner" for j in first) == len(sets) - 1
    for i, job in enumerate(first):
        if "after" in job:
            assert job["id"] == "shadow" and job["after"]["job"] == i + 1 and first[i + 1]["id"] == "learner"
    assert len(batch_requests) < len(sets)


def test_an_after_moves_with_its_job():
    job = {"id": "shadow", "after": {"job": 1, "seconds": 0.5}}
    assert _renumbered(job, 0) is job
    assert _renumbered(job, 6) == {"id": "shadow", "after": {"job": 7, "seconds": 0.5}}
    assert job["after"]["job"] == 1  # the grading's own job is left as it was
    assert _renumbered({"id": "learner"}, 6) == {"id": "learner"}


def test_identical_answer_sets_are_graded_once_and_reported_to_each(grader, lessons, monkeypatch):
    """A class hands in many copies of one answer: `grade_many` runs it once; each copy gets the same
    report, as its own object."""
    les = find(lessons, "linreg-numpy")
    ref = les.reference_answers()
    wrong = {**ref, "dw": "-" + ref["dw"]}
    grader.reference(les)
    learner_runs = []
    run = grader.evaluator.run

    def recording(jobs, *args, **kwargs):
        learner_runs.extend(j for j in jobs if j["id"] == "learner")
        return run(jobs, *args, **kwargs)

    monkeypatch.setattr(grader.evaluator, "run", recording)
    reports = grader.grade_many(les, [wrong, dict(ref), dict(wrong), ref, {**wrong, "dw": wrong["dw"] + " "}])
    assert len(learner_runs) == 2  # wrong, and the answer that differs by a space (ref's run is the reference run)
    assert [r.passed for r in reports] == [False, True, False, True, False]
    assert reports[0].to_json("f") == reports[2].to_json("f") and reports[1].to_json("f") == reports[3].to_json("f")
    assert reports[0] is not reports[2] and reports[0].blanks["dw"] is not reports[2].blanks["dw"]
    assert reports[2].blanks["dw"].verdict == "incorrect"
