"""Named datasets -> numpy arrays. Each dataset is a CSV file under datasets/ with a header line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tutor.paths import datasets_dir


@dataclass(frozen=True)
class Dataset:
    name: str
    file: str  # CSV file name in the datasets folder
    variables: dict[str, str]  # variable name in the program -> CSV column
    description: str


DATASETS: dict[str, Dataset] = {
    "linear_regression": Dataset(
        "linear_regression",
        "linear_regression.csv",
        {"X": "X", "y": "y"},
        "400 points near the line y = 3x + 2 (x in [0, 1))",
    ),
}


class DatasetError(Exception):
    """A dataset is unknown or its file is missing or unreadable; the message says which and what to do."""


def get(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise DatasetError(f"unknown dataset `{name}`: use one of {known}") from None


def path_of(name: str, directory: Path | None = None) -> Path:
    ds = get(name)
    path = (directory or datasets_dir()) / ds.file
    if not path.is_file():
        raise DatasetError(
            f"the data file {path} for dataset `{name}` is missing: reinstall the tutor "
            "or run `python datasets/generate.py`"
        )
    return path


def load(name: str, directory: Path | None = None) -> dict[str, np.ndarray]:
    """The dataset's variables as float64 1-D arrays (X and y of 400 floats for linear_regression)."""
    ds = get(name)
    path = path_of(name, directory)
    try:
        table = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"the data file {path} could not be read ({exc}): regenerate it") from None
    out = {}
    for var, column in ds.variables.items():
        if table.dtype.names is None or column not in table.dtype.names:
            raise DatasetError(f"the data file {path} has no column `{column}`: regenerate it")
        out[var] = np.ascontiguousarray(table[column], dtype=np.float64)
    return out


def job_data(names: list[str], directory: Path | None = None) -> dict[str, dict[str, str]]:
    """The sandbox job's `data` entry: each variable -> the CSV file and column the worker loads."""
    data: dict[str, dict[str, str]] = {}
    for name in names:
        ds = get(name)
        path = str(path_of(name, directory))
        for var, column in ds.variables.items():
            data[var] = {"csv": path, "column": column}
    return data
