"""Warm answer-to-verdict latency per lesson, beside the naive way (a fresh process per answer).

    python benchmarks/bench_grade.py [--runs 30] [--naive-runs 5]

Prints, for each built-in lesson: the median and p95 of grading one answer set on a warm evaluator
(the reference run is cached, as it is for every answer after the first), and the median of
`python -m tutor grade` in a fresh process per answer, with the ratio between them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tutor.grading.grader import Grader  # noqa: E402
from tutor.lesson import load_lessons  # noqa: E402
from tutor.paths import builtin_lessons_dir  # noqa: E402
from tutor.sandbox import Evaluator  # noqa: E402

# One typical wrong answer per lesson, so the timing includes isolation runs where a learner would need them.
WRONG = {"linreg-numpy": ("dw", "2 * np.mean((y - (w * X + b)) * X)"), "linreg-torch": ("backward", "item()")}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def toml_answers(answers: dict[str, str]) -> str:
    return "".join(f"{k} = '''{v}'''\n" for k, v in answers.items())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--naive-runs", type=int, default=5)
    args = ap.parse_args()
    lessons = load_lessons(builtin_lessons_dir())
    t0 = time.perf_counter()
    ev = Evaluator(preload=("numpy", "torch"))
    grader = Grader(ev)
    ev.run([{"id": "warm", "source": "pass\n", "names": ["np"], "timeout": 5.0}])
    print(f"evaluator start-up (numpy + torch, warmed): {time.perf_counter() - t0:.2f} s")
    print(f"{'lesson':<14} {'answers':<8} {'median':>9} {'p95':>9} {'fresh process':>14} {'ratio':>7}")
    for lesson in lessons:
        grader.reference(lesson)
        cases = {"right": lesson.reference_answers()}
        if lesson.id in WRONG:
            name, text = WRONG[lesson.id]
            cases["wrong"] = {**lesson.reference_answers(), name: text}
        for label, answers in cases.items():
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                grader.grade(lesson, answers)
                times.append(time.perf_counter() - start)
            naive = []
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "answers.toml"
                path.write_text(toml_answers(answers), encoding="utf-8")
                for _ in range(args.naive_runs):
                    start = time.perf_counter()
                    subprocess.run(
                        [sys.executable, "-m", "tutor", "grade", lesson.id, "--answers", str(path), "--json"],
                        capture_output=True, cwd=ROOT, check=False,
                    )
                    naive.append(time.perf_counter() - start)
            med = statistics.median(times)
            nmed = statistics.median(naive)
            print(
                f"{lesson.id:<14} {label:<8} {med * 1000:>7.1f}ms {pct(times, 0.95) * 1000:>7.1f}ms "
                f"{nmed * 1000:>12.0f}ms {nmed / med:>6.1f}x"
            )
    ev.close()


if __name__ == "__main__":
    main()
