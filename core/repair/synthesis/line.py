"""Exact synthesis for repair trials with one free parameter, without a solver.

With a single free parameter ``p = p_original + delta``, every network output at a fixed input
is a piecewise linear function of ``delta`` (the ExactLine idea): the changed neuron's
pre-activation moves along a line, and each later ReLU splits that line where its input
crosses zero. Between consecutive breakpoints every value is affine, so the set of ``delta``
where a soft point keeps its label, or where a counterexample stays out of an unsafe set, is a
union of closed intervals computed exactly from the values at the breakpoints. The synthesis
problem (keep the most soft points while every counterexample is safe, then the smallest
change) becomes a sweep over interval endpoints: the same optimum as the MILP, in milliseconds.

The pieces along the line are :mod:`.line_pieces`'s; this module takes the sets of offsets
they allow and sweeps them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnv.core.model.decision import DEFAULT_DECISION, Decision, scores
from nnv.core.model.network import Network, ParameterAddress
from nnv.core.model.property import Property
from nnv.core.repair.synthesis.base import Proposal, Rounds, SynthesisProblem
from nnv.core.repair.synthesis.line_pieces import segments

# how far a chosen offset stays inside an optimal interval of positive length (times the limit,
# or on the whole line times the offset, at least 1)
_INSIDE = 1e-9


@dataclass
class LineAnswer:
    """The synthesised offset (None: no offset on the line makes every counterexample safe)
    and the soft points it keeps, by the interval computation."""

    delta: float | None
    kept: int


def union(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``lo``/``hi`` (groups x intervals), the union of its closed intervals.

    Each row's non-empty intervals must come in increasing ``lo``. Returns the components of
    every row, flattened: disjoint within a row (touching intervals merge), so that counting
    components that contain an offset counts each row at most once.
    """
    starts, ends, _ = union_rows(lo, hi)
    return starts, ends


def union_rows(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`union`, with the row each component belongs to."""
    present = lo <= hi
    reach = np.maximum.accumulate(np.where(present, hi, -np.inf), axis=1)
    before = np.concatenate([np.full((lo.shape[0], 1), -np.inf), reach[:, :-1]], axis=1)
    # a component starts past everything before it, or first in its row (it may start at -inf)
    starts = (present & ((lo > before) | np.isneginf(before))).ravel()
    component = np.cumsum(starts) - 1  # rows flatten in order, and a row's first one starts
    ends = np.full(int(starts.sum()), -np.inf)
    np.maximum.at(ends, component[present.ravel()], hi.ravel()[present.ravel()])
    return lo.ravel()[starts], ends, np.flatnonzero(starts) // max(lo.shape[1], 1)


def kept_components(
    network: Network,
    address: ParameterAddress,
    limit: float,
    points: np.ndarray,
    labels: np.ndarray,
    soft_margin: float,
    decision: Decision = DEFAULT_DECISION,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Components of every soft point's kept set along the offset of ``address`` in
    ``[-limit, limit]`` (the whole line when ``limit`` is infinite), and the point of each:
    the label's score leads every other class's by ``soft_margin`` (``y_label - y_k`` under
    argmax, ``y_k - y_label`` under argmin), an intersection of intervals on each piece."""
    pieces = segments(network, address, points, limit)
    below, above = (
        None if slope is None else _lead(scores(slope, decision), labels)
        for slope in (pieces.below, pieces.above)
    )
    margins = _lead(scores(pieces.outputs, decision), labels)
    lo, hi = pieces.at_least(margins, below, above, soft_margin)
    ends_lo, ends_hi = pieces.extents()
    is_label = np.arange(pieces.outputs.shape[2]) == labels[:, None, None]  # no condition
    lo = np.where(is_label, ends_lo[:, :, None], lo).max(axis=2)
    hi = np.where(is_label, ends_hi[:, :, None], hi).min(axis=2)
    return union_rows(lo, hi)


def safe_components(
    network: Network,
    address: ParameterAddress,
    limit: float,
    counterexamples: Sequence[tuple[Property, np.ndarray]],
    margin: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Components of the safe set of every (counterexample, unsafe conjunction) pair along
    the offset of ``address`` (the whole line when ``limit`` is infinite), and the pair
    (0, 1, ...) of each. Out of ``C y <= d`` by ``margin``: some row has
    ``C_r y >= d_r + margin``, a union over rows and pieces."""
    if not counterexamples:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    X = np.array([point for _, point in counterexamples], dtype=np.float64)
    pieces = segments(network, address, X, limit)
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    for index, (prop, _) in enumerate(counterexamples):
        one = pieces.row(index)
        for conjunction in prop.unsafe_outputs:

            def rows(values: np.ndarray | None, C: np.ndarray = conjunction.C) -> Any:
                return None if values is None else values @ C.T

            lo, hi = one.at_least(
                rows(one.outputs), rows(one.below), rows(one.above), conjunction.d + margin
            )
            order = np.argsort(lo, axis=None)
            component_lo, component_hi = union(
                lo.ravel()[order][None, :], hi.ravel()[order][None, :]
            )
            groups.append(np.full(component_lo.size, len(starts)))
            starts.append(component_lo)
            ends.append(component_hi)
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(groups)


def _cover(starts: np.ndarray, ends: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """How many closed intervals contain each cell of the sorted, distinct ``coords``.

    Cells alternate: the point ``coords[0]``, the open gap to ``coords[1]``, the point
    ``coords[1]``, and so on. No endpoint lies strictly inside a gap, so one count holds for
    the whole gap. ``starts`` and ``ends`` must be sorted.
    """
    begun = np.searchsorted(starts, coords, side="right")
    cells = np.empty(2 * coords.size - 1, dtype=np.int64)
    cells[0::2] = begun - np.searchsorted(ends, coords, side="left")
    cells[1::2] = (begun - np.searchsorted(ends, coords, side="right"))[:-1]
    return cells


def _lead(oriented: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """How far each point's label's score leads every class's: ``oriented`` is (m, ..., n)."""
    index = labels.reshape(-1, *([1] * (oriented.ndim - 1)))
    return np.take_along_axis(oriented, index, axis=-1) - oriented


class LineSynthesis:
    """Synthesis for one free parameter: the offset in ``[-limit, limit]`` (anywhere on the real
    line when ``limit`` is infinite) that keeps the most soft points (margin at least
    ``soft_margin``) while every counterexample is safe.

    The soft points' kept sets are computed once per trial; each :meth:`solve` (one per round
    of the counterexample loop) only adds the counterexamples' safe sets and sweeps.
    """

    def __init__(
        self,
        network: Network,
        address: ParameterAddress,
        limit: float,
        points: np.ndarray,
        labels: np.ndarray,
        soft_margin: float,
        decision: Decision = DEFAULT_DECISION,
    ) -> None:
        self.network = network
        self.decision = decision
        self.address = network.resolve(address)
        self.limit = float(limit)
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        labels = np.asarray(labels, dtype=np.int64)
        starts, ends, _ = kept_components(
            network, self.address, self.limit, points, labels, soft_margin, decision
        )
        self._starts, self._ends = np.sort(starts), np.sort(ends)

    def _safe_sets(
        self, counterexamples: Sequence[tuple[Property, np.ndarray]], margin: float
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Components of the safe set of every (counterexample, unsafe conjunction) pair, and
        the number of pairs (see :func:`safe_components`)."""
        starts, ends, _ = safe_components(
            self.network, self.address, self.limit, counterexamples, margin
        )
        return starts, ends, sum(len(prop.unsafe_outputs) for prop, _ in counterexamples)

    def solve(
        self, counterexamples: Sequence[tuple[Property, np.ndarray]], synthesis_margin: float
    ) -> LineAnswer:
        """The optimum: most soft points kept, then the smallest ``|delta|``.

        Both counts are piecewise constant between interval endpoints, so it is enough to
        look at every endpoint and every gap between them. Closed intervals make the optimal
        set closed: a union of closed intervals, whose point nearest 0 is the answer, moved
        slightly inside when the interval has positive length so that replay in float64
        keeps what was counted.
        """
        safe_lo, safe_hi, groups = self._safe_sets(counterexamples, synthesis_margin)
        coords = np.unique(
            np.concatenate([[-self.limit, self.limit], self._starts, self._ends, safe_lo, safe_hi])
        )
        safe = _cover(np.sort(safe_lo), np.sort(safe_hi), coords) == groups
        value = np.where(safe, _cover(self._starts, self._ends, coords), -1)
        best = int(value.max())
        if best < 0:
            return LineAnswer(None, 0)
        edges = np.diff(np.concatenate([[0], (value == best).astype(np.int8), [0]]))
        # optimal runs of cells begin and end at points (even cells): counts of closed sets
        # at a point are at least those of the gaps beside it
        lows = coords[np.flatnonzero(edges == 1) // 2]
        highs = coords[(np.flatnonzero(edges == -1) - 1) // 2]
        nearest = np.clip(0.0, lows, highs)
        pick = int(np.argmin(np.abs(nearest)))
        low, high = lows[pick], highs[pick]
        if high > low:
            scale = self.limit if math.isfinite(self.limit) else abs(float(nearest[pick]))
            inside = min(_INSIDE * max(1.0, scale), (high - low) / 4)
            return LineAnswer(float(np.clip(0.0, low + inside, high - inside)), best)
        return LineAnswer(float(low), best)


class LineSynthesiser:
    """The loop's synthesis for one free parameter and no soft regions: each round, the
    exact optimum of :class:`LineSynthesis` over the counterexamples found so far, anywhere on
    the real line (no ``--max-change`` box: "infeasible" means no value repairs)."""

    max_change = math.inf

    def __init__(self, problem: SynthesisProblem) -> None:
        self.problem = problem
        self.line = LineSynthesis(
            problem.network,
            problem.free.addresses[0],
            math.inf,
            problem.soft.points,
            problem.soft.labels,
            problem.settings.soft_synthesis_margin,
            problem.settings.decision,
        )

    def propose(self, state: Rounds) -> Proposal:
        answer = self.line.solve(
            self.problem.counterexample_points(state), self.problem.margin.value
        )
        if answer.delta is None:
            return Proposal("infeasible")
        return Proposal("found", np.array([answer.delta]), proved_optimal=True)
