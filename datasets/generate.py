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


def social_network_ads(seed: int = 2021, n: int = 400) -> dict[str, np.ndarray]:
    """400 made-up users shaped like the public "Social Network Ads" table: Age, EstimatedSalary, Purchased.

    Age: whole years, N(37.7, 10.5^2) clipped to [18, 60]; EstimatedSalary: N(69700, 34100^2) rounded to
    thousands, clipped to [15000, 150000]; Purchased: 1 with probability
    sigmoid(0.22 (Age - 41) + 3e-5 (EstimatedSalary - 90000)), so older and richer users buy more often
    (about a third of them, as in the original).
    """
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(rng.normal(37.7, 10.5, n)), 18, 60)
    salary = np.clip(np.round(rng.normal(69700, 34100, n), -3), 15000, 150000)
    logit = 0.22 * (age - 41.0) + 3e-5 * (salary - 90000.0)
    purchased = (rng.uniform(0.0, 1.0, n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    return {"Age": age, "EstimatedSalary": salary, "Purchased": purchased}


def digits() -> dict[str, np.ndarray] | None:
    """scikit-learn's bundled digits (UCI optdigits test set, BSD-3 licence): 1797 images of 8x8 pixels
    with values 0..16, as columns p0..p63, and their label. None when scikit-learn is not installed
    (the tutor never needs it: the CSV ships with it)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return None
    d = load_digits()
    out = {f"p{i}": d.data[:, i] for i in range(64)}
    out["label"] = d.target
    return out


def write_csv(path: Path, columns: dict[str, np.ndarray], integers: bool = False) -> None:
    """Write columns as CSV with a header line; 17 significant digits so floats round-trip exactly
    (`integers`: whole numbers written without a decimal point, for compact image files)."""
    names = list(columns)
    rows = zip(*(columns[c] for c in names))
    fmt = (lambda v: str(int(v))) if integers else (lambda v: repr(float(v)))
    lines = [",".join(names)] + [",".join(fmt(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    write_csv(HERE / "linear_regression.csv", linear_regression())
    write_csv(HERE / "social_network_ads.csv", social_network_ads())
    table = digits()
    if table is not None:
        write_csv(HERE / "digits.csv", table, integers=True)
    elif not (HERE / "digits.csv").exists():
        print("digits.csv not written: install scikit-learn once to export its bundled digits")


if __name__ == "__main__":
    main()
