"""Branch and bound over an input box: split it until bounds prove every part safe.

A queue of sub-boxes is worked through in batches, depth first: the queue stays small, and
the newest boxes' bounds are still in cache.
Each box carries its bounds and the unsafe disjuncts still open on it; a disjunct ``C y <= d``
is closed on a box when a lower bound of ``max(C y - d)`` is positive there: the best row's
bound (:mod:`nnv.core.bounds.batched`) or the best mix of two rows' linear bounds
(:func:`pair_bound`).

A box with open disjuncts is halved along one input, chosen by a smear-style score: the
backward pass charges each unstable ReLU's relaxation slack (weighted by its coefficient in the
binding row) to the inputs in proportion to how much each drives that neuron's range, and adds
half of the row's linear term (slope times width). Splitting on the slope alone stalls: the
slack often comes from an input the bound's slope hardly depends on. Children inherit their
parent's bounds as a floor, so a split never loses ground.

Every new box offers its centre and, per disjunct, the corner that minimises its binding
row's linear bound as counterexample candidates, replayed by the caller; a few gradient steps
inside the boxes whose candidates come closest refine them. A box split too often,
or on which no ReLU is unstable any more (the network is affine there, so the bounds cannot
improve), goes to the exact solver instead. The answer is ``unsat`` only when every box was
proved by bounds or found infeasible by the solver.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnv.core.bounds.batched import BatchBounds, batch_bounds
from nnv.core.bounds.relaxation import rounding_margin
from nnv.core.bounds.symbolic import Bounds
from nnv.core.model.network import Network
from nnv.core.model.property import InputPiece, OutputConjunction
from nnv.core.status import Verdict
from nnv.core.verify.falsify import attack

# (box, disjunct index, bounds on the box) -> (verdict, counterexample or None, message)
SolveBox = Callable[[InputPiece, int, Bounds], tuple[Verdict, np.ndarray | None, str]]


# rows of points -> which are genuine counterexamples (in the region, unsafe in float64)
IsViolation = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BabSettings:
    """Knobs of the search; the defaults suit low-dimensional inputs such as ACAS Xu's."""

    max_inputs: int = 32  # wider input boxes take the plain path: splitting them is hopeless
    batch: int = 256  # boxes split per step
    max_depth: int = 60  # splits of one box before the exact solver takes it over
    attack_boxes: int = 16  # per step, the most promising new boxes searched by gradient steps
    attack_steps: int = 10


@dataclass
class BabOutcome:
    """What the search concluded, with counts for the report."""

    status: Verdict
    point: np.ndarray | None = None
    found_by: str = ""  # "branch-and-bound" (a box's candidate point) or "solver"
    boxes: int = 0  # boxes whose bounds were computed
    proved_by_bounds: int = 0
    proved_by_solver: int = 0
    message: str = ""
    proved_volume: float = 0.0  # the fraction of the piece's volume proved safe so far


# (boxes still open, the outcome so far) -> None: called after every step, for a display
BabProgress = Callable[[int, BabOutcome], None]


@dataclass
class _Boxes:
    """Boxes with their bounds, the disjuncts still open on them, and the splits so far."""

    lower: np.ndarray
    upper: np.ndarray
    bounds: BatchBounds
    objective: np.ndarray  # (boxes, disjuncts): a lower bound of each disjunct's max row
    open: np.ndarray  # (boxes, disjuncts)
    depth: np.ndarray

    def __len__(self) -> int:
        return int(self.lower.shape[0])

    def take(self, index: Any) -> _Boxes:
        return _Boxes(
            self.lower[index],
            self.upper[index],
            self.bounds.take(index),
            self.objective[index],
            self.open[index],
            self.depth[index],
        )

    @staticmethod
    def concatenate(parts: Sequence[_Boxes]) -> _Boxes:
        return _Boxes(
            np.concatenate([p.lower for p in parts]),
            np.concatenate([p.upper for p in parts]),
            BatchBounds.concatenate([p.bounds for p in parts]),
            np.concatenate([p.objective for p in parts]),
            np.concatenate([p.open for p in parts]),
            np.concatenate([p.depth for p in parts]),
        )


class BranchAndBound:
    """Branch and bound for one input box against a disjunction of unsafe conjunctions."""

    def __init__(
        self,
        network: Network,
        piece: InputPiece,
        conjunctions: Sequence[OutputConjunction],
        is_violation: IsViolation,
        solve_box: SolveBox,
        settings: BabSettings | None = None,
    ) -> None:
        self.network = network
        self.piece = piece
        self.is_violation = is_violation
        self.solve_box = solve_box
        self.settings = settings or BabSettings()
        # a conjunction without rows is unsafe everywhere: the row 0 <= 0 says the same
        width = conjunctions[0].C.shape[1]
        self.conjunctions = tuple(
            c if c.C.shape[0] else OutputConjunction(np.zeros((1, width)), np.zeros(1))
            for c in conjunctions
        )
        self.C = np.vstack([c.C for c in self.conjunctions])
        self.d = np.concatenate([c.d for c in self.conjunctions])
        sizes = [c.C.shape[0] for c in self.conjunctions]
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        self.groups = np.repeat(np.arange(len(self.conjunctions)), sizes)
        # (disjunct, row, row) for every pair of rows of one conjunction
        self.pairs = [
            (k, int(first), int(second))
            for k, start in enumerate(self.starts)
            for first, second in itertools.combinations(range(start, start + sizes[k]), 2)
        ]
        self.n_disjuncts = len(self.conjunctions)
        self.span = np.where(piece.upper > piece.lower, piece.upper - piece.lower, 1.0)

    # -- bounds -------------------------------------------------------------------------------

    def _evaluate(
        self,
        lower: np.ndarray,
        upper: np.ndarray,
        parents: _Boxes | None = None,
        repeat: int = 1,
    ) -> _Boxes:
        """New boxes with their bounds; each group of ``repeat`` rows has one parent box."""
        prior = (
            None
            if parents is None
            else parents.bounds.take(np.repeat(np.arange(len(parents)), repeat))
        )
        bounds = batch_bounds(self.network, lower, upper, self.C, self.d, prior)
        objective = np.maximum.reduceat(bounds.rows, self.starts, axis=1)
        radius = (upper - lower) / 2
        for k, first, second in self.pairs:
            objective[:, k] = np.maximum(objective[:, k], pair_bound(bounds, first, second, radius))
        if parents is None:
            depth = np.zeros(len(lower), dtype=np.int64)
            return _Boxes(lower, upper, bounds, objective, objective <= 0, depth)
        objective = np.maximum(objective, np.repeat(parents.objective, repeat, axis=0))
        still_open = np.repeat(parents.open, repeat, axis=0) & (objective <= 0)
        depth = np.repeat(parents.depth + 1, repeat)
        return _Boxes(lower, upper, bounds, objective, still_open, depth)

    def _binding(self, boxes: _Boxes, disjunct: int) -> np.ndarray:
        """Per box, the row of ``disjunct`` with the highest lower bound: the one a
        counterexample must push below zero last, and the one a split must lift."""
        rows = np.flatnonzero(self.groups == disjunct)
        return rows[np.argmax(boxes.bounds.rows[:, rows], axis=1)]

    def _candidates(self, boxes: _Boxes) -> np.ndarray:
        """The centre of each box and, per disjunct, the minimiser of its binding row's bound."""
        points = [(boxes.lower + boxes.upper) / 2]
        everyone = np.arange(len(boxes))
        for k in range(self.n_disjuncts):
            slopes = boxes.bounds.slopes[everyone, self._binding(boxes, k)]
            points.append(np.where(slopes > 0, boxes.lower, boxes.upper))
        return np.vstack(points)

    def _violation(self, boxes: _Boxes) -> np.ndarray | None:
        """A counterexample among the boxes' candidates, or found by gradient steps inside the
        most promising boxes: those whose best candidate comes closest to the unsafe set."""
        count = len(boxes)
        points = self._candidates(boxes)
        slack = self.network.forward(points) @ self.C.T - self.d
        # per point, max(C y - d) of its closest disjunct: <= 0 means unsafe
        margin = np.maximum.reduceat(slack, self.starts, axis=1).min(axis=1)
        close = np.flatnonzero(margin <= 0)
        hits = close[self.is_violation(points[close])] if close.size else close
        if hits.size:
            return points[hits[0]]
        per_box = margin.reshape(-1, count)
        chosen = np.argsort(per_box.min(axis=0))[: self.settings.attack_boxes]
        best = points[np.argmin(per_box[:, chosen], axis=0) * count + chosen]
        for conjunction in self.conjunctions:
            found = attack(
                self.network,
                conjunction,
                boxes.lower[chosen],
                boxes.upper[chosen],
                best,
                self.settings.attack_steps,
            )
            if found is not None and self.is_violation(found[None, :])[0]:
                return found
        return None

    # -- search -------------------------------------------------------------------------------

    def run(self, deadline: float | None, progress: BabProgress | None = None) -> BabOutcome:
        """Search until a counterexample, a proof or the deadline; ``progress(open boxes,
        outcome so far)`` after every step."""
        outcome = BabOutcome("unsat", boxes=1)
        root = self._evaluate(self.piece.lower[None, :], self.piece.upper[None, :])
        queue = root.take(root.open.any(axis=1))
        outcome.proved_by_bounds = 1 - len(queue)
        if len(queue) and self._found(queue, outcome):
            return outcome
        while len(queue):
            if deadline is not None and time.perf_counter() > deadline:
                outcome.status = "timeout"
                outcome.proved_volume = 1.0 - _volume(queue.lower, queue.upper, root) / _volume(
                    root.lower, root.upper, root
                )
                return outcome
            keep = max(len(queue) - self.settings.batch, 0)  # depth first: the newest boxes
            batch, queue = queue.take(slice(keep, None)), queue.take(slice(0, keep))
            to_solver = (
                (batch.depth >= self.settings.max_depth)
                | (batch.bounds.unstable() == 0)
                | np.all(batch.upper <= batch.lower, axis=1)
            )
            if to_solver.any() and self._solve(batch.take(to_solver), deadline, outcome):
                return outcome
            batch = batch.take(~to_solver)
            if len(batch):
                children = self._split(batch, outcome)
                if len(children) and self._found(children, outcome):
                    return outcome
                queue = _Boxes.concatenate([queue, children])
            if progress is not None:
                progress(len(queue), outcome)
        outcome.proved_volume = 1.0
        return outcome

    def _found(self, boxes: _Boxes, outcome: BabOutcome) -> bool:
        """Whether a candidate point of ``boxes`` is a counterexample (then ``outcome`` says so)."""
        point = self._violation(boxes)
        if point is None:
            return False
        outcome.status, outcome.point, outcome.found_by = "sat", point, "branch-and-bound"
        return True

    def _scores(self, boxes: _Boxes) -> np.ndarray:
        """Per box and input, how much splitting that input should tighten the bounds: the
        relaxation slack of each open disjunct's binding row that the input drives, plus half
        of the linear term (half of it stays in the worse child)."""
        everyone = np.arange(len(boxes))
        width = boxes.upper - boxes.lower
        total = np.zeros_like(width)
        for k in range(self.n_disjuncts):
            binding = self._binding(boxes, k)
            linear = np.abs(boxes.bounds.slopes[everyone, binding]) * width / 2
            total += (boxes.bounds.blame[everyone, binding] + linear) * boxes.open[:, k, None]
        return np.where(width > 0, total, -1.0)

    def _split(self, batch: _Boxes, outcome: BabOutcome) -> _Boxes:
        """Split every box of ``batch`` in two on its best input; the children still open."""
        count = len(batch)
        dims = np.argmax(self._scores(batch), axis=1)
        rows = np.arange(count)
        middle = (batch.lower[rows, dims] + batch.upper[rows, dims]) / 2
        lower = np.repeat(batch.lower, 2, axis=0)
        upper = np.repeat(batch.upper, 2, axis=0)
        upper[2 * rows, dims] = middle
        lower[2 * rows + 1, dims] = middle
        children = self._evaluate(lower, upper, batch, 2)
        outcome.boxes += len(children)
        still_open = children.open.any(axis=1)
        outcome.proved_by_bounds += int(np.count_nonzero(~still_open))
        return children.take(still_open)

    def _solve(self, boxes: _Boxes, deadline: float | None, outcome: BabOutcome) -> bool:
        """Hand boxes to the exact solver; True when that settles the search (sat, timeout)."""
        for i in range(len(boxes)):
            box = InputPiece(boxes.lower[i], boxes.upper[i])
            bounds = Bounds(
                tuple(layer[i] for layer in boxes.bounds.lower),
                tuple(layer[i] for layer in boxes.bounds.upper),
            )
            for k in np.flatnonzero(boxes.open[i]):
                if deadline is not None and time.perf_counter() > deadline:
                    outcome.status = "timeout"
                    return True
                status, point, message = self.solve_box(box, int(k), bounds)
                if status == "sat" and point is not None:
                    outcome.status, outcome.point, outcome.found_by = "sat", point, "solver"
                    return True
                if status == "timeout":
                    outcome.status, outcome.message = "timeout", message
                    return True
                if status != "unsat":  # this box stays unproved; a later one may still be sat
                    outcome.status, outcome.message = "unknown", message
                    break
            else:
                outcome.proved_by_solver += 1
        return False


def pair_bound(bounds: BatchBounds, first: int, second: int, radius: np.ndarray) -> np.ndarray:
    """A lower bound of ``max(row_first, row_second)`` over each box, ``(batch,)``.

    For every ``t`` in [0, 1], ``max(r_i, r_j) >= (1 - t) r_i + t r_j``, and the linear lower
    bounds of the two rows give a linear lower bound of that mix. Its minimum over the box is
    concave and piecewise linear in ``t``, with kinks where one input's coefficient changes
    sign, so the best ``t`` is an end or a kink: all are tried. This proves a conjunction on a
    box where each row alone dips below zero, but in different corners.
    """
    a, b = bounds.slopes[:, first], bounds.slopes[:, second]
    m_a, m_b = bounds.centre[:, first], bounds.centre[:, second]
    step = b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        kinks = np.where(step != 0, -a / step, 0.0)
    ends = np.broadcast_to(np.array([0.0, 1.0]), (a.shape[0], 2))
    t = np.clip(np.concatenate([ends, kinks], axis=1), 0.0, 1.0)  # (batch, tries)
    mix = a[:, None, :] + t[:, :, None] * step[:, None, :]
    centre = (1 - t) * m_a[:, None] + t * m_b[:, None]
    spread = np.einsum("btd,bd->bt", np.abs(mix), radius)
    size = (1 - t) * np.abs(m_a)[:, None] + t * np.abs(m_b)[:, None]
    return np.max(centre - spread - rounding_margin(size, spread), axis=1)


def _volume(lower: np.ndarray, upper: np.ndarray, root: _Boxes) -> float:
    """The summed volume of boxes (rows), over the inputs the root box does not fix."""
    free = root.upper[0] > root.lower[0]
    return float(np.prod((upper - lower)[:, free], axis=1).sum())
