"""Grade the learner-answer corpus (tests/answer_corpus.py) and print a Markdown report per lesson.

    python benchmarks/corpus_report.py [--lesson ID ...] [--cases] [--json FILE]
    python benchmarks/corpus_report.py --from-json FILE [--cases]     (the tables again, no grading)

One warm grader grades every case. Counts are per answer (a blank written the learner's way): a case of
a slow lesson may hold several equivalent answers in one answers file, and each is counted.

- equivalent answers: how many came back `correct`;
- wrong answers: how many were rejected at all (the program is not passed as right), how many of
  those named the right blank with no other blank blamed, and how many of those got a diagnosis in the
  case's expected set (the specific diagnosis);
- partial answer sets (a learner mid-lesson) are counted with the others and also on their own line.

`--cases` adds a table of every case with what the grader said. Exit status 0 when every case got the
verdict it expects, 1 otherwise (the mis-judged ones are listed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from answer_corpus import ACCEPT, CASES  # noqa: E402
from tutor.grading.grader import Grader  # noqa: E402
from tutor.lesson import find_lesson, load_lessons  # noqa: E402
from tutor.paths import builtin_lessons_dir  # noqa: E402
from tutor.sandbox import Evaluator  # noqa: E402


def judge(case, les, report) -> dict:
    """What the grader said about one case, and whether that is what the case expects."""
    answers = case.answers(les)
    out = {"id": case.id, "lesson": case.lesson, "expect": case.expect, "partial": case.partial,
           "changes": dict(case.changes), "why": case.why, "elapsed": round(report.elapsed, 2)}
    verdicts = {n: (b.verdict, b.diagnosis) for n, b in report.blanks.items()}
    missing_ok = all(verdicts[n][0] == "missing" for n in les.blanks if n not in answers)
    if case.expect == ACCEPT:
        per_answer = {n: verdicts[n][0] == "correct" for n in case.changes}
        others_ok = all(verdicts[n][0] == "correct" for n in answers if n not in case.changes)
        out.update(accepted=per_answer, ok=all(per_answer.values()) and others_ok and missing_ok)
        out["said"] = {n: f"{v}/{d}" for n, (v, d) in verdicts.items() if v != "correct" and n in answers}
    else:
        v, d = verdicts[case.blank]
        rejected = v in ("incorrect", "error") or any(verdicts[n][0] != "correct" for n in answers)
        named = v in ("incorrect", "error")
        blamed = sorted(n for n in answers if n != case.blank and verdicts[n][0] != "correct")
        right_blank = named and not blamed and missing_ok
        specific = right_blank and d in case.diagnoses
        out.update(rejected=rejected, named=right_blank, specific=specific, ok=specific,
                   said={case.blank: f"{v}/{d}", **{n: "/".join(map(str, verdicts[n])) for n in blamed}},
                   expected=sorted(case.diagnoses), blank=case.blank)
    return out


def pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100.0 * a / b:.1f}%)" if b else "-"


def tally(rows: list[dict]) -> dict:
    eq = [ok for r in rows if r["expect"] == ACCEPT for ok in r["accepted"].values()]
    bad = [r for r in rows if r["expect"] != ACCEPT]
    return {
        "eq": len(eq), "eq_ok": sum(eq), "bad": len(bad),
        "rejected": sum(r["rejected"] for r in bad), "named": sum(r["named"] for r in bad),
        "specific": sum(r["specific"] for r in bad),
        "seconds": sum(r["elapsed"] for r in rows), "cases": len(rows),
    }


def table(rows: list[dict], lesson_order: list[str]) -> str:
    lines = [
        "| lesson | answers tried (sets) | equivalent: accepted | wrong: rejected | wrong: right blank named | wrong: specific diagnosis | grading time |",
        "|---|---|---|---|---|---|---|",
    ]
    for lid in lesson_order:
        mine = [r for r in rows if r["lesson"] == lid]
        if not mine:
            continue
        t = tally(mine)
        lines.append(f"| {lid} | {t['eq'] + t['bad']} ({t['cases']}) | {pct(t['eq_ok'], t['eq'])} | {pct(t['rejected'], t['bad'])} | "
                     f"{pct(t['named'], t['bad'])} | {pct(t['specific'], t['bad'])} | {t['seconds']:.0f} s |")
    part = [r for r in rows if r["partial"]]
    if part:
        t = tally(part)
        lines.append(f"| *partial answer sets* | {t['eq'] + t['bad']} ({t['cases']}) | {pct(t['eq_ok'], t['eq'])} | {pct(t['rejected'], t['bad'])} | "
                     f"{pct(t['named'], t['bad'])} | {pct(t['specific'], t['bad'])} | {t['seconds']:.0f} s |")
    t = tally(rows)
    lines.append(f"| **all** | {t['eq'] + t['bad']} ({t['cases']}) | {pct(t['eq_ok'], t['eq'])} | {pct(t['rejected'], t['bad'])} | "
                 f"{pct(t['named'], t['bad'])} | {pct(t['specific'], t['bad'])} | {t['seconds']:.0f} s |")
    return "\n".join(lines)


def esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "⏎ ")


def case_table(rows: list[dict]) -> str:
    lines = ["| case | answer | expected | grader said | ok |", "|---|---|---|---|---|"]
    for r in rows:
        answer = "; ".join(f"{n} = `{esc(t)}`" for n, t in r["changes"].items())
        exp = "correct" if r["expect"] == ACCEPT else f"{r['blank']}: {', '.join(r['expected'])}"
        said = ", ".join(f"{n}: {s}" for n, s in r["said"].items()) or "all correct"
        lines.append(f"| {r['id']} | {answer} | {exp} | {esc(said)} | {'yes' if r['ok'] else '**no**'} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lesson", action="append", help="only this lesson (repeatable)")
    ap.add_argument("--cases", action="store_true", help="also list every case and what the grader said")
    ap.add_argument("--json", help="write every case's result to this file")
    ap.add_argument("--from-json", help="print the tables from a file --json wrote, without grading")
    args = ap.parse_args()
    lessons = load_lessons(builtin_lessons_dir())
    order = [les.id for les in lessons]
    if args.from_json:
        rows = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        return print_report(rows, order, args.cases, f"Learner-answer corpus: {len(rows)} answer sets.")
    cases = [c for c in CASES if not args.lesson or c.lesson in args.lesson]
    start = time.perf_counter()
    ev = Evaluator(preload=("numpy", "torch"))
    rows = []
    try:
        grader = Grader(ev)
        for case in cases:
            les = find_lesson(lessons, case.lesson)
            report = grader.grade(les, case.answers(les))
            row = judge(case, les, report)
            rows.append(row)
            print(f"{'ok ' if row['ok'] else 'NO '} {row['elapsed']:6.2f}s  {case.id}", file=sys.stderr, flush=True)
    finally:
        ev.close()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    took = time.perf_counter() - start
    return print_report(rows, order, args.cases, f"Learner-answer corpus: {len(rows)} answer sets graded with one warm grader in {took:.0f} s.")


def print_report(rows: list[dict], order: list[str], cases: bool, title: str) -> int:
    print(title + "\n")
    print(table(rows, order))
    wrong = [r for r in rows if not r["ok"]]
    if wrong:
        print("\nMis-judged today:\n")
        print(case_table(wrong))
    if cases:
        print("\nEvery case:\n")
        print(case_table(rows))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
