"""Writes iris.csv: 150 made-up flowers shaped like Fisher's iris (3 species of 50, 4 measurements in cm).

The values are drawn from one normal distribution per species and measurement, with means and spreads
close to the real data's, from a fixed seed: run `python generate.py` and you get the same file.
Columns: sepal_length, sepal_width, petal_length, petal_width (cm, one decimal) and species (0, 1, 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# species -> (means, standard deviations) of sepal length, sepal width, petal length, petal width
SPECIES = {
    0: ((5.0, 3.4, 1.5, 0.25), (0.35, 0.38, 0.17, 0.10)),
    1: ((5.9, 2.8, 4.3, 1.33), (0.52, 0.31, 0.47, 0.20)),
    2: ((6.6, 3.0, 5.6, 2.03), (0.64, 0.32, 0.55, 0.27)),
}


def main() -> None:
    rng = np.random.default_rng(2024)
    rows = []
    for species, (mean, std) in SPECIES.items():
        values = np.clip(rng.normal(mean, std, size=(50, 4)), 0.1, None)
        rows += [[*np.round(v, 1), species] for v in values]
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    lines += [",".join(f"{x:.1f}" for x in row[:4]) + f",{int(row[4])}" for row in rows]
    (Path(__file__).parent / "iris.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
