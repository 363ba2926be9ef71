"""The `tutor` command as an instructor or a learner uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tutor(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tutor", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT
    )


def test_list_shows_both_lessons_in_order():
    out = tutor("list")
    assert out.returncode == 0, out.stderr
    ids = [line.split()[0] for line in out.stdout.splitlines()]
    assert ids[:2] == ["linreg-numpy", "linreg-torch"]
    data = json.loads(tutor("list", "--json").stdout)
    assert [d["id"] for d in data][:2] == ["linreg-numpy", "linreg-torch"]


def test_show_lists_blanks_without_answers():
    out = tutor("show", "linreg-torch", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    names = [b["name"] for b in data["blanks"]]
    assert names == ["X_tensor", "y_tensor", "model", "criterion", "optimizer", "zero_grad", "pred_y", "loss",
                     "backward", "step", "y_pred"]
    kinds = {b["name"]: b["kind"] for b in data["blanks"]}
    assert kinds["loss"] == "expression" and kinds["step"] == "statement"
    assert "MSELoss" not in out.stdout and "nn.Linear" not in out.stdout
    text = tutor("show", "linreg-numpy").stdout
    assert "np.mean" not in text and "dw" in text


def test_unknown_lesson_is_a_usage_error():
    out = tutor("show", "no-such-lesson")
    assert out.returncode == 2
    assert "no lesson `no-such-lesson`" in out.stderr
    assert "Traceback" not in out.stderr


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_grade_several_files_json_lines_and_exit_codes(tmp_path):
    good = write(tmp_path / "good.toml", """
loss = "np.mean((y - (w * X + b)) ** 2)"
dw = "-2 * np.mean((y - (w * X + b)) * X)"
db = "-2 * np.mean(y - (w * X + b))"
w = "w - learning_rate * dw"
b = "b - learning_rate * db"
y_pred = "w * X + b"
""")
    flipped = write(tmp_path / "flipped.toml", good.read_text().replace('dw = "-2', 'dw = "2'))
    partial = write(tmp_path / "partial.toml", 'loss = "((w * X + b - y) ** 2).mean()"\n')
    out = tutor("grade", "linreg-numpy", "--answers", str(good), str(flipped), str(partial), "--json")
    assert out.returncode == 1, out.stderr
    lines = [json.loads(l) for l in out.stdout.splitlines()]
    assert [l["answers"] for l in lines] == [str(good), str(flipped), str(partial)]
    assert [l["passed"] for l in lines] == [True, False, False]
    assert lines[1]["blanks"]["dw"]["diagnosis"] == "sign_flipped"
    assert lines[1]["blanks"]["dw"]["verdict"] == "incorrect"
    assert lines[2]["blanks"]["loss"]["verdict"] == "correct"
    assert lines[2]["blanks"]["dw"]["verdict"] == "missing"
    assert isinstance(lines[0]["sandbox"]["layers"], list) and lines[0]["sandbox"]["layers"]
    only_good = tutor("grade", "linreg-numpy", "--answers", str(good))
    assert only_good.returncode == 0
    assert "6/6" in only_good.stdout


def test_grade_bad_answers_file_is_exit_2_with_one_sentence(tmp_path):
    bad = write(tmp_path / "bad.toml", "loss = np.mean(\n")
    out = tutor("grade", "linreg-numpy", "--answers", str(bad))
    assert out.returncode == 2
    assert str(bad) in out.stderr and "not valid TOML" in out.stderr
    assert "Traceback" not in out.stderr
    missing = tutor("grade", "linreg-numpy", "--answers", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_check_broken_lesson_reports_file_line_and_exit_2(tmp_path):
    src = (ROOT / "lessons" / "010-linreg-numpy.md").read_text()
    broken = src.replace("{{dw: -2 * np.mean((y - (w * X + b)) * X)}}", "{{dw: -2 * np.mean((y - (w * X + b)) * X)")
    folder = tmp_path / "lessons"
    folder.mkdir()
    write(folder / "010-broken.md", broken)
    out = tutor("check", str(folder))
    assert out.returncode == 2
    line = next(i for i, l in enumerate(broken.splitlines(), 1) if "{{dw:" in l)
    assert f"010-broken.md:{line}:" in out.stderr
    assert "Traceback" not in out.stderr
    out = tutor("--lessons", str(folder), "list")
    assert out.returncode == 2 and f"010-broken.md:{line}:" in out.stderr


def test_check_reference_that_fails_is_reported(tmp_path):
    folder = tmp_path / "lessons"
    folder.mkdir()
    write(folder / "001-bad.md", """+++
id = "bad-ref"
title = "A reference that fails"
+++

## Step

```python
x = {{x: np.mean(undefined_name)}}
```
""")
    out = tutor("check", str(folder))
    assert out.returncode == 2
    assert "001-bad.md:9" in out.stdout + out.stderr
    assert "NameError" in out.stdout + out.stderr


def test_check_a_good_lesson_passes_with_exit_0():
    out = tutor("check", "lessons/010-linreg-numpy.md")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok   linreg-numpy:") and "tutor check: 1/1 lessons pass" in out.stdout
    assert "wrong answers caught, 0 missed" in out.stdout


@pytest.mark.slow
def test_check_builtin_lessons_pass(grader, monkeypatch, capsys):
    """`tutor check lessons` (the command as `main` runs it) on the session's warm grader, whose
    reference runs the other tests compare with; the command's own process is the test above's."""
    from tutor import cli

    class Kept:  # the session's evaluator outlives the command
        def close(self) -> None:
            pass

    monkeypatch.setattr(cli, "_make_grader", lambda lessons, require_isolation=False: (grader, Kept()))
    code = cli.main(["check", "lessons"])
    out = capsys.readouterr().out
    assert code == 0, out
    n = len(list((Path(__file__).resolve().parent.parent / "lessons").glob("*.md")))
    assert n >= 12 and f"{n}/{n} lessons pass" in out
    assert out.count("0 missed") == n


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path):
    import os
    """`tutor list | head -1`: the pipe closes under the tutor, which stops quietly."""
    import subprocess
    import sys

    env = {**os.environ, "TUTOR_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "tutor", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.readline()
    proc.stdout.close()  # the reader is gone before the tutor has written every line
    err = proc.stderr.read().decode()
    proc.wait(60)
    assert "Traceback" not in err and "BrokenPipe" not in err
