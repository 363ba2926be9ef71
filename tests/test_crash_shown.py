"""Show the crash: how the learner's run ended, in `tutor grade` (human and `--json`) and in the app.

A run that raises is shown as its last frames, with lines of the lesson file and the blank each line
belongs to, then the exception, cleaned and cut; `--json` carries `run.status` and `run.error`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.grading.crash import LINE_CHARS, MESSAGE_LINES, RUN_STATUSES, run_outcome
from tutor.lesson import parse_lesson
from tutor.sandbox.results import RunError, RunResult, Value, parse_error

LINREG_RIGHT = {
    "loss": "np.mean((y - (w * X + b)) ** 2)",
    "dw": "-2 * np.mean((y - (w * X + b)) * X)",
    "db": "-2 * np.mean(y - (w * X + b))",
    "w": "w - learning_rate * dw",
    "b": "b - learning_rate * db",
    "y_pred": "w * X + b",
}

# A small lesson (1 s runs) whose answers crash, hang or blow their memory; `grow` is a block in a function.
CRASH_LAB = '''+++
id = "crash-lab"
title = "Crash lab"
datasets = ["linear_regression"]
timeout = 1
+++

A lesson whose answers crash, hang or run out of memory.

## Steps

Fill the steps.

```python
def grow(w):
    {{grow:
    step = 0.1
    return w + step
    }}

w = 0.0
loss_list = []
for i in range(3):
    loss = {{loss: np.mean((y - (w * X)) ** 2)}}
    loss_list.append(loss)
    {{update: w = grow(w)}}
```

```toml check
[compare]
loss_list = { rtol = 1e-4 }

[charts]
loss = "loss_list"
```
'''
LAB_RIGHT = {"grow": "step = 0.1\nreturn w + step", "loss": "np.mean((y - (w * X)) ** 2)", "update": "w = grow(w)"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    path = tmp_path_factory.mktemp("crash") / "001-crash-lab.md"
    path.write_text(CRASH_LAB, encoding="utf-8")
    return parse_lesson(path)


def file_line(lesson, needle: str) -> int:
    """The 1-based line of the lesson file that holds `needle`."""
    lines = Path(lesson.path).read_text(encoding="utf-8").split("\n")
    (found,) = [i + 1 for i, line in enumerate(lines) if needle in line]
    return found


def by_id(lessons, key: str):
    return next(l for l in lessons if l.id == key)


# ---- the statuses --------------------------------------------------------------------------------


def test_a_run_that_ends_well_is_ok(grader, lab):
    assert grader.grade(lab, LAB_RIGHT).to_json()["run"] == {"status": "ok", "error": None}


def test_no_answer_that_can_run_is_skipped(grader, lab):
    assert grader.grade(lab, {}).to_json()["run"] == {"status": "skipped", "error": None}
    refused = grader.grade(lab, {"loss": "open('x')", "update": "import os"})
    assert {b.diagnosis for b in refused.blanks.values()} == {"missing", "forbidden"}
    assert refused.to_json()["run"] == {"status": "skipped", "error": None}


def test_a_run_that_hangs_is_a_timeout_naming_its_blank(grader, lab):
    run = grader.grade(lab, {**LAB_RIGHT, "loss": "sum(range(10**12))"}).to_json()["run"]
    assert run["status"] == "timeout"
    assert "did not finish in time" in run["error"] and "`loss`" in run["error"]


def test_a_run_out_of_memory_is_memory_with_its_traceback(grader, lab):
    run = grader.grade(lab, {**LAB_RIGHT, "loss": "len([0] * 10**11)"}).to_json()["run"]
    assert run["status"] == "memory"
    assert "more memory than a run may use" in run["error"]
    assert f"line {file_line(lab, '{{loss:')} (in the blank `loss`)" in run["error"]
    assert run["error"].splitlines()[-1].startswith("MemoryError")


def test_the_sandboxs_other_endings_are_errors_with_a_sentence():
    for status, words in [("crashed", "crashed (signal 11)"), ("oversize", "too large to read"),
                          ("bad_result", "cannot be read")]:
        out = run_outcome(RunResult(status, signal=11 if status == "crashed" else None))
        assert out.status == "error" and words in out.error, (status, out)
        assert out.to_json()["status"] in RUN_STATUSES


# ---- the traceback -------------------------------------------------------------------------------


def test_a_raising_expression_names_its_lesson_line_and_blank(grader, lessons):
    lesson = by_id(lessons, "linreg-numpy")
    run = grader.grade(lesson, {**LINREG_RIGHT, "dw": "float('x')"}).to_json()["run"]
    assert run["status"] == "error"
    assert run["error"].splitlines() == [
        "Traceback (last frames):",
        f"  line {file_line(lesson, '{{dw:')} (in the blank `dw`)",  # once: the hook's lambda is left out
        "ValueError: could not convert string to float: 'x'",
    ]


def test_each_frame_names_its_line_function_and_blank(grader, lab):
    report = grader.grade(lab, {**LAB_RIGHT, "grow": "step = 0.1\nreturn w + int('x')"})
    lines = report.run.error.splitlines()
    grow = file_line(lab, "{{grow:")
    assert lines == [
        "Traceback (last frames):",
        f"  line {file_line(lab, '{{update:')} (in the blank `update`)",
        f"  line {grow + 2}, in grow (in the blank `grow`)",  # the answer's second line
        "ValueError: invalid literal for int() with base 10: 'x'",
    ]
    assert report.run.reason == f"it stopped with ValueError: invalid literal for int() with base 10: 'x' at line {grow + 2} (in the blank `grow`)"


def test_a_deep_traceback_shows_its_last_frames_and_how_many_there_were(grader, lab):
    run = grader.grade(lab, {**LAB_RIGHT, "grow": "return grow(w)"}).run
    lines = run.error.splitlines()
    assert run.status == "error" and lines[0].startswith("Traceback (last 5 of ") and lines[0].endswith(" frames):")
    grow = file_line(lab, "{{grow:")
    # Its answer's line, or the `{{grow:` line where the recursion ran out while entering the blank.
    assert set(lines[1:6]) <= {f"  line {n}, in grow (in the blank `grow`)" for n in (grow, grow + 1)}
    assert lines[1] == f"  line {grow + 1}, in grow (in the blank `grow`)"
    assert lines[-1].startswith("RecursionError")


def test_a_hostile_message_and_function_name_are_cleaned_and_cut(grader, lab):
    name = "f" + "x" * 500
    grow = f"def {name}(v):\n    raise ValueError(chr(27) + ']52;c;aGk=' + chr(7) + chr(27) + '[2J' + 'boom\\n' * 20 + 'B' * 5000)\nreturn {name}(w)"
    run = grader.grade(lab, {**LAB_RIGHT, "grow": grow}).to_json()["run"]
    text = run["error"]
    assert run["status"] == "error"
    assert "\x1b" not in text and "\x07" not in text and "52;c" not in text
    lines = text.splitlines()
    assert len(lines) <= 1 + 5 + MESSAGE_LINES + 1
    assert all(len(line) <= LINE_CHARS + 20 for line in lines[5:])
    frame = next(line for line in lines if ".<locals>." in line)
    assert frame.startswith(f"  line {file_line(lab, '{{grow:') + 2}, in grow.<locals>.fxxx") and len(frame) < 140
    assert lines[-1].startswith("  … (") and lines[-1].endswith("more lines)")


def test_a_hostile_header_never_raises_and_is_capped():
    err = parse_error({
        "type": "E" * 10_000, "message": 5, "frames": [{"line": 3, "function": "f" * 1000}] * 10_000
        + [{"line": "x"}, 7, {"line": -1, "function": "g"}, {"line": 9, "function": ["no"]}],
        "depth": True,
    })
    assert err is not None and len(err.type) == 80 and err.message == ""
    assert [f.line for f in err.frames] == [3, 9] and all(len(f.function) <= 80 for f in err.frames)  # the last 5, checked
    assert err.depth == len(err.frames)
    assert parse_error({"frames": "nope", "depth": 10**30}).frames == []
    out = run_outcome(RunResult("error", error=RunError("E", "m", line=5, frames=err.frames)))
    assert out.status == "error" and out.error.endswith("E: m")  # no program: no generated line numbers shown
    assert "line 3" not in out.error


# ---- the command line ----------------------------------------------------------------------------


def write(path: Path, answers: dict[str, str]) -> Path:
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in answers.items()), encoding="utf-8")
    return path


def test_tutor_grade_shows_the_run_in_json_and_for_a_person(tmp_path, capsys, lessons):
    lesson = by_id(lessons, "linreg-numpy")
    good = write(tmp_path / "good.toml", LINREG_RIGHT)
    bad = write(tmp_path / "bad.toml", {**LINREG_RIGHT, "dw": "float('x')"})
    empty = write(tmp_path / "empty.toml", {})
    assert main(["grade", "linreg-numpy", "--answers", str(good), str(bad), str(empty), "--json"]) == 1
    runs = [json.loads(line)["run"] for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in runs] == ["ok", "error", "skipped"]
    assert runs[0]["error"] is None and runs[2]["error"] is None
    dw = file_line(lesson, "{{dw:")
    assert f"line {dw} (in the blank `dw`)" in runs[1]["error"]

    assert main(["grade", "linreg-numpy", "--answers", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    at = out.index("  your run: error")
    assert out[at - 1].startswith("  ✓ y_pred")  # after the blanks
    assert out[at + 1:] == [
        "    Traceback (last frames):",
        f"      line {dw} (in the blank `dw`)",
        "    ValueError: could not convert string to float: 'x'",
    ]


# ---- the charts panel says why a chart has no curve of the learner's ----------------------------


@pytest.mark.parametrize("case", ["error", "timeout", "not captured"])
def test_the_loss_chart_says_why_the_run_left_no_loss(grader, lab, case):
    import asyncio

    from textual.app import App
    from textual.widgets import Static

    from tutor.app.widgets.charts_panel import ChartsPanel

    reference = grader.reference(lab).captures
    if case == "error":
        report = grader.grade(lab, {**LAB_RIGHT, "grow": "return w + float('x')"})
    elif case == "timeout":
        report = grader.grade(lab, {**LAB_RIGHT, "loss": "sum(range(10**12))"})
    else:
        report = None
    if report is not None:
        learner, run = report.learner_run.captures, report.run
        error, reason = run.error, run.reason
    else:  # a run that ended well without the value the chart draws
        learner, error, reason = {"0": {"loss_list": Value("error", text="NameError: name 'loss_list' is not defined")}}, None, None

    class Host(App):
        def compose(self):
            yield ChartsPanel(lab, id="side")

    async def scenario() -> tuple[str, str]:
        app = Host()
        async with app.run_test(size=(100, 40)) as pilot:
            panel = app.query_one(ChartsPanel)
            panel.set_runs(learner, reference, "", error=error, reason=reason)
            await pilot.pause()
            nav = str(panel.query_one("#charts-nav", Static).render())
            shown = str(panel.query_one("#output-error", Static).render()) if panel.query_one("#output-error").display else ""
            return " ".join(nav.split()), shown

    nav, shown = asyncio.run(scenario())
    expected = {
        "error": "Your run left no loss to draw: it stopped with ValueError: could not convert string to float: 'x' at line",
        "timeout": "Your run left no loss to draw: it did not finish in time.",
        "not captured": "Your run left no loss to draw: `loss_list` was not captured (NameError: name 'loss_list' is not defined).",
    }[case]
    assert expected in nav, nav
    if case == "error":
        assert "(in the blank `grow`)." in nav
        assert shown.splitlines()[-1] == "ValueError: could not convert string to float: 'x'"
    elif case == "timeout":
        assert "did not finish in time" in shown
    else:
        assert shown == ""
