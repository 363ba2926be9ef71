"""Regenerate the datasets shipped with the tutor: `python datasets/generate.py`.

Every file here is made by this script from a fixed seed, so the data (and every figure a lesson
prints) is the same on every machine. See datasets/README.md for each file's provenance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def linear_regression(seed: int = 2021, n: int = 400) -> dict[str, np.ndarray]:
    """400 points on y = 3x + 2 with Gaussian noise (std 0.4), x uniform in [0, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, n)
    y = 3.0 * X + 2.0 + rng.normal(0.0, 0.4, n)
    return {"X": X, "y": y}


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Write columns as CSV with a header line; 17 significant digits so floats round-trip exactly."""
    names = list(columns)
    rows = zip(*(columns[c] for c in names))
    lines = [",".join(names)] + [",".join(repr(float(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    write_csv(HERE / "linear_regression.csv", linear_regression())


if __name__ == "__main__":
    main()
