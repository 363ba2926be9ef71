"""How the learner's run ended, as `tutor grade` (human and `--json`) and the app show it.

`run_outcome(run, program)` turns the learner run's `RunResult` and the program it ran into a
`RunOutcome`: a status and, when the run did not end well, a readable text.

Statuses, and how the sandbox's outcomes map onto them (decided here, shown in `--json` as `run.status`):

- `ok`: the program ran to its end (its values may still differ from the reference's).
- `error`: it raised (the text is a traceback of its last frames), or the run ended without a
  readable result: `crashed` (killed by a signal), `oversize` (a result too large to read) and
  `bad_result` (a result that cannot be read) are `error` with a sentence that says which.
- `timeout`: it did not finish within the lesson's time (the text names the blank it was running).
- `memory`: it needed more memory than a run may use (with the traceback, when it raised MemoryError).
- `skipped`: no learner run was made, or none of the learner's answers could run (every blank missing
  or refused by the static check): the run, if any, was the reference program's.

The traceback gives lines of the lesson file (never of the generated program) and the blank each
line belongs to: `line 31 (in the blank `dw`)`, `line 14, in Model.forward (in the blank `forward`)`.
What the program made (its message, its function names) is cleaned like its output
(`tutor.sandbox.wire.clean_output`) and cut: at most MESSAGE_LINES lines of LINE_CHARS characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tutor.grading.programs import Program
from tutor.sandbox.results import RunError, RunResult
from tutor.sandbox.wire import clean_output

RUN_STATUSES = ("ok", "error", "timeout", "memory", "skipped")
MESSAGE_LINES = 6  # lines of an exception's message shown
LINE_CHARS = 200  # characters of one line of it
REASON_CHARS = 120  # characters of the exception's first line in a one-line reason

_UNREADABLE = {
    "crashed": "crashed",
    "oversize": "produced a result too large to read",
    "bad_result": "left a result that cannot be read",
}


@dataclass(frozen=True)
class RunOutcome:
    """The learner run's status, its readable error (None when it ended well or was not made), and
    `reason`: a clause saying why it left nothing to draw ("it stopped with ValueError: ..."), or None."""

    status: str
    error: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str, limit: int = 80) -> str:
    """A name the program made (an exception's class, a function), cleaned and on one line."""
    return _cut(" ".join(clean_output(text).split()), limit)


def _message_lines(err: RunError) -> list[str]:
    lines = clean_output(err.message).strip("\n").split("\n")
    out = [_cut(line.rstrip(), LINE_CHARS) for line in lines[:MESSAGE_LINES]]
    if len(lines) > MESSAGE_LINES:
        out.append(f"… ({len(lines) - MESSAGE_LINES} more lines)")
    return out


def _place(program: Program | None, line: int | None) -> tuple[int | None, str | None]:
    """(lesson file line, blank name) of a generated line; (None, None) where unknown."""
    if program is None or line is None:
        return None, None
    blank, file_line = program.origin(line)
    return file_line, blank


def _where(file_line: int | None, blank: str | None, function: str = "") -> str:
    """`line 31`, `line 14, in Model.forward`, with ` (in the blank `dw`)` where the line is a blank's."""
    text = f"line {file_line}" if file_line is not None else "a line"
    if function and function != "<module>":
        text += f", in {function}"
    if blank:
        text += f" (in the blank `{blank}`)"
    return text


def traceback_text(err: RunError, program: Program | None) -> str:
    """The exception as the learner reads it: the program's last frames, then `Type: message`."""
    frames = [(f.line, _one_line(f.function)) for f in err.frames]
    if not frames and err.line is not None:
        frames = [(err.line, "")]
    out: list[str] = []
    if program is not None and frames:
        shown = len(frames)
        total = max(err.depth, shown)
        out.append("Traceback (last frames):" if total == shown else f"Traceback (last {shown} of {total} frames):")
        for line, function in frames:
            file_line, blank = _place(program, line)
            out.append("  " + _where(file_line, blank, function))
    message = _message_lines(err)
    head = _one_line(err.type) or "Error"
    out.append(f"{head}: {message[0]}" if message and message[0] else head)
    out += ["  " + line for line in message[1:]]
    return "\n".join(out)


def _headline(err: RunError, program: Program | None) -> str:
    """`ValueError: could not convert ... (line 31, in the blank `dw`)`: one line."""
    message = _message_lines(err)
    text = _one_line(err.type) or "Error"
    if message and message[0]:
        text += f": {_cut(message[0], REASON_CHARS)}"
    last = err.frames[-1].line if err.frames else err.line
    file_line, blank = _place(program, last)
    if file_line is not None:
        text += f" at line {file_line}" + (f" (in the blank `{blank}`)" if blank else "")
    return text


def _marker_blank(run: RunResult, program: Program | None) -> str | None:
    """The blank the run was executing when it was stopped (the sandbox's marker), if known."""
    if program is None or run.marker is None:
        return None
    for name, index in program.index.items():
        if index == run.marker:
            return name
    return None


def run_outcome(run: RunResult | None, program: Program | None = None, *, answered: bool = True) -> RunOutcome:
    """How the learner's run ended. `program` is the program it ran (its line map places each frame
    in the lesson file); `answered` is False when none of the learner's answers could run."""
    if run is None or not answered or run.status == "skipped":
        return RunOutcome("skipped")
    status = run.status
    if status == "ok":
        return RunOutcome("ok")
    blank = _marker_blank(run, program)
    inside = f" in the blank `{blank}`" if blank else ""
    if status == "timeout":
        return RunOutcome("timeout", f"Your program did not finish in time: it was stopped{inside or ' outside the blanks'}.",
                          "it did not finish in time")
    if status == "memory":
        text = f"Your program needed more memory than a run may use{inside}."
        if run.error is not None and (run.error.frames or run.error.line is not None):
            text += "\n" + traceback_text(run.error, program)
        return RunOutcome("memory", text, "it ran out of memory")
    if status == "error" and run.error is not None:
        return RunOutcome("error", traceback_text(run.error, program), f"it stopped with {_headline(run.error, program)}")
    what = _UNREADABLE.get(status)
    if what is None:
        what = "ended without saying why" if status == "error" else f"ended with `{_one_line(status, 40)}`"
    if status == "crashed" and run.signal:
        what += f" (signal {run.signal})"
    return RunOutcome("error", f"Your program {what}{inside}.", f"it {what}")
