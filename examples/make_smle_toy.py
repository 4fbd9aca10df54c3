"""Write examples/smle_toy: a small 2-D regression task and one linear property for SMLE.

The targets are a smooth function of the inputs plus noise (1200 training rows, 300 test
rows); the property says that on the box [0.5, 1.5]^2 the two outputs sum to at most 0.5 and
the first stays above -1, which the data itself breaks, so a plain network would too.
Run: python examples/make_smle_toy.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "smle_toy"


def targets(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    clean = np.column_stack([np.sin(X[:, 0]) + 0.5 * X[:, 1], 0.5 * X[:, 0] * X[:, 1]])
    return clean + rng.normal(0.0, 0.05, size=clean.shape)


def main() -> None:
    rng = np.random.default_rng(0)
    HERE.mkdir(exist_ok=True)
    arrays = {}
    for split, rows in (("train", 1200), ("test", 300)):
        X = rng.uniform(-2.0, 2.0, size=(rows, 2))
        arrays[f"x_{split}"], arrays[f"y_{split}"] = X, targets(X, rng)
    np.savez(HERE / "data.npz", **arrays)
    box = {"A": [[1, 0], [0, 1], [-1, 0], [0, -1]], "b": [1.5, 1.5, -0.5, -0.5]}
    prop = {"name": "sum_capped", "input": box, "output": {"A": [[1, 1], [-1, 0]], "b": [0.5, 1.0]}}
    (HERE / "properties.json").write_text(json.dumps([prop], indent=2) + "\n")


if __name__ == "__main__":
    main()
