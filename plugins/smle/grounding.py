"""What the two property kinds share: the output head, the margins and the solve call.

A *grounding* turns a property into the two problems of SMLE's training loop: the
counterexample search (the embedding that violates the property most, a MILP) and the
projection of the head ``g(y) = W y + w`` onto the heads that satisfy the property at every
stored counterexample. The margins are ordered so that the loop cannot chase the same point
forever: a projected head keeps ``PROJECTION_MARGIN`` of slack at each stored point, the
search only reports points with less than ``SEARCH_MARGIN``, and the certificate asks for
``CERTIFY_MARGIN`` (smaller still) at every point of the region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from nnv.core import NnvError, Query, Solution, Solver

from .embedding import Box

PROJECTION_MARGIN = 1e-3
SEARCH_MARGIN = 5e-4
CERTIFY_MARGIN = 1e-4
# How far from the true optimum the counterexample MILP may stop (an absolute gap).
SEARCH_GAP = 1e-7


@dataclass(frozen=True)
class Head:
    """The linear output layer ``g(y) = W y + w``."""

    W: np.ndarray  # (m, k)
    w: np.ndarray  # (m,)

    def vector(self) -> np.ndarray:
        return np.concatenate([self.W.ravel(), self.w])

    @classmethod
    def from_vector(cls, values: np.ndarray, m: int, k: int) -> Head:
        return cls(values[: m * k].reshape(m, k).copy(), values[m * k : m * k + m].copy())

    def __call__(self, Y: np.ndarray) -> np.ndarray:
        return np.atleast_2d(Y) @ self.W.T + self.w


@dataclass(frozen=True)
class Counterexample:
    """An embedding (and, with a linear box, the input it came from) and how bad it is."""

    y: np.ndarray
    x: np.ndarray | None
    violation: float


class Grounding(Protocol):
    """The counterexample search and the projection for one property."""

    def counterexample(
        self, head: Head, box: Box, margin: float = SEARCH_MARGIN
    ) -> Counterexample | None:
        """The embedding that violates ``property`` tightened by ``margin`` most, if any."""

    def project(self, head: Head, pool: np.ndarray) -> Head:
        """The nearest head that satisfies the property (with margin) at every row of pool."""


class SolverPair:
    """What both groundings hold: the property, the search's solver, the projection's solver
    (the search's unless given) and the margin a projected head keeps."""

    def __init__(
        self,
        spec: Any,
        solver: Solver,
        projector: Solver | None = None,
        projection_margin: float = PROJECTION_MARGIN,
    ) -> None:
        self.spec = spec
        self.solver = solver
        self.projector = projector or solver
        self.projection_margin = projection_margin


class SolveError(NnvError):
    """A solver gave no usable answer (a numerical failure, say): reported in one line."""


class SolveTimeout(SolveError):
    """A solver ran out of time: an outcome of the run (the trainers report it in their
    result, or stop with it), not bad input."""


def solve(solver: Solver, query: Query, what: str) -> Solution:
    """Run ``query``; a solution or a proof of infeasibility, else :class:`SolveError`
    (:class:`SolveTimeout` when the solver ran out of time)."""
    solution = solver.solve(query)
    if solution.found or solution.status == "infeasible":
        return solution
    detail = f": {solution.message}" if solution.message else ""
    error = SolveTimeout if solution.status == "timeout" else SolveError
    raise error(f"{what}: solver {solver.name!r} answered {solution.status}{detail}")
