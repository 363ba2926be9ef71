"""An instructor's own data: `data = { NAME = "FILE" }` in a lesson's header becomes an array NAME in
the program; every file that cannot be used is a lesson problem at the line of NAME, with a remedy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tutor.lesson import LessonError, parse_lesson
from tutor.lesson.data import DATA_FILE_LIMIT

ROOT = Path(__file__).resolve().parent.parent

# The step sums the data so that a wrong array (rows lost, a header read as numbers) changes `total`.
LESSON = """+++
id = "own-data"
title = "Own data"
{data}
+++

## Sum it

```python
total = {{{{total: float(np.sum({name}))}}}}
shape = np.array({name}.shape, dtype=float)
{name}[...] = 0  # the array the program gets is its own: writable
```

```toml check
[compare]
total = {{}}
shape = {{}}
```
"""


def write_lesson(folder: Path, data: str, name: str = "table") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "010-own.md"
    path.write_text(LESSON.format(data=data, name=name), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(LessonError) as caught:
        parse_lesson(path)
    return [str(p) for p in caught.value.problems]


def test_csv_with_a_header_row_becomes_a_2d_float_array(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n1.5,2,0\n\n# a comment\n3,4.25,1\n", encoding="utf-8")
    lesson = parse_lesson(write_lesson(tmp_path, 'data = { table = "t.csv" }'))
    own = lesson.data["table"]
    assert own.array.dtype == np.float64
    assert own.array.tolist() == [[1.5, 2.0, 0.0], [3.0, 4.25, 1.0]]
    assert own.line == 4 and own.path == (tmp_path / "t.csv").resolve()


def test_csv_without_header_and_one_column_is_1d(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "y.csv").write_text('"1"\n2\n3e0\n', encoding="utf-8")
    lesson = parse_lesson(write_lesson(tmp_path, '[data]\ntable = "sub/y.csv"'))
    assert lesson.data["table"].array.tolist() == [1.0, 2.0, 3.0]
    assert lesson.data["table"].line == 5  # its own line in the [data] table


def test_npy_keeps_its_shape_as_float64(tmp_path):
    np.save(tmp_path / "img.npy", np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    lesson = parse_lesson(write_lesson(tmp_path, 'data = { table = "img.npy" }'))
    arr = lesson.data["table"].array
    assert arr.shape == (2, 3, 4) and arr.dtype == np.float64 and arr[1, 2, 3] == 23.0


def test_missing_file_is_a_problem_at_its_line(tmp_path):
    path = write_lesson(tmp_path, 'data = { table = "nope.csv" }')
    (msg,) = problems(path)
    assert msg.startswith(f"{path}:4:1: ")
    assert "'nope.csv' for `table` does not exist" in msg and "put the file beside the lesson" in msg


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a,b\n1,2\n3,x\n", "has 'x' on its line 3, value 2, where a number is needed"),
        ("1,2\n3\n", "has 1 values on its line 2 where its first row has 2"),
        ("1,2\n3,\n", "has 'an empty value' on its line 2, value 2"),
        ("a,b\n", "holds no rows of numbers"),
        ("1,nan\n", "holds NaN or infinite values"),
    ],
)
def test_malformed_csv_says_where_in_the_file(tmp_path, content, expected):
    (tmp_path / "t.csv").write_text(content, encoding="utf-8")
    path = write_lesson(tmp_path, 'data = { table = "t.csv" }')
    (msg,) = problems(path)
    assert msg.startswith(f"{path}:4:1: the data file 't.csv' for `table` ") and expected in msg, msg


def test_bad_npy_files_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    path = write_lesson(tmp_path, 'data = { o = "obj.npy", j = "junk.npy", s = "text.npy" }')
    found = problems(path)
    assert len(found) == 3
    assert any("holds Python objects, which the tutor never unpickles" in m for m in found)
    assert any("'junk.npy'" in m and "is not a .npy file (it does not start as one)" in m for m in found)
    assert any("holds values of type <U1 where numbers are needed" in m for m in found)
    assert not marker.exists()


def test_paths_leading_out_of_the_lessons_folder_are_refused(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (tmp_path / "secret.csv").write_text("1,2\n", encoding="utf-8")
    os.symlink(tmp_path / "secret.csv", lessons / "link.csv")
    path = write_lesson(lessons, 'data = { a = "../secret.csv", b = "link.csv", c = "sub/../../secret.csv" }')
    found = problems(path)
    assert len(found) == 3 and all("leads outside the lesson's folder" in m for m in found), found
    assert all(m.startswith(f"{path}:4:1: ") for m in found)
    (msg,) = problems(write_lesson(lessons, 'data = { c = "/etc/passwd.csv" }'))
    assert "'/etc/passwd.csv' for `c` is not a path from the lesson's folder" in msg


def test_a_link_inside_the_folder_and_a_large_file(tmp_path):
    (tmp_path / "real.csv").write_text("1\n2\n", encoding="utf-8")
    os.symlink(tmp_path / "real.csv", tmp_path / "alias.csv")
    assert parse_lesson(write_lesson(tmp_path, 'data = { table = "alias.csv" }')).data["table"].array.tolist() == [1, 2]
    (tmp_path / "big.csv").write_text("1\n" * (DATA_FILE_LIMIT // 2 + 1), encoding="utf-8")
    (msg,) = problems(write_lesson(tmp_path, 'data = { table = "big.csv" }'))
    assert "cannot be read: it is larger than 2 MiB" in msg and "keep a sample of it" in msg


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('data = { np = "t.csv" }', "the data name `np` is a module the lesson program already has"),
        ('data = { sum = "t.csv" }', "the data name `sum` is the Python built-in `sum`"),
        ('data = { "2x" = "t.csv" }', "the data name `2x` is not a Python name"),
        ('data = { _x = "t.csv" }', "starts with _"),
        ('data = { table = "t.txt" }', "'t.txt' for `table` is neither a .csv nor a .npy file"),
        ('data = { table = 3 }', "`table` in data is 3, not a file name"),
        ('data = ["t.csv"]', "is not a table of names and files"),
    ],
)
def test_header_mistakes(tmp_path, data, expected):
    (tmp_path / "t.csv").write_text("1\n", encoding="utf-8")
    (msg,) = problems(write_lesson(tmp_path, data))
    assert ":4:1: " in msg and expected in msg, msg


def tutor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tutor", *args], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_the_program_gets_the_arrays_and_tutor_check_passes(tmp_path, grader):
    (tmp_path / "t.csv").write_text("x,y\n1,2\n3,4\n5,6\n", encoding="utf-8")
    lesson = parse_lesson(write_lesson(tmp_path, 'data = { table = "t.csv" }'))
    ref = grader.reference(lesson)
    assert ref.status == "ok"
    report = grader.grade(lesson, {"total": "float(np.sum(table))"})
    assert report.passed
    # Summing a column is a different total: the data really reached the run.
    assert not grader.grade(lesson, {"total": "float(np.sum(table[:, 0]))"}).passed
    np.save(tmp_path / "v.npy", np.array([[1.0, 2.0], [3.0, 4.5]]))
    path = write_lesson(tmp_path / "npy", 'data = { table = "../v.npy" }')
    assert "leads outside" in problems(path)[0]
    os.replace(tmp_path / "v.npy", tmp_path / "npy" / "v.npy")
    path.write_text(LESSON.format(data='data = { table = "v.npy" }', name="table"), encoding="utf-8")
    out = tutor("check", str(path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1/1 lessons pass" in out.stdout


def test_example_iris_lesson_passes_check():
    out = tutor("check", "examples/iris-softmax")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok   iris-softmax" in out.stdout and "0 missed" in out.stdout


def test_a_name_that_clashes_with_a_dataset_variable_is_said_with_its_line(tmp_path):
    from tutor.datasets import DatasetError, lesson_job_data

    (tmp_path / "t.csv").write_text("1\n", encoding="utf-8")
    text = LESSON.format(data='datasets = ["linear_regression"]\ndata = { X = "t.csv" }', name="X")
    (tmp_path / "010-own.md").write_text(text, encoding="utf-8")
    lesson = parse_lesson(tmp_path / "010-own.md")
    with pytest.raises(DatasetError, match=r"010-own.md:5: the data name `X` is also a variable of the dataset `linear_regression`"):
        lesson_job_data(lesson)


def test_the_sandbox_decodes_inline_arrays_and_refuses_malformed_ones(grader):
    from tutor.datasets import inline_array

    good = inline_array(np.arange(6.0).reshape(2, 3))
    source = "t = float(v.sum())\nv[0, 0] = 1\nprint(t, v.shape)\n"
    cases = [good, {"array": "!!", "shape": [1]}, {"array": good["array"], "shape": [5]}, {"array": 3}]
    outcomes = grader.evaluator.run([{"id": i, "source": source, "names": ["np"], "data": {"v": d}, "timeout": 5.0}
                                     for i, d in enumerate(cases)])
    assert outcomes[0].error is None and outcomes[0].stdout.strip() == "15.0 (2, 3)"
    assert outcomes[1].error == "the data sent with the job is not valid base64"
    assert outcomes[2].error == "the data sent with the job holds 6 values where its shape [5] needs 5"
    assert outcomes[3].error == "the data for `v` is not an array of float64 values and a shape"
