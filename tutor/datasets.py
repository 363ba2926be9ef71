"""Named datasets -> numpy arrays. Each dataset is a CSV file under datasets/ with a header line.
A lesson's own data files (`data = { NAME = "FILE" }`) are read by the lesson parser; here they join
the built-in datasets in a job's `data` (`lesson_job_data`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tutor.paths import CACHE_ENV, cache_dir, datasets_dir


@dataclass(frozen=True)
class Dataset:
    name: str
    file: str  # CSV file name in the datasets folder
    variables: dict[str, str | tuple[str, ...]]  # variable -> CSV column (1-D), or columns (a 2-D array)
    description: str
    external: bool = False  # not shipped: made from the learner's own files (see `mnist_csv`)


DATASETS: dict[str, Dataset] = {
    "linear_regression": Dataset(
        "linear_regression",
        "linear_regression.csv",
        {"X": "X", "y": "y"},
        "400 points near the line y = 3x + 2 (x in [0, 1))",
    ),
    "social_network_ads": Dataset(
        "social_network_ads",
        "social_network_ads.csv",
        {"Age": "Age", "EstimatedSalary": "EstimatedSalary", "Purchased": "Purchased"},
        "400 made-up users: Age, EstimatedSalary and whether they Purchased (0 or 1)",
    ),
    "digits": Dataset(
        "digits",
        "digits.csv",
        {"images": tuple(f"p{i}" for i in range(64)), "labels": "label"},
        "1797 handwritten digits, 8x8 pixels of 0..16 (images: 1797 x 64), labels 0..9 (UCI optdigits via scikit-learn)",
    ),
    "mnist": Dataset(
        "mnist",
        "mnist.csv",
        {"images": tuple(f"p{i}" for i in range(784)), "labels": "label"},
        "MNIST from your own files (images: n x 784 of 0..255, labels 0..9): set TUTOR_MNIST to them",
        external=True,
    ),
}

MNIST_ENV = "TUTOR_MNIST"  # an .npz file, or a folder of the four IDX files (optionally .gz)
MNIST_CACHE_ENV = CACHE_ENV  # where the CSV made from them is kept (tutor.paths.cache_dir)


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
    if ds.external:
        return mnist_csv()
    path = (directory or datasets_dir()) / ds.file
    if not path.is_file():
        raise DatasetError(
            f"the data file {path} for dataset `{name}` is missing: reinstall the tutor "
            "or run `python datasets/generate.py`"
        )
    return path


def load(name: str, directory: Path | None = None) -> dict[str, np.ndarray]:
    """The dataset's variables as float64 arrays: 1-D for one column (X and y of 400 floats for
    linear_regression), 2-D for a list of columns (digits' images, 1797 x 64)."""
    ds = get(name)
    path = path_of(name, directory)
    try:
        table = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"the data file {path} could not be read ({exc}): regenerate it") from None
    out = {}
    for var, column in ds.variables.items():
        names = (column,) if isinstance(column, str) else column
        for name in names:
            if table.dtype.names is None or name not in table.dtype.names:
                raise DatasetError(f"the data file {path} has no column `{name}`: regenerate it")
        if isinstance(column, str):
            out[var] = np.ascontiguousarray(table[column], dtype=np.float64)
        else:
            out[var] = np.ascontiguousarray(np.column_stack([table[n] for n in names]), dtype=np.float64)
    return out


def job_data(names: list[str], directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """The sandbox job's `data` entry: each variable -> the CSV file and the column (or columns, for
    a 2-D array) the worker loads."""
    data: dict[str, dict[str, Any]] = {}
    for name in names:
        ds = get(name)
        path = str(path_of(name, directory))
        for var, column in ds.variables.items():
            if isinstance(column, str):
                data[var] = {"csv": path, "column": column}
            else:
                data[var] = {"csv": path, "columns": list(column)}
    return data


def lesson_job_data(lesson: Any, directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """The job's `data` for a lesson: its built-in datasets (`job_data`), and its own data
    (`data = { NAME = "FILE" }`, read when the lesson was parsed: tutor/lesson/data.py) carried in
    the job itself as float64 bytes, so that no sandboxed process opens the instructor's file."""
    data = job_data(lesson.datasets, directory)
    for name, own in lesson.data.items():
        if name in data:
            owner = next(d for d in lesson.datasets if name in get(d).variables)
            raise DatasetError(
                f"{lesson.path}:{own.line}: the data name `{name}` is also a variable of the dataset"
                f" `{owner}`: give your data another name"
            )
        data[name] = inline_array(own.array)
    return data


def inline_array(array: np.ndarray) -> dict[str, Any]:
    """An array as a job's data entry: its float64 values (little-endian, base64) and its shape."""
    import base64

    values = np.ascontiguousarray(array, dtype="<f8")
    return {"array": base64.b64encode(values.tobytes()).decode("ascii"), "shape": [int(n) for n in values.shape]}


# ---- MNIST, from the learner's own files ---------------------------------------------------------

def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (the MNIST format: magic, dimensions, then unsigned bytes), gzipped or not."""
    import gzip

    path = Path(path)
    raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetError(f"{path} holds {data.size} values, its header says {dims}")
    return data.reshape(dims)


def load_mnist(source: str | Path) -> dict[str, np.ndarray]:
    """MNIST as `images` (n x 784 float64, 0..255) and `labels` (n,), training then test images.

    `source` is an .npz (keys x_train, y_train, x_test, y_test as Keras saves them, or X and y) or a
    folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
    t10k-labels-idx1-ubyte (each optionally .gz; the test pair may be missing)."""
    source = Path(source)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    if source.is_file() and source.suffix == ".npz":
        with np.load(source, allow_pickle=False) as z:
            keys = set(z.files)
            pairs = [("x_train", "y_train"), ("x_test", "y_test")] if "x_train" in keys else [("X", "y")]
            for xk, yk in pairs:
                if xk in keys and yk in keys:
                    parts.append((z[xk], z[yk]))
    elif source.is_dir():
        for prefix in ("train", "t10k"):
            found = {}
            for kind, stem in (("x", f"{prefix}-images-idx3-ubyte"), ("y", f"{prefix}-labels-idx1-ubyte")):
                hits = [p for p in (source / stem, source / f"{stem}.gz", source / stem.replace("-idx", ".idx")) if p.is_file()]
                if hits:
                    found[kind] = read_idx(hits[0])
            if len(found) == 2:
                parts.append((found["x"], found["y"]))
    if not parts:
        raise DatasetError(
            f"no MNIST found at {source}: give an .npz with x_train/y_train (or X/y), or a folder with "
            "train-images-idx3-ubyte and train-labels-idx1-ubyte (optionally .gz)"
        )
    images = np.concatenate([x.reshape(len(x), -1) for x, _ in parts]).astype(np.float64)
    labels = np.concatenate([y.reshape(-1) for _, y in parts]).astype(np.float64)
    if images.shape[1] != 784 or len(images) != len(labels):
        raise DatasetError(f"the MNIST at {source} has images of {images.shape[1]} pixels or mismatched labels")
    return {"images": images, "labels": labels}


def mnist_csv(source: str | Path | None = None, cache: str | Path | None = None) -> Path:
    """The CSV (columns p0..p783, label) the sandbox loads for `mnist`, made once from the learner's
    files (`source`, else $TUTOR_MNIST) into `cache` (else $TUTOR_CACHE, else ~/.cache/tutor)."""
    import os

    src = source or os.environ.get(MNIST_ENV)
    if not src:
        raise DatasetError(
            f"MNIST is not shipped with the tutor: set {MNIST_ENV} to an .npz file or a folder of its IDX files"
        )
    folder = Path(cache) if cache else cache_dir()
    out = folder / "mnist.csv"
    if out.is_file() and out.stat().st_mtime >= Path(src).stat().st_mtime:
        return out
    data = load_mnist(src)
    folder.mkdir(parents=True, exist_ok=True)
    header = ",".join([f"p{i}" for i in range(784)] + ["label"])
    table = np.column_stack([data["images"], data["labels"]]).astype(np.int64)
    tmp = out.with_suffix(".tmp")
    np.savetxt(tmp, table, fmt="%d", delimiter=",", header=header, comments="")
    tmp.replace(out)
    return out
