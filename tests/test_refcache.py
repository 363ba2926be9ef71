"""Reference runs kept on disk (tutor/grading/refcache.py): a second process takes a lesson's
reference run from the file the first one wrote, with the same values; anything that could change
the run (the program, the data, the sandbox's code) is another file; a damaged or planted file is a
miss, never trusted; a failed run is not kept."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from tutor.grading import refcache
from tutor.grading.grader import Grader, LessonRunError
from tutor.grading.refcache import ReferenceCache
from tutor.lesson import find_lesson, load_lessons

LESSON = (
    '+++\nid = "cached"\ntitle = "Cached"\ndatasets = ["linear_regression"]\ntimeout = 10\nseed = 3\n+++\n\n'
    "A line through the data.\n\n## Fit\n\n"
    "```python\nimport numpy as np\nw = {{w: float(np.random.rand())}}\nprint('w is', round(w, 6))\n"
    "pred = w * X\n```\n\n```toml check\n[compare]\npred = {}\nw = {}\n```\n"
)


class Counting:
    """The session's evaluator, counting the jobs it is sent."""

    def __init__(self, inner):
        self.inner = inner
        self.jobs: list[str] = []

    def run(self, jobs, *args, **kwargs):
        self.jobs += [j["id"] for j in jobs]
        return self.inner.run(jobs, *args, **kwargs)

    def layers(self):
        return self.inner.layers()


def _lesson(folder, text=LESSON):
    folder.mkdir(exist_ok=True)
    (folder / "010-cached.md").write_text(text, encoding="utf-8")
    (les,) = load_lessons(folder)
    return les


def _graders(grader, cache, n=2):
    return [Grader(Counting(grader.evaluator), ref_cache=cache) for _ in range(n)]


def test_a_second_process_takes_the_reference_run_from_disk(grader, tmp_path):
    les = _lesson(tmp_path / "lessons")
    cache = ReferenceCache(tmp_path / "cache")
    first, second = _graders(grader, cache)
    made = first.reference(les)
    assert first.evaluator.jobs == ["reference"] and len(list((tmp_path / "cache").glob("*.ref"))) == 1
    kept = second.reference(les)
    assert second.evaluator.jobs == []  # read back, not run
    assert kept.status == "ok" and kept.stdout == made.stdout and "w is" in kept.stdout
    for step, values in made.captures.items():
        for expr, value in values.items():
            np.testing.assert_array_equal(kept.captures[step][expr].array, value.array)
    assert kept.blanks.keys() == made.blanks.keys() and kept.blanks[0].seen == 1
    # Its grading is the same as with a run made here: the right answer passes (and needs no run of
    # its own), a wrong one is caught.
    assert second.grade(les, les.reference_answers()).passed and second.evaluator.jobs == []
    assert not second.grade(les, {"w": "float(np.random.rand()) * 2"}).passed


def test_what_could_change_the_run_is_another_file(grader, tmp_path):
    cache = ReferenceCache(tmp_path / "cache")
    les = _lesson(tmp_path / "a")
    changed = _lesson(tmp_path / "b", LESSON.replace("seed = 3", "seed = 4"))
    (g,) = _graders(grader, cache, 1)
    a, b = g.reference(les), g.reference(changed)
    assert g.evaluator.jobs == ["reference", "reference"]
    assert a.captures["0"]["w"].array != b.captures["0"]["w"].array
    assert len(list((tmp_path / "cache").glob("*.ref"))) == 2


def test_the_sandbox_code_and_the_data_files_are_in_the_key(monkeypatch, tmp_path):
    job = {"id": "reference", "source": "x = 1\n", "data": {"X": {"csv": str(tmp_path / "d.csv"), "column": "x"}}}
    (tmp_path / "d.csv").write_text("x\n1\n")
    key = refcache.job_key(job)
    assert refcache.job_key(dict(job)) == key
    os.utime(tmp_path / "d.csv", ns=(1, 1))  # the dataset file changed
    assert refcache.job_key(job) != key
    key = refcache.job_key(job)
    monkeypatch.setattr(refcache, "_fingerprint", "another sandbox")
    assert refcache.job_key(job) != key


@pytest.mark.parametrize("damage", ["truncated", "garbage", "reply", "status"])
def test_a_damaged_or_planted_file_is_a_miss_and_is_removed(grader, tmp_path, damage):
    les = _lesson(tmp_path / "lessons")
    cache = ReferenceCache(tmp_path / "cache")
    first, second = _graders(grader, cache)
    made = first.reference(les)
    (path,) = (tmp_path / "cache").glob("*.ref")
    data = path.read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = refcache.MAGIC + os.urandom(4000)
    elif damage == "reply":  # a reply whose length runs past the file
        data = refcache.MAGIC + struct.pack(">I", 10**9) + b"{}"
    else:  # a blob that says the run failed
        data = data.replace(b'"status":"ok"', b'"status":"error"', 1)
    path.write_bytes(data)
    again = second.reference(les)
    assert second.evaluator.jobs == ["reference"]  # made again
    assert again.captures["0"]["w"].array == made.captures["0"]["w"].array
    assert path.read_bytes() != data  # and the file written anew


def test_a_failed_reference_run_is_not_kept(grader, tmp_path):
    les = _lesson(tmp_path / "lessons", LESSON.replace("pred = w * X", "pred = w * X\nraise ValueError('broken')"))
    cache = ReferenceCache(tmp_path / "cache")
    (g,) = _graders(grader, cache, 1)
    with pytest.raises(LessonRunError):
        g.reference(les)
    assert not list((tmp_path / "cache").glob("*.ref"))


def test_the_folder_keeps_the_files_used_last(grader, tmp_path, lessons):
    cache = ReferenceCache(tmp_path / "cache", max_files=3)
    (g,) = _graders(grader, cache, 1)
    light = [find_lesson(lessons, k) for k in ("linreg-numpy", "logreg-numpy", "autograd-basics", "backprop-by-hand")]
    for les in light:
        g.reference(les)
    assert len(list((tmp_path / "cache").glob("*.ref"))) == 3
    (h,) = _graders(grader, cache, 1)
    h.reference(light[-1])
    assert h.evaluator.jobs == []  # the last one made is kept
    h.reference(light[0])
    assert h.evaluator.jobs == ["reference"]  # the first is gone


def test_an_unwritable_folder_only_turns_the_cache_off(grader, tmp_path):
    les = _lesson(tmp_path / "lessons")
    (tmp_path / "file").write_text("not a folder")
    (g,) = _graders(grader, ReferenceCache(tmp_path / "file" / "cache"), 1)
    assert g.reference(les).status == "ok" and g.evaluator.jobs == ["reference"]
