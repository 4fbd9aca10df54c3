"""The best test R^2 any model that satisfies a synthetic property can reach, per task.

R^2 averaged uniformly over the outputs is ``1 - mean_j SSE_j / SST_j``, so on each test point
inside the property's region the best admissible prediction is the projection of the true
target onto ``{y : A y <= b}`` in the metric ``diag(1 / SST_j)`` (outside the region, the
target itself). This gives an upper bound per task, and the median of the bounds bounds the
median any method can report for a property rank::

    python benchmarks/smle_r2_bound.py P4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nnv.core.plugin.registry import default_registry
from nnv.plugins.smle.data import load_task
from nnv.plugins.smle.linear import project_points
from nnv.plugins.smle.spec import LinearInequalities, load_spec
from nnv.plugins.smle.workflow import r2_score

SYNTHETIC = Path(__file__).resolve().parents[2] / "shared/benchmarks/smle/synthetic"
TASKS = tuple(f"n{n}_{level}" for n in (2, 4, 8) for level in ("easy", "medium", "hard"))


def best_r2(task: str, prop: str) -> float:
    """The largest test R^2 of a prediction that satisfies ``prop`` on every test point."""
    solver = default_registry().solver("highs")
    data = load_task(SYNTHETIC / f"{task}.npz")
    spec = load_spec(SYNTHETIC / f"{task}.properties.json", prop)
    X, Y = data.splits["test"]
    spread = np.sqrt(((Y - Y.mean(axis=0)) ** 2).sum(axis=0))
    scaled = LinearInequalities(spec.A * spread, spec.b, spec.region, spec.name)
    inside = np.ones(len(X), bool) if spec.region is None else spec.region.contains(X)
    best = Y.copy()
    best[inside] = project_points(scaled, Y[inside] / spread, solver) * spread
    if spec.violated(best[inside], 1e-6).any():
        raise AssertionError("the scaled projection left the property")
    return r2_score(Y, best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("property", nargs="+", help="property ranks, e.g. P4")
    args = parser.parse_args()
    for prop in args.property:
        bounds = {task: best_r2(task, prop) for task in TASKS}
        cells = ", ".join(f"{task} {value:.4f}" for task, value in bounds.items())
        print(f"{prop}: {cells}; median {np.median(list(bounds.values())):.4f}")


if __name__ == "__main__":
    main()
