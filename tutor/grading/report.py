"""What a grading gives back: a verdict per blank (`BlankResult`) and the whole `GradeReport`, with
the hint shown beside a verdict and the rule that no sentence shown unasked gives the answer away."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tutor.grading import programs
from tutor.grading.crash import RunOutcome, run_outcome
from tutor.grading.diagnose import Diagnosis
from tutor.grading.verdicts import Cancelled  # noqa: F401 - the grader raises it
from tutor.lesson.model import Blank
from tutor.sandbox.results import RunResult


@dataclass
class BlankResult:
    name: str
    kind: str
    step: int
    verdict: str  # "correct", "incorrect", "missing", "error", "unjudged" (grading/verdicts.py)
    diagnosis: str | None = None
    message: str = ""
    factor: float | None = None
    hint: str | None = None
    call: int | None = None
    line: int | None = None  # 1-based line within the answer, for syntax errors
    col: int | None = None  # 1-based column within the answer, for syntax errors
    points: float = 1  # what a right answer to the blank scores (the lesson's `points`, set by the grader)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verdict": self.verdict, "diagnosis": self.diagnosis, "message": self.message}
        if self.diagnosis == "scaled" and self.factor is not None:
            out["factor"] = self.factor
        if self.col is not None:
            out["line"] = self.line
            out["col"] = self.col
        return out


@dataclass
class GradeReport:
    lesson: str
    blanks: dict[str, BlankResult]
    layers: list[str] = field(default_factory=list)
    learner_run: RunResult | None = None
    reference_run: RunResult | None = None
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    learner_program: programs.Program | None = None  # what learner_run ran: its lines place a traceback's frames
    learner_answered: bool = True  # False when no answer could run (learner_run then ran the reference alone)

    @property
    def passed(self) -> bool:
        return bool(self.blanks) and all(b.verdict == "correct" for b in self.blanks.values())

    @property
    def score(self) -> float:
        """The points of the blanks answered right; a wrong, missing, unjudged or error blank scores 0."""
        return tidy_points(sum(b.points for b in self.blanks.values() if b.verdict == "correct"))

    @property
    def max_score(self) -> float:
        return tidy_points(sum(b.points for b in self.blanks.values()))

    @property
    def stdout(self) -> str:
        return self.learner_run.stdout if self.learner_run else ""

    @property
    def run(self) -> RunOutcome:
        """How the learner's run ended: status and readable error (tutor/grading/crash.py)."""
        return run_outcome(self.learner_run, self.learner_program, answered=self.learner_answered)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.blanks.values():
            out[b.verdict] = out.get(b.verdict, 0) + 1
        return out

    def to_json(self, answers_path: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"lesson": self.lesson}
        if answers_path is not None:
            out["answers"] = answers_path
        out["passed"] = self.passed
        out["score"] = self.score
        out["max_score"] = self.max_score
        out["blanks"] = {name: b.to_json() for name, b in self.blanks.items()}
        out["run"] = self.run.to_json()
        out["sandbox"] = {"layers": list(self.layers)}
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def tidy_points(value: float) -> float:
    """A sum of points as a person writes it: 3, not 3.0; 0.3, not 0.30000000000000004."""
    value = round(float(value), 6)
    return int(value) if value.is_integer() else value


def _result(blank: Blank, diag: Diagnosis | None) -> BlankResult:
    if diag is None:
        return BlankResult(blank.name, blank.kind, blank.step, "correct", None, "Correct.")
    hint = verdict_hint(blank, diag.code)
    return BlankResult(blank.name, blank.kind, blank.step, diag.verdict, diag.code, diag.message, diag.factor, hint, diag.call)


GIVEAWAY_MIN_CHARS = 6  # an answer shorter than this (`w`, `X`, `0.5`) may appear in any sentence


def _squeeze(text: str) -> str:
    return "".join(text.split())


def gives_away(blank: Blank, text: str | None) -> bool:
    """Whether `text` shows the blank's whole reference answer (spacing aside), for an answer of at
    least GIVEAWAY_MIN_CHARS characters. One line of a block (`with torch.no_grad():`, which the
    lesson's prose teaches) is not the answer."""
    answer = _squeeze(blank.answer)
    return bool(text) and len(answer) >= GIVEAWAY_MIN_CHARS and answer in _squeeze(text)


def verdict_hint(blank: Blank, code: str) -> str | None:
    """The hint shown with a verdict, without being asked for: the lesson's hint for the diagnosis, else
    its first progressive hint. The answer appears only in the last hint (asked for) or the solution,
    so a hint here that shows the answer is left out (the next one, or none, is shown instead)."""
    for hint in (blank.diagnosis_hints.get(code), blank.hints[0] if blank.hints else None):
        if hint and not gives_away(blank, hint):
            return hint
    return None


def _all_right(results: dict[str, BlankResult]) -> bool:
    """Every answered blank is right so far (blanks without an answer, or not judged, do not count either way)."""
    return all(r.verdict == "correct" for r in results.values() if r.verdict not in ("missing", "unjudged"))


def _unjudged(blank: Blank) -> BlankResult:
    return BlankResult(blank.name, blank.kind, blank.step, "unjudged", None,
                       f"`{blank.name}` is not judged yet: the program never reached it, so what it gives was never compared.")
