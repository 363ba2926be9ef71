"""The lesson model: what a parsed lesson file is, independent of how it is shown or graded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

BlankKind = Literal["expression", "statement", "block"]

# Records one problem at a 1-based (line, column) of the lesson file: each part of the parser
# reports through one, and the parser keeps them all.
Report = Callable[[int, int, str], None]

FRAMEWORK_NAMES: dict[str, tuple[str, ...]] = {
    "numpy": ("np",),
    "torch": ("np", "torch", "nn", "optim", "F"),
}


@dataclass(frozen=True)
class Location:
    """A place in a lesson file, 1-based line and column."""

    path: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class LessonProblem:
    """One problem found in a lesson file: where it is and one plain sentence."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class LessonError(Exception):
    """A lesson file (or folder) could not be used; carries every problem found."""

    def __init__(self, problems: list[LessonProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Blank:
    """A hole in the program: the learner types `answer`'s replacement."""

    name: str
    kind: BlankKind
    answer: str  # the reference answer (for blocks: dedented lines joined by "\n")
    step: int  # index of the step (0-based) the blank belongs to
    location: Location  # where `{{` stands in the lesson file
    # Position inside the step's program text (0-based line within the step code, column of `{{`).
    code_line: int = 0
    code_col: int = 0
    indent: str = ""  # for blocks: the indentation the block is written at
    # Where the answer starts in the step's code: its first character (for a block: its first line,
    # and the width of the indentation its lines lose).
    answer_line: int = 0
    answer_col: int = 0
    # Just past the closing `}}` in the step's code (for a block: on its `}}` line), stored when the
    # file is parsed so that whoever walks the template never looks for the `}}` again.
    end_line: int = 0
    end_col: int = 0
    hints: list[str] = field(default_factory=list)
    diagnosis_hints: dict[str, str] = field(default_factory=dict)
    rtol: float | None = None
    atol: float | None = None
    # Other right answers the author knows (`accept = [...]`): `tutor check` makes sure each is accepted.
    accept: list[str] = field(default_factory=list)
    # "value": compared call by call with the reference (expressions) or judged by isolation runs;
    # "run": judged only by the learner run's compared values (for blanks with more than one right convention).
    judge: str = "value"
    # File line of each of its settings in the check block (`rtol`, `accept`, ...), for `tutor check`.
    setting_lines: dict[str, int] = field(default_factory=dict)
    points: float = 1  # what a right answer scores (`points = N` in the check block; 0 or more)


@dataclass
class Segment:
    """A piece of a step's program: plain code (`text`), or a blank (`blank` = its name, `text` "").

    Writing the segments in order, each blank replaced by an answer, gives the step's program:

    - an expression or statement blank stands for exactly the characters `{{name: answer}}`: write
      the (stripped) answer text in their place;
    - a block blank stands for whole lines: from the start of its `{{name:` line (the indentation
      before `{{` included) through the end of its `}}` line (that line's newline included). The
      text segment before it is empty or ends with a newline, and the one after starts a fresh line.
      Write it as, for each line of the (dedented) answer, `blank.indent + line + "\n"`.
    """

    text: str = ""
    blank: str | None = None


@dataclass
class CompareSpec:
    """A value captured at the end of a step and compared with the reference's run."""

    expr: str
    rtol: float = 1e-4
    atol: float = 1e-6
    location: Location | None = None


@dataclass
class Step:
    title: str
    prose: str  # Markdown shown to the learner, code blocks excluded
    code: str  # the step's template: blanks written as {{name: answer}} (as in the file); ends with "\n"
    segments: list[Segment]  # the template split into code and blanks
    blanks: list[str]  # blank names in order of appearance
    compare: list[CompareSpec] = field(default_factory=list)
    charts: dict[str, object] = field(default_factory=dict)
    chart_lines: dict[str, int] = field(default_factory=dict)  # chart name -> its file line (for `tutor check`)
    location: Location | None = None
    code_location: Location | None = None  # first line of the step's code in the file
    # For each line of `code` (0-based), the 1-based line number in the lesson file.
    code_lines: list[int] = field(default_factory=list)


@dataclass
class Lesson:
    id: str
    title: str
    path: Path
    framework: str  # "numpy" or "torch"
    names: tuple[str, ...]  # modules the program may use (np, torch, nn, optim, F)
    datasets: list[str]
    timeout: float  # seconds a single run may take
    seed: int
    intro: str  # Markdown before the first step
    setup: str  # code run before the steps (read-only to the learner)
    setup_lines: list[int]
    steps: list[Step]
    blanks: dict[str, Blank]  # by name, in order of appearance
    order: int = 0  # numeric prefix of the file name: teaching order
    # The instructor's own data (`data = { NAME = "FILE" }`), read when the lesson is parsed:
    # NAME -> data.OwnData, whose float64 array the program gets as NAME.
    data: dict[str, Any] = field(default_factory=dict)

    def blank_list(self) -> list[Blank]:
        return list(self.blanks.values())

    def reference_answers(self) -> dict[str, str]:
        return {name: b.answer for name, b in self.blanks.items()}
