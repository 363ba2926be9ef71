"""The gradebook: a class's rows as CSV, one row per hand-in, in the order the files were given.

Columns, in this order: `file` (the path as given, or as found in a folder given), `score` (the
points of the blanks answered right; empty when the file could not be graded), `max_score` (the
lesson's points), `passed` (`true` when every blank is right, else `false`), `error` (empty, or why
the file could not be graded), then one column per blank, in lesson order, holding `correct`, the
diagnosis the grader gave (`sign_flipped`, `syntax_error`, ...; `unjudged` for an answer the run
never reached), or `missing`; empty when the file could not be graded.

The file is for spreadsheets, which run a cell that starts with `=`, `+`, `-` or `@` as a formula
(CSV injection): such a cell (a file name, an error naming one) gets a `'` in front, as OWASP
advises; a tab or carriage return in front is treated the same way. A file name and an error are
written as a terminal shows them (tutor.safe_text.one_line: no control characters, a line break as
`\\n`), so the file is safe to `cat` too. UTF-8, with `\\r\\n` line ends (RFC 4180, what
spreadsheets expect); a name that is not UTF-8 shows its odd bytes as `<U+DCxx>`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable

from tutor.classroom.batch import Graded
from tutor.grading.report import BlankResult, tidy_points
from tutor.lesson.model import Lesson
from tutor.safe_text import one_line

FIXED_COLUMNS = ("file", "score", "max_score", "passed", "error")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def blank_cell(result: BlankResult | None) -> str:
    """`correct`, the diagnosis, or `missing`: what a blank's column holds."""
    if result is None or result.verdict == "missing":
        return "missing"
    if result.verdict == "correct":
        return "correct"
    return result.diagnosis or result.verdict


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def number(value: float) -> str:
    return str(tidy_points(value))


def max_score(lesson: Lesson) -> float:
    return tidy_points(sum(b.points for b in lesson.blanks.values()))


def table(lesson: Lesson, rows: Iterable[Graded]) -> list[list[str]]:
    """The header and one row per hand-in, every cell safe for a spreadsheet."""
    names = list(lesson.blanks)
    out = [list(FIXED_COLUMNS) + names]
    for row in rows:
        report = row.report
        if report is None:
            cells = [one_line(str(row.path)), "", number(max_score(lesson)), "false", one_line(row.error or "could not be graded")]
            cells += [""] * len(names)
        else:
            cells = [one_line(str(row.path)), number(report.score), number(report.max_score), "true" if report.passed else "false", ""]
            cells += [blank_cell(report.blanks.get(n)) for n in names]
        out.append([safe_cell(c) for c in cells])
    return out


def csv_text(lesson: Lesson, rows: Iterable[Graded]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(table(lesson, rows))
    return buf.getvalue()


def write_csv(path: Path, lesson: Lesson, rows: Iterable[Graded]) -> Path:
    """Write the gradebook to `path` (replacing it); OSError goes up to the caller, which words it."""
    text = csv_text(lesson, rows)
    with open(path, "w", encoding="utf-8", errors="backslashreplace", newline="") as fh:
        fh.write(text)
    return path
