"""Feedback to hand back: a Markdown file per hand-in, and `summary.md` for the class.

Decisions, written down:

- A hand-in's file is named after it (`alice.toml` -> `alice.md`): letters, digits, `.`, `_` and
  `-` kept, anything else made `_`, cut to 100 characters; a second hand-in with the same name gets
  `-2`, `-3`, ... (in input order, so the names do not change between runs), and `summary` is kept
  for the class. Files of the same name already in the folder are replaced; others are left alone.
- It says, per blank in lesson order and under its step: the verdict, the points, the grader's
  sentence and the hint that fits the diagnosis (`BlankResult.hint`, which never shows the answer:
  tutor.grading.report.verdict_hint). It never shows a reference answer: not the solution, not the
  last progressive hint, not the learner's run's traceback (its lines may be those of the reference
  program, where a blank was left empty); only how the run ended. Every sentence written is checked
  against every blank's reference answer (`gives_away`) and left out if it would show one.
- The learner's own answers are not repeated: they have their file.
- Text that comes from a learner or a file (a file name, an error message from their run) is
  cleaned for a terminal (tutor.safe_text) and cannot make Markdown or HTML of its own: it is
  escaped outside code spans, and a file name is put in a code span longer than any run of
  backticks in it.
- `summary.md`: how many hand-ins, graded, passed, the mean score; then per blank, how many graded
  hand-ins got it wrong (anything but `correct`, `missing` included) and with which diagnoses (the
  gradebook's words, tutor.classroom.gradebook.blank_cell), blanks sorted by that count, most first
  (lesson order between equals); then the files that could not be graded, with why.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterable

from tutor.classroom.batch import Graded
from tutor.classroom.gradebook import blank_cell, max_score, number
from tutor.grading.report import gives_away
from tutor.grading.verdicts import MARKS
from tutor.lesson.model import Lesson
from tutor.safe_text import one_line

SUMMARY = "summary.md"
NAME_LIMIT = 100
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
WITHHELD = "(A sentence was left out here: it would have shown a reference answer.)"


def md_text(text: str) -> str:
    """A sentence on one line of Markdown: cleaned, and no HTML or link of its own outside its code
    spans (`` `x` `` stays code; `<b>` and `[link](...)` show as written)."""
    parts = one_line(text).split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: the last one opens no code span
        parts[-2:] = [parts[-2] + "\\`" + parts[-1]]
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"([\[\]|])", r"\\\1", parts[i].translate(_HTML))
    return "`".join(parts)


def md_code(text: str) -> str:
    """`text` as one code span, whatever backticks it holds."""
    text = one_line(text)
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def feedback_names(rows: Iterable[Graded]) -> list[str]:
    """A file name per row, unique in the folder (case aside), never `summary.md`."""
    taken = {SUMMARY[:-3]}
    out = []
    for row in rows:
        stem = _UNSAFE_NAME.sub("_", row.path.stem)[:NAME_LIMIT].strip(".") or "hand-in"
        name, n = stem, 1
        while name.lower() in taken:
            n += 1
            name = f"{stem}-{n}"
        taken.add(name.lower())
        out.append(name + ".md")
    return out


class _Page:
    """Lines of one feedback file; none of them shows a reference answer of the lesson."""

    def __init__(self, lesson: Lesson) -> None:
        self.lesson = lesson
        self.lines: list[str] = []

    def add(self, line: str = "") -> None:
        seen = line.replace("\\n", "\n")  # one_line wrote a line break as \n: a block answer is whole again
        if any(gives_away(b, seen) for b in self.lesson.blanks.values()):
            line = WITHHELD
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


def _points(value: float) -> str:
    return f"{number(value)} point" + ("" if value == 1 else "s")


def student_feedback(lesson: Lesson, row: Graded, hints: bool = True) -> str:
    """One hand-in's feedback, as Markdown (`hints=False`: without the hints, for an exam)."""
    page = _Page(lesson)
    page.add(f"# Feedback: {md_text(lesson.title)}")
    page.add()
    page.add(f"Lesson `{lesson.id}`, hand-in {md_code(str(row.path))}.")
    page.add()
    report = row.report
    if report is None:
        page.add(f"This hand-in could not be graded: {md_text(row.error or 'it could not be read')}")
        page.add()
        page.add(f"Score: not graded (of {_points(max_score(lesson))}).")
        return page.text()
    outcome = "passed: every blank is right." if report.passed else "not passed yet."
    page.add(f"**Score: {number(report.score)} / {_points(report.max_score)}**, {outcome}")
    for s, step in enumerate(lesson.steps):
        names = [n for n in step.blanks if n in report.blanks]
        if not names:
            continue
        page.add()
        page.add(f"## Step {s + 1}: {md_text(step.title)}")
        page.add()
        for name in names:
            b = report.blanks[name]
            earned = b.points if b.verdict == "correct" else 0
            word = "correct" if b.verdict == "correct" else blank_cell(b).replace("_", " ")
            page.add(f"- {MARKS.get(b.verdict, '?')} `{name}`: {word} ({number(earned)} of {_points(b.points)})")
            if b.verdict != "correct":
                if b.message:
                    page.add(f"  - {md_text(b.message)}")
                if b.hint and hints:
                    page.add(f"  - Hint: {md_text(b.hint)}")
    run = report.run
    if run.status not in ("ok", "skipped"):
        page.add()
        page.add(f"Your program's run ended with `{md_text(run.status)}`: run it in the tutor to see where.")
    for note in report.notes:
        page.add()
        page.add(md_text(note))
    return page.text()


def class_summary(lesson: Lesson, rows: list[Graded]) -> str:
    """The class at a glance, as Markdown."""
    graded = [r.report for r in rows if r.report is not None]
    failed = [r for r in rows if r.report is None]
    page = _Page(lesson)
    page.add(f"# Class summary: {md_text(lesson.title)}")
    page.add()
    page.add(f"Lesson `{lesson.id}`: {len(rows)} hand-ins, {len(graded)} graded, {len(failed)} could not be graded;"
             f" {sum(r.passed for r in graded)} passed.")
    if graded:
        mean = sum(r.score for r in graded) / len(graded)
        page.add(f"Mean score of the graded hand-ins: {number(mean)} / {_points(max_score(lesson))}.")
    page.add()
    page.add("## Blanks, by how many got them wrong")
    page.add()
    page.add("| blank | points | wrong | diagnoses |")
    page.add("|---|---|---|---|")
    counts = []
    for order, (name, blank) in enumerate(lesson.blanks.items()):
        wrong = Counter(blank_cell(r.blanks.get(name)) for r in graded)
        wrong.pop("correct", None)
        counts.append((-sum(wrong.values()), order, name, blank.points, wrong))
    for minus, _order, name, points, wrong in sorted(counts):
        said = ", ".join(f"{code} {n}" for code, n in sorted(wrong.items(), key=lambda kv: (-kv[1], kv[0])))
        page.add(f"| `{name}` | {number(points)} | {-minus} of {len(graded)} | {said} |")
    if failed:
        page.add()
        page.add("## Could not be graded")
        page.add()
        for row in failed:
            page.add(f"- {md_code(str(row.path))}: {md_text(row.error or 'it could not be read')}")
    return page.text()


def write_feedback(folder: Path, lesson: Lesson, rows: list[Graded], hints: bool = True) -> list[Path]:
    """Write a feedback file per row and `summary.md` into `folder` (made if needed); the paths, the
    summary last. OSError goes up to the caller, which words it."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for row, name in zip(rows, feedback_names(rows)):
        written.append(_write(folder / name, student_feedback(lesson, row, hints)))
    written.append(_write(folder / SUMMARY, class_summary(lesson, rows)))
    return written


def _write(path: Path, text: str) -> Path:
    with open(path, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as fh:
        fh.write(text)
    return path
