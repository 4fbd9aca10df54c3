"""The Grid heuristic: every cell of a grid over the data should keep its majority class.

A region constraint covers the whole input space the data spans, not just the samples, so
repair cannot buy the property by moving the boundary where no sample happens to lie. The
grid spans the bounding box of every split's inputs (widened by ``margin`` on each side);
each cell is labelled by the original network's majority vote over its centre and
``votes - 1`` random points of the cell, each point's class its decision under ``decision``.
"""

from __future__ import annotations

import numpy as np

from nnv.core import Dataset, InputError, InputPiece, Network, hookimpl
from nnv.core.model.decision import check_decision
from nnv.core.plugin.heuristic import Heuristic, SoftConstraints

from ._options import integer_option, margin_option

# More cells than this make a soft-constraint problem no solver finishes.
MAX_CELLS = 100_000


class GridHeuristic(Heuristic):
    """Each cell of a ``cells``-per-dimension grid keeps the original network's majority class."""

    name = "grid"
    description = "cells of a grid over the data's bounding box, labelled by majority vote"

    def __init__(
        self,
        cells: int = 10,
        votes: int = 3,
        seed: int = 0,
        margin: float = 0.0,
        decision: str = "argmax",
    ) -> None:
        self.cells = integer_option("grid", "cells", cells, 1)
        self.votes = integer_option("grid", "votes", votes, 1)
        self.seed = integer_option("grid", "seed", seed, 0)
        self.margin = margin_option("grid", margin)
        self.decision = check_decision(decision, "grid: decision")
        super().__init__(
            cells=self.cells,
            votes=self.votes,
            seed=self.seed,
            margin=self.margin,
            decision=self.decision,
        )

    def constraints(self, network: Network, data: Dataset) -> SoftConstraints:
        d = data.n_features
        if self.cells**d > MAX_CELLS:
            raise InputError(
                f"grid: {self.cells}^{d} = {self.cells**d} cells is more than {MAX_CELLS}; "
                "use fewer cells"
            )
        lower, upper = self._cells(*data.bounding_box(self.margin))
        labels = self._majority(network, lower, upper)
        regions = tuple(InputPiece(lo, hi) for lo, hi in zip(lower, upper, strict=True))
        return SoftConstraints(np.zeros((0, d)), np.zeros(0, dtype=np.int64), regions, labels)

    def _cells(self, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every cell's corners, ``(cells^d, d)`` each; neighbours share their edge values."""
        d = low.shape[0]
        edges = np.linspace(low, high, self.cells + 1)  # (cells + 1, d)
        index = np.indices((self.cells,) * d).reshape(d, -1).T  # (cells^d, d)
        columns = np.arange(d)
        return edges[index, columns], edges[index + 1, columns]

    def vote_points(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """``(cells, votes, d)``: each cell's centre, then ``votes - 1`` seeded random points."""
        n_cells, d = lower.shape
        rng = np.random.default_rng(self.seed)
        centres = (lower + upper) / 2
        randoms = rng.uniform(lower[:, None], upper[:, None], (n_cells, self.votes - 1, d))
        return np.concatenate([centres[:, None], randoms], axis=1)

    def _majority(self, network: Network, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Each cell's majority class over its vote points.

        A tie the centre's class is in goes to the centre (the most typical point of the cell);
        any other tie to the lowest class.
        """
        voters = self.vote_points(lower, upper)
        n_cells, votes, d = voters.shape
        classes = network.predict(voters.reshape(-1, d), self.decision).reshape(n_cells, votes)
        counts = np.zeros((n_cells, network.n_outputs))
        np.add.at(counts, (np.arange(n_cells)[:, None], classes), 1.0)
        # Half a vote more for the centre's class wins a tie and never overturns a majority.
        counts[np.arange(n_cells), classes[:, 0]] += 0.5
        return np.argmax(counts, axis=1).astype(np.int64)


@hookimpl
def nnv_heuristics() -> dict[str, type]:
    return {"grid": GridHeuristic}
