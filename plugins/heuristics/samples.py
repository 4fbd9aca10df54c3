"""The Samples heuristic: data points that should keep their class.

The repair paper keeps the first N training samples, each with the original network's
classification: "B close to A" means B agrees with A, including where A disagrees with the
data. That is the default here; ``label="true"`` keeps the data's own labels instead. The
original network's class is its decision under the run's ``decision`` rule (argmax or argmin).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from nnv.core import Dataset, InputError, Network, hookimpl
from nnv.core.model.decision import check_decision
from nnv.core.plugin.heuristic import Heuristic, SoftConstraints

SELECTIONS = ("first", "random")
LABELS = ("original", "true")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InputError(f"samples: {name} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _integer(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"samples: {name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def _split(data: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in data.splits:
        known = ", ".join(sorted(data.splits))
        raise InputError(f"samples: the data has no split {split!r} (it has: {known})")
    return data.splits[split]


class SamplesHeuristic(Heuristic):
    """Keep the class of N samples of one split (the paper: the first N training samples)."""

    name = "samples"
    description = "the first (or N random) samples of a split, labelled by the original network"

    def __init__(
        self,
        count: int | None = None,
        split: str = "train",
        select: str = "first",
        seed: int = 0,
        label: str = "original",
        decision: str = "argmax",
    ) -> None:
        self.count = None if count is None else _integer("count", count, 1)
        self.split = str(split)
        self.select = _choice("select", select, SELECTIONS)
        self.seed = _integer("seed", seed, 0)
        self.label = _choice("label", label, LABELS)
        self.decision = check_decision(decision, "samples: decision")
        super().__init__(
            count=self.count,
            split=self.split,
            select=self.select,
            seed=self.seed,
            label=self.label,
            decision=self.decision,
        )

    def constraints(self, network: Network, data: Dataset) -> SoftConstraints:
        X, y = _split(data, self.split)
        chosen = self._chosen(X.shape[0])
        points = X[chosen]
        labels = network.predict(points, self.decision) if self.label == "original" else y[chosen]
        if labels.size and not 0 <= labels.min() <= labels.max() < network.n_outputs:
            raise InputError(
                f"samples: split {self.split!r} has labels outside the network's "
                f"{network.n_outputs} classes"
            )
        return SoftConstraints(points.copy(), labels.astype(np.int64))

    def _chosen(self, available: int) -> np.ndarray:
        """Row indices: the first ``count``, or ``count`` distinct random rows in data order."""
        if self.count is None:
            return np.arange(available)
        if self.count > available:
            raise InputError(
                f"samples: count={self.count}, but split {self.split!r} has {available} samples"
            )
        if self.select == "first":
            return np.arange(self.count)
        rng = np.random.default_rng(self.seed)
        return np.sort(rng.choice(available, size=self.count, replace=False))


@hookimpl
def nnv_heuristics() -> dict[str, type]:
    return {"samples": SamplesHeuristic}
