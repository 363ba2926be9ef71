"""An instructor's own data: `data = { NAME = "FILE" }` in a lesson's header, read into numpy arrays.

The header check (header.py, `check_data_table`) looks at the table as written: each NAME a Python
name the program can use, each FILE a relative path to a `.csv` or `.npy` file. The parser then calls
`read_data_files` with the lesson's folder, and each file is read here, once, when the lesson is
parsed: a missing, unreadable or malformed file is a problem at the line of its NAME in the header,
with the remedy, before anything runs. The arrays are kept in the lesson (`Lesson.data`) and travel
to the sandbox inside each job (tutor/datasets.py), so a sandboxed run never opens a file.

Decisions:

- A FILE is a path relative to the lesson file's folder, written with `/`. It must lead to a regular
  file inside that folder (or a folder below it) once every symbolic link and `..` is resolved: a path
  or a link that leads out of it is refused, and so is an absolute path. It is read through
  `files.read_limited` (a regular file only, never a pipe or a device) and may hold at most
  `DATA_FILE_LIMIT` bytes: the data travels with every run, so it is meant to be small (iris is 4 KB).
- `.csv`: numbers separated by commas, one row a line; blank lines and lines starting with `#` are
  skipped; the first row is a header (column names, skipped) when any of its cells is not a number.
  Every row has as many values as the first; a value may be quoted (`"5.1"`). A file of one column
  becomes a 1-D array of its rows, any other a 2-D array (rows, columns).
- `.npy`: read by numpy with `allow_pickle=False` (an array of Python objects is refused, never
  unpickled); booleans, integers and floats only, of any shape with at least one value.
- Every array becomes float64, as the built-in datasets are (labels 0..9 become 0.0..9.0: a torch
  lesson turns them into class indices with `.long()`); a NaN or infinite value is refused, since it
  almost always marks a missing value.
- numpy is imported only when a lesson has data, so parsing other lessons stays light.
"""

from __future__ import annotations

import builtins
import io
import keyword
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from .files import RefusedFile, read_limited

DATA_FILE_LIMIT = 2 * 1024 * 1024  # bytes: one data file; its values travel with every run
DATA_SUFFIXES = (".csv", ".npy")
_RESERVED = frozenset({"np", "torch", "nn", "optim", "F"})  # the module names a lesson program gets


@dataclass
class OwnData:
    """One `NAME = "FILE"` of the header, read: the float64 array the program gets as `NAME`."""

    name: str
    file: str  # as written in the header
    path: Path  # the file it was read from, resolved
    line: int  # the header line of NAME, for problems found later (at grading)
    array: Any  # numpy.ndarray, float64


def name_problem(name: str) -> str | None:
    """Why NAME cannot be a variable of a lesson program (a phrase), or None."""
    if not name.isidentifier() or not name.isascii():
        return "is not a Python name (letters, digits and _, not starting with a digit)"
    if keyword.iskeyword(name):
        return "is a Python keyword"
    if name.startswith("_"):
        return "starts with _, and names starting with _ are not available in lessons"
    if name in _RESERVED:
        return "is a module the lesson program already has"
    if hasattr(builtins, name):
        return f"is the Python built-in `{name}`, which the program would lose"
    return None


def path_problem(file: str) -> str | None:
    """Why FILE, as written, cannot name a data file beside the lesson (a phrase), or None."""
    if not file.strip():
        return "is empty"
    if "\\" in file:
        return "uses \\: write the path with / (like data/iris.csv)"
    if "\x00" in file:
        return "holds a NUL character"
    pure = PurePosixPath(file)
    if pure.is_absolute() or file.startswith("~"):
        return "is not a path from the lesson's folder: write it relative to the lesson file, like iris.csv"
    if pure.suffix.lower() not in DATA_SUFFIXES:
        return "is neither a .csv nor a .npy file: save the data as one of them"
    return None


def read_data_files(
    folder: Path, table: dict[str, str], line_of: Callable[[str], int], report: Callable[[int, int, str], None]
) -> dict[str, OwnData]:
    """Each checked `NAME = "FILE"` read from `folder` (the lesson's); a problem at NAME's line for
    every file that cannot be used (and that NAME left out)."""
    out: dict[str, OwnData] = {}
    for name, file in table.items():
        line = line_of(name)
        try:
            path = _resolve(folder, file)
            array = _read(path, file)
        except _DataProblem as exc:
            report(line, 1, f"the data file {file!r} for `{name}` {exc}")
            continue
        out[name] = OwnData(name, file, path, line, array)
    return out


class _DataProblem(Exception):
    """The rest of a sentence that starts "the data file 'FILE' for `NAME` ..."."""


def _resolve(folder: Path, file: str) -> Path:
    try:
        base = folder.resolve()
        path = (base / file).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a link loop, a path too long
        raise _DataProblem(f"cannot be found ({exc}): check its path") from None
    if not path.is_relative_to(base):
        raise _DataProblem(
            f"leads outside the lesson's folder {base} (through .. or a symbolic link): copy the file"
            " beside the lesson, or into a folder below it, and write its path from there"
        )
    if not path.exists():
        raise _DataProblem(f"does not exist (looked for {path}): put the file beside the lesson or fix its path")
    return path


def _read(path: Path, file: str) -> Any:
    try:
        raw = read_limited(path, DATA_FILE_LIMIT)
    except RefusedFile as exc:
        remedy = {
            "large": "a lesson's data travels with every run: keep a sample of it, or use a built-in dataset",
            "special": "give the path of a .csv or .npy file",
            "link": "fix the link or give the file's own path",
        }.get(exc.kind, "check its path and its permissions")
        raise _DataProblem(f"cannot be read: {exc.reason}: {remedy}") from None
    import numpy as np

    array = _read_npy(raw, np) if path.suffix.lower() == ".npy" else _read_csv(raw, file, np)
    if not np.isfinite(array).all():
        raise _DataProblem(
            "holds NaN or infinite values (a missing value?): fill them in or drop those rows"
        )
    return array


def _read_npy(raw: bytes, np: Any) -> Any:
    if raw.startswith(b"PK\x03\x04"):
        raise _DataProblem("is an .npz archive, not one array: save one array with np.save")
    if not raw.startswith(b"\x93NUMPY"):
        raise _DataProblem("is not a .npy file (it does not start as one): save the array with np.save")
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as exc:
        text = str(exc)
        if "pickle" in text.lower():
            raise _DataProblem(
                "holds Python objects, which the tutor never unpickles: save a numeric array"
                " (np.save with a float or integer array)"
            ) from None
        raise _DataProblem(f"is not a .npy file numpy can read ({text[:200]}): save it again with np.save") from None
    except (OSError, EOFError) as exc:
        raise _DataProblem(f"is not a .npy file numpy can read ({exc}): save it again with np.save") from None
    if array.dtype.kind not in "biuf":
        raise _DataProblem(
            f"holds values of type {array.dtype} where numbers are needed: save a float or integer array"
        )
    if array.ndim == 0 or array.size == 0:
        raise _DataProblem("holds no values: save an array with at least one value")
    return np.ascontiguousarray(array, dtype=np.float64)


def _number(cell: str) -> float | None:
    text = cell.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    try:
        return float(text)
    except ValueError:
        return None


def _read_csv(raw: bytes, file: str, np: Any) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _DataProblem(f"is not UTF-8 text (the first bad character is on its line {line}): save it as UTF-8 CSV") from None
    rows: list[list[float]] = []
    width = 0
    first_line = 0
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.split(",")
        values = [_number(c) for c in cells]
        if not rows and not first_line and any(v is None for v in values):
            first_line = number  # a header row: column names
            width = len(cells)
            continue
        if not width:
            width = len(cells)
        if len(cells) != width:
            raise _DataProblem(
                f"has {len(cells)} values on its line {number} where its first row has {width}:"
                " give every row the same number of values"
            )
        for col, (cell, value) in enumerate(zip(cells, values), 1):
            if value is None:
                shown = cell.strip()[:40] or "an empty value"
                raise _DataProblem(
                    f"has {shown!r} on its line {number}, value {col}, where a number is needed:"
                    " the file may hold numbers only (and one header row of names at its top)"
                )
        rows.append(values)  # type: ignore[arg-type]
    if not rows:
        raise _DataProblem("holds no rows of numbers: add the data below its header row")
    array = np.array(rows, dtype=np.float64)
    return np.ascontiguousarray(array[:, 0]) if array.shape[1] == 1 else array
