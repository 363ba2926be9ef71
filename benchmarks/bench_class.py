"""Grading a class: files per second with --jobs 1 and --jobs 2, and a class of 200 numpy files.

    python benchmarks/bench_class.py [--numpy 60] [--torch 20] [--big 200] [--big-jobs N]

Writes answers files to a temporary folder: for each lesson, a mix a class hands in: right answers
(written as the reference, or respaced), one or two blanks wrong in the typical ways `tutor check`
tries (tutor.grading.mutants: a flipped sign, a sum for a mean, a dropped factor, ...), a blank left
out, a syntax error. The same files are graded with `jobs=1`, then `jobs=2`, by the batch grader
`tutor grade --answers DIR --jobs N` uses (tutor.classroom.batch, evaluators started inside the
timing), and the rows of both runs are checked equal. Then `--big` files of linreg-numpy are
graded with the default number of graders. Prints files/second, the speed-up and the mix graded.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tutor.classroom import batch, gradebook  # noqa: E402
from tutor.classroom.submissions import hand_ins  # noqa: E402
from tutor.grading.factory import make_grader  # noqa: E402
from tutor.grading.mutants import mutants  # noqa: E402
from tutor.lesson import find_lesson, load_lessons  # noqa: E402
from tutor.paths import builtin_lessons_dir  # noqa: E402


def hand_in(lesson, rng: random.Random) -> tuple[str, dict[str, str]]:
    """One learner's answers: (what kind, blank -> text)."""
    answers = dict(lesson.reference_answers())
    kind = rng.choice(["right", "right", "respaced", "one wrong", "one wrong", "two wrong", "missing", "syntax"])
    names = list(answers)
    if kind == "respaced":
        answers = {n: (t.replace(" ", "  ") if "\n" not in t else t) for n, t in answers.items()}
    elif kind in ("one wrong", "two wrong"):
        for name in rng.sample(names, 1 if kind == "one wrong" else 2):
            options = mutants(lesson.blanks[name])
            if options:
                answers[name] = rng.choice(options).text
    elif kind == "missing":
        del answers[rng.choice(names)]
    elif kind == "syntax":
        name = rng.choice(names)
        answers[name] = answers[name] + " +"
    return kind, answers


def write_class(folder: Path, lesson, count: int, seed: int) -> Counter:
    rng = random.Random(seed)
    kinds: Counter = Counter()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        kind, answers = hand_in(lesson, rng)
        kinds[kind] += 1
        text = "".join(f"{k} = {json.dumps(v)}\n" for k, v in answers.items())
        (folder / f"student-{i:03d}.toml").write_text(text, encoding="utf-8")
    return kinds


def grade(lesson, folder: Path, jobs: int) -> tuple[float, float, list]:
    """(seconds in all, seconds until the last grader was warm, rows): warm = evaluator started and
    the lesson's reference run made, as `tutor grade` does before its first file."""
    warm: list[float] = []

    def factory():
        grader = make_grader([lesson])
        grader.reference(lesson)
        warm.append(time.perf_counter())
        return grader

    start = time.perf_counter()
    rows = batch.grade_class(lesson, hand_ins([folder]), jobs=jobs, make_grader=factory)
    return time.perf_counter() - start, max(warm) - start, rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--numpy", type=int, default=60, help="answers files of linreg-numpy")
    ap.add_argument("--torch", type=int, default=20, help="answers files of linreg-torch")
    ap.add_argument("--big", type=int, default=200, help="answers files of the class of linreg-numpy (0: skip)")
    ap.add_argument("--big-jobs", type=int, default=None, help="graders for the big class (default: as tutor grade)")
    args = ap.parse_args()
    lessons = load_lessons(builtin_lessons_dir())
    print(f"cores: {batch.default_jobs()} used by default (of the machine's, at most {batch.MAX_DEFAULT_JOBS})")
    with tempfile.TemporaryDirectory() as tmp:
        total = {1: 0.0, 2: 0.0}
        files = 0
        print("wall time includes starting the graders (in brackets: until the last was warm); files/s is over the wall time")
        print(f"{'lesson':<14} {'files':>5} {'jobs 1':>15} {'files/s':>8} {'jobs 2':>15} {'files/s':>8} {'speed-up':>9}  mix (graded: passed / not / error)")
        for lesson_id, count, seed in (("linreg-numpy", args.numpy, 1), ("linreg-torch", args.torch, 2)):
            lesson = find_lesson(lessons, lesson_id)
            folder = Path(tmp) / lesson_id
            kinds = write_class(folder, lesson, count, seed)
            t1, w1, rows1 = grade(lesson, folder, 1)
            t2, w2, rows2 = grade(lesson, folder, 2)
            assert gradebook.csv_text(lesson, rows1) == gradebook.csv_text(lesson, rows2), "jobs 2 differs from jobs 1"
            total[1] += t1
            total[2] += t2
            files += count
            outcome = Counter("error" if r.report is None else "passed" if r.passed else "not" for r in rows1)
            print(f"{lesson_id:<14} {count:>5} {t1:>6.1f}s ({w1:>4.1f}s) {count / t1:>8.1f} {t2:>6.1f}s ({w2:>4.1f}s) {count / t2:>8.1f}"
                  f" {t1 / t2:>8.2f}x  {dict(kinds)} -> {outcome['passed']} / {outcome['not']} / {outcome['error']}")
            print(f"{'':<14} {'':>5} warm: {count / (t1 - w1):.1f} files/s with --jobs 1, {count / (t2 - w2):.1f} with --jobs 2,"
                  f" speed-up {(t1 - w1) / (t2 - w2):.2f}x")
        print(f"{'both':<14} {files:>5} {total[1]:>6.1f}s {'':>7} {files / total[1]:>8.1f} {total[2]:>6.1f}s {'':>7} {files / total[2]:>8.1f}"
              f" {total[1] / total[2]:>8.2f}x  (rows identical with --jobs 1 and --jobs 2)")
        if args.big:
            lesson = find_lesson(lessons, "linreg-numpy")
            folder = Path(tmp) / "big"
            write_class(folder, lesson, args.big, 3)
            jobs = args.big_jobs or batch.default_jobs()
            t, w, rows = grade(lesson, folder, jobs)
            print(f"class of {args.big} linreg-numpy files, --jobs {jobs}: {t:.1f} s in all ({w:.1f} s to start), {args.big / t:.1f} files/s"
                  f" ({sum(r.passed for r in rows)} passed)")


if __name__ == "__main__":
    main()
