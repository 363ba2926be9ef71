"""A step's ```toml check block: what to compare after the step, which charts to draw, and each
blank's hints, tolerances and points, checked and stored in the step and its blanks.

Decisions: tolerances (`rtol`, `atol`) and `points` (what a right answer scores, 1 unless set) are
numbers of 0 or more; a compared name is a Python expression (a dotted one in quotes); a hint for
a diagnosis is keyed by one of `DIAGNOSIS_CODES`, the codes the grader gives
(tutor/grading/diagnose.py imports this list); settings for a blank of another step name that step.
"""

from __future__ import annotations

from typing import Any

from .model import Blank, CompareSpec, Location, Report, Step
from .pycode import is_expression
from .toml_section import find_line, is_number, load_toml, show

DIAGNOSIS_CODES: frozenset[str] = frozenset(
    {
        "syntax_error",
        "forbidden",
        "runtime_error",
        "timeout",
        "memory",
        "shape_mismatch",
        "dtype_mismatch",
        "sign_flipped",
        "scaled",
        "nan_or_inf",
        "wrong_type",
        "no_effect",
        "diverged",
        "wrong_value",
        "missing",
    }
)


def read_check_block(
    number: int,
    lines: list[str],
    fence_line: int,
    close_line: int,
    step: Step,
    blanks: dict[str, Blank],
    step_of: dict[str, int],
    where: str,
    report: Report,
) -> None:
    """Validate the check block of step `number` (its TOML `lines`, between the fence lines
    `fence_line` and `close_line` of file `where`) and store what it says in the step and its blanks.
    `step_of` gives the step number of every blank of the lesson."""
    block = _CheckBlock(number, lines, fence_line + 1, step, blanks, step_of, where, report)
    data = load_toml(lines, block.first, close_line or fence_line, block.what, report)
    if data is not None:
        block.read(data)


class _CheckBlock:
    def __init__(
        self,
        number: int,
        lines: list[str],
        first: int,
        step: Step,
        blanks: dict[str, Blank],
        step_of: dict[str, int],
        where: str,
        report: Report,
    ) -> None:
        self.number = number
        self.what = f"the check block of step {number}"
        self.lines = lines
        self.first = first  # file line of the block's first TOML line
        self.step = step
        self.blanks = blanks
        self.step_of = step_of
        self.where = where
        self.report = report

    def at(self, table: tuple[str, ...], key: str | None) -> int:
        return find_line(self.lines, self.first, table, key)

    def read(self, data: dict[str, Any]) -> None:
        what = self.what
        for section, value in data.items():
            if section == "compare":
                if not isinstance(value, dict):
                    self.report(
                        self.at((), "compare"),
                        1,
                        f"{what}: `compare` must be a section: write [compare] on its own line, then one"
                        " line per value",
                    )
                    continue
                for expr, spec in value.items():
                    self.compare(expr, spec)
            elif section == "charts":
                if not isinstance(value, dict):
                    self.report(
                        self.at((), "charts"),
                        1,
                        f"{what}: `charts` must be a section: write [charts] on its own line, then one"
                        " line per chart",
                    )
                    continue
                self.charts(value)
            elif section == "blanks":
                if not isinstance(value, dict):
                    self.report(
                        self.at((), "blanks"), 1, f"{what}: `blanks` must hold one section per blank, like [blanks.loss]"
                    )
                    continue
                for name, spec in value.items():
                    self.blank_settings(name, spec)
            else:
                self.report(
                    self.at((section,), None) if isinstance(value, dict) else self.at((), section),
                    1,
                    f"{what} has an unknown section `[{section}]`: use [compare], [charts] and [blanks.NAME]",
                )

    def compare(self, expr: str, spec: Any) -> None:
        what = self.what
        line = self.at(("compare",), expr)
        shown = expr if len(expr) <= 40 else expr[:37] + "..."
        if not is_expression(expr):
            self.report(
                line,
                1,
                f"{what} compares `{shown}`, which is not a Python expression: write a variable"
                ' name or expression, like loss_list or "model.weight"',
            )
            return
        if not isinstance(spec, dict):
            self.report(
                line,
                1,
                f"{what} compares `{shown}` with {show(spec)}: write its tolerances as a table,"
                f' like "{shown}" = {{ rtol = 1e-4 }}, or "{shown}" = {{}} for the defaults',
            )
            return
        tolerances = {"rtol": 1e-4, "atol": 1e-6}
        for key, amount in spec.items():
            if key in tolerances:
                if is_number(amount) and amount >= 0:
                    tolerances[key] = float(amount)
                else:
                    self.report(
                        line,
                        1,
                        f"{what} compares `{shown}` with {key} = {show(amount)}: {key} must be a"
                        f" number, 0 or more, like {key} = 1e-4",
                    )
            elif isinstance(amount, dict):
                self.report(
                    line,
                    1,
                    f"{what} compares `{shown}.{key}` without quotes: write the expression in"
                    f' double quotes, like "{shown}.{key}" = {{}}',
                )
            else:
                self.report(
                    line,
                    1,
                    f"{what} compares `{shown}` with an unknown setting `{key}`: only rtol and"
                    " atol can be set",
                )
        self.step.compare.append(
            CompareSpec(expr, tolerances["rtol"], tolerances["atol"], Location(self.where, line, 1))
        )

    def charts(self, value: dict[str, Any]) -> None:
        for name, chart in value.items():
            if not isinstance(chart, (str, dict, list)):
                self.report(
                    self.at(("charts",), name),
                    1,
                    f"{self.what} draws the chart `{name}` from {show(chart)}: write an expression in"
                    ' quotes, like loss = "loss_list", or a table, like'
                    ' fit = { x = "X", y = "y", line = "y_pred" }',
                )
        self.step.charts = dict(value)
        self.step.chart_lines = {name: self.at(("charts",), name) for name in value}

    def blank_settings(self, name: str, spec: Any) -> None:
        what, step = self.what, self.step
        line = self.at(("blanks", name), None)
        if name not in step.blanks:
            if name in self.step_of:
                fix = f"; it is in step {self.step_of[name]}: move these settings to that step's check block"
            elif step.blanks:
                fix = ": use one of this step's blanks, " + ", ".join(f"`{b}`" for b in step.blanks)
            else:
                fix = ": this step has no blanks, so remove these settings"
            self.report(line, 1, f"{what} has settings for a blank `{name}` that step {self.number} does not have{fix}")
            return
        if not isinstance(spec, dict):
            self.report(line, 1, f"{what}: the settings of blank `{name}` must be a section, like [blanks.{name}]")
            return
        blank = self.blanks.get(name)
        for key, value in spec.items():
            self.blank_setting(blank, name, key, value)

    def blank_setting(self, blank: Blank | None, name: str, key: str, value: Any) -> None:
        what = self.what
        key_line = self.at(("blanks", name), key)
        if blank is not None:
            blank.setting_lines[key] = key_line
        if key in ("accept", "judge"):
            self.answer_setting(blank, name, key, value, key_line)
        elif key == "hints":
            if isinstance(value, list) and all(isinstance(h, str) and h.strip() for h in value):
                if blank is not None:
                    blank.hints = list(value)
            else:
                self.report(
                    key_line,
                    1,
                    f"{what}: the hints of blank `{name}` must be a list of sentences in quotes,"
                    ' like hints = ["First hint.", "Second hint."]',
                )
        elif key in ("rtol", "atol"):
            if is_number(value) and value >= 0:
                if blank is not None:
                    setattr(blank, key, float(value))
            else:
                self.report(
                    key_line,
                    1,
                    f"{what} gives blank `{name}` {key} = {show(value)}: {key} must be a number,"
                    f" 0 or more, like {key} = 1e-4",
                )
        elif key == "points":
            if is_number(value) and value >= 0:
                if blank is not None:
                    blank.points = value
            else:
                self.report(
                    key_line,
                    1,
                    f"{what} gives blank `{name}` points = {show(value)}: points must be a number,"
                    " 0 or more, like points = 2 (a right answer scores them; the default is 1)",
                )
        elif key in DIAGNOSIS_CODES:
            if isinstance(value, str) and value.strip():
                if blank is not None:
                    blank.diagnosis_hints[key] = value
            else:
                self.report(
                    key_line,
                    1,
                    f"{what}: the hint for `{key}` of blank `{name}` must be a sentence in quotes,"
                    f' like {key} = "Look at the sign."',
                )
        else:
            self.report(
                key_line,
                1,
                f"{what} gives blank `{name}` an unknown setting `{key}`: use hints, rtol, atol, points, accept, judge,"
                f" or a hint for one of the diagnoses {', '.join(sorted(DIAGNOSIS_CODES))}",
            )

    def answer_setting(self, blank: Blank | None, name: str, key: str, value: Any, key_line: int) -> None:
        """`accept` (other right answers, each checked by `tutor check`) and `judge` ("value" or "run")."""
        if key == "accept":
            if isinstance(value, list) and all(isinstance(a, str) and a.strip() for a in value):
                if blank is not None:
                    blank.accept = [a.strip("\n") for a in value]
            else:
                self.report(
                    key_line,
                    1,
                    f"{self.what}: the accepted answers of blank `{name}` must be a list of answers in quotes,"
                    ' like accept = ["np.square(y - y_pred).mean()"]',
                )
        elif value in ("value", "run"):
            if blank is not None:
                blank.judge = value
        else:
            self.report(
                key_line,
                1,
                f"{self.what} gives blank `{name}` judge = {show(value)}: write judge = \"run\" to judge it only by"
                ' the run\'s compared values, or judge = "value" (the default) to compare it call by call',
            )
