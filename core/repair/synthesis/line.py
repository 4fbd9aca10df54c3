"""Exact synthesis for repair trials with one free parameter, without a solver.

With a single free parameter ``p = p_original + delta``, every network output at a fixed input
is a piecewise linear function of ``delta`` (the ExactLine idea): the changed neuron's
pre-activation moves along a line, and each later ReLU splits that line where its input
crosses zero. Between consecutive breakpoints every value is affine, so the set of ``delta``
where a soft point keeps its label, or where a counterexample stays out of an unsafe set, is a
union of closed intervals computed exactly from the values at the breakpoints. The synthesis
problem (keep the most soft points while every counterexample is safe, then the smallest
change) becomes a sweep over interval endpoints: the same optimum as the MILP, in milliseconds.

Everything is vectorised over points: each point's breakpoints are one row of a padded array
(padding repeats the last breakpoint, giving empty segments that change nothing).
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

# how far a chosen offset stays inside an optimal interval of positive length (times the limit,
# or on the whole line times the offset, at least 1)
_INSIDE = 1e-9


@dataclass
class LineAnswer:
    """The synthesised offset (None: no offset on the line makes every counterexample safe)
    and the soft points it keeps, by the interval computation."""

    delta: float | None
    kept: int


@dataclass(frozen=True)
class Pieces:
    """The network at each of m points as a piecewise affine function of the offset ``delta``.

    ``outputs`` (m, K, n_outputs) are the values at each point's sorted ``breaks`` (m, K),
    padded by repeating the last breakpoint (empty segments that change nothing), and affine
    between consecutive ones. A bounded line ends at its first and last breakpoint; on the whole
    line, ``below`` and ``above`` (m, n_outputs) are the outputs' slopes on the two rays beyond
    them, where no ReLU switches any more.
    """

    breaks: np.ndarray
    outputs: np.ndarray
    below: np.ndarray | None = None
    above: np.ndarray | None = None

    @property
    def bounded(self) -> bool:
        return self.below is None

    def row(self, index: int) -> Pieces:
        """The pieces of one point."""
        pick = slice(index, index + 1)
        if self.below is None or self.above is None:
            return Pieces(self.breaks[pick], self.outputs[pick])
        return Pieces(self.breaks[pick], self.outputs[pick], self.below[pick], self.above[pick])

    def extents(self) -> tuple[np.ndarray, np.ndarray]:
        """Each piece's ends (m, P), in order along the line: (the ray below,) the segments
        between breakpoints(, the ray above)."""
        lo, hi = self.breaks[:, :-1], self.breaks[:, 1:]
        if self.bounded:
            return lo, hi
        first, last = self.breaks[:, :1], self.breaks[:, -1:]
        infinite = np.full_like(first, np.inf)
        return np.hstack([-infinite, lo, last]), np.hstack([first, hi, infinite])

    def at_least(
        self, values: np.ndarray, below: np.ndarray | None, above: np.ndarray | None, bound: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where an affine function on each piece is ``>= bound``: closed intervals (m, P, c),
        empty ones ``lo = inf, hi = -inf``, in the order of :meth:`extents`.

        ``values`` (m, K, c) are the function at the breakpoints; ``below`` and ``above`` (m, c)
        its slopes on the rays (unused on a bounded line). ``bound`` broadcasts against (m, c).
        """
        t0, t1 = self.breaks[:, :-1, None], self.breaks[:, 1:, None]
        lo, hi = at_least(t0, t1, values[:, :-1], values[:, 1:], bound)
        if self.bounded or below is None or above is None:
            return lo, hi
        first, last = self.breaks[:, :1], self.breaks[:, -1:]
        low_lo, low_hi = _ray_at_least(first, values[:, 0], below, bound, downwards=True)
        up_lo, up_hi = _ray_at_least(last, values[:, -1], above, bound, downwards=False)
        return (
            np.concatenate([low_lo[:, None], lo, up_lo[:, None]], axis=1),
            np.concatenate([low_hi[:, None], hi, up_hi[:, None]], axis=1),
        )


def segments(
    network: Network, address: ParameterAddress, X: np.ndarray, limit: float = math.inf
) -> Pieces:
    """The network at each row of ``X`` as a piecewise affine function of the offset ``delta``:
    over ``[-limit, limit]`` (both ends are breakpoints), or the whole real line when ``limit``
    is infinite.

    Each ReLU layer from the changed one on may split every piece where a pre-activation
    changes sign: inside a segment at the root of its linear interpolation, on a ray at the
    root of its slope's line. Beyond the last breakpoint every output is affine.
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    activations = network.activations(X)
    layer = address.layer
    reads = X if layer == 0 else np.maximum(activations[layer - 1], 0.0)
    # the changed neuron's pre-activation is base + delta * slope; the layers before are fixed
    slope = np.ones(X.shape[0]) if address.source is None else reads[:, address.source]
    line = _Line(network, address, activations[layer], slope)
    bounded = math.isfinite(limit)
    start = np.array([-limit, limit] if bounded else [0.0], dtype=np.float64)
    breaks = np.tile(start, (X.shape[0], 1))
    last = len(network.layers) - 1
    # the layers from the changed one up to the last are ReLUs; each may split every piece
    for index in range(layer, last):
        z = line.pre_activations(breaks, index)
        roots = None if bounded else _ray_roots(breaks, z, *line.ray_slopes(breaks, index))
        breaks = _split(breaks, z, roots)
    outputs = line.pre_activations(breaks, last)
    if bounded:
        return Pieces(breaks, outputs)
    return Pieces(breaks, outputs, *line.ray_slopes(breaks, last))


@dataclass
class _Line:
    """The network at fixed points with one parameter moved: the changed layer's original
    pre-activations ``base`` (m, n) and how fast the changed neuron moves with the offset."""

    network: Network
    address: ParameterAddress
    base: np.ndarray
    slope: np.ndarray

    def pre_activations(self, deltas: np.ndarray, upto: int) -> np.ndarray:
        """Pre-activations of layer ``upto`` at every point and offset ``deltas`` (m, K).

        A forward pass from the changed layer rather than interpolation, so that values at
        breakpoints agree with replaying the changed network up to rounding.
        """
        values = np.repeat(self.base[:, None, :], deltas.shape[1], axis=1)
        values[:, :, self.address.neuron] += deltas * self.slope[:, None]
        for index in range(self.address.layer + 1, upto + 1):
            layer = self.network.layers[index]
            values = np.maximum(values, 0.0) @ layer.weight.T + layer.bias
        return values

    def ray_slopes(self, breaks: np.ndarray, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """Slopes of layer ``upto``'s pre-activations on the rays below the first and above
        the last breakpoint: no earlier layer switches there, so the derivative through the
        ReLUs active at one point of each ray (forward mode) holds on all of it, exactly zero
        where no path from the changed neuron is active."""
        first, last = breaks[:, :1], breaks[:, -1:]
        probes = np.hstack(
            [first - np.maximum(1.0, np.abs(first)), last + np.maximum(1.0, np.abs(last))]
        )
        values = np.repeat(self.base[:, None, :], 2, axis=1)
        values[:, :, self.address.neuron] += probes * self.slope[:, None]
        slopes = np.zeros_like(values)
        slopes[:, :, self.address.neuron] = self.slope[:, None]
        for index in range(self.address.layer + 1, upto + 1):
            layer = self.network.layers[index]
            active = values > 0
            values = np.where(active, values, 0.0) @ layer.weight.T + layer.bias
            slopes = np.where(active, slopes, 0.0) @ layer.weight.T
        return slopes[:, 0], slopes[:, 1]


def _ray_roots(
    breaks: np.ndarray, z: np.ndarray, below: np.ndarray, above: np.ndarray
) -> np.ndarray:
    """(m, 2n): where each pre-activation, affine on the rays with slopes ``below``/``above``,
    reaches zero beyond the first or last breakpoint; NaN where it does not."""
    z_first, z_last = z[:, 0], z[:, -1]
    first, last = breaks[:, :1], breaks[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        down = first - z_first / below
        up = last - z_last / above
    falls = ((z_first > 0) & (below > 0)) | ((z_first < 0) & (below < 0))  # zero lies below
    rises = ((z_last > 0) & (above < 0)) | ((z_last < 0) & (above > 0))  # zero lies above
    return np.hstack([np.where(falls, down, np.nan), np.where(rises, up, np.nan)])


def _split(breaks: np.ndarray, z: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Add the offsets where some neuron's pre-activation ``z`` (m, K, n) changes sign.

    ``z`` is affine between consecutive breakpoints, so a sign change inside a segment is at
    the linear interpolation's root. A zero already at a breakpoint needs no new breakpoint.
    ``extra`` (m, j) are more breakpoints (NaN: none), the roots on the rays.
    """
    z0, z1 = z[:, :-1], z[:, 1:]
    t0, t1 = breaks[:, :-1, None], breaks[:, 1:, None]
    crossing = ((z0 < 0) & (z1 > 0)) | ((z0 > 0) & (z1 < 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.clip(t0 + (t1 - t0) * z0 / (z0 - z1), t0, t1)
    found = [breaks, np.where(crossing, roots, np.nan).reshape(breaks.shape[0], -1)]
    if extra is not None:
        found.append(extra)
    merged = np.sort(np.concatenate(found, axis=1), axis=1)  # NaN sorts last
    width = int(np.max(np.sum(~np.isnan(merged), axis=1), initial=breaks.shape[1]))
    merged = merged[:, :width]
    return np.where(np.isnan(merged), np.nanmax(merged, axis=1, keepdims=True), merged)


def at_least(
    t0: np.ndarray, t1: np.ndarray, f0: np.ndarray, f1: np.ndarray, bound: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Where an affine ``f`` on ``[t0, t1]`` (``f0`` at t0, ``f1`` at t1) is ``>= bound``.

    Elementwise, a closed interval ``[lo, hi]``; an empty one is ``lo = inf, hi = -inf``. The
    end inside the segment is the root of ``f - bound``, found from the endpoint values.
    """
    holds0, holds1 = f0 >= bound, f1 >= bound
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.clip(t0 + (t1 - t0) * (bound - f0) / (f1 - f0), t0, t1)
    empty = ~holds0 & ~holds1
    lo = np.where(empty, np.inf, np.where(holds0, t0, root))
    hi = np.where(empty, -np.inf, np.where(holds1, t1, root))
    return lo, hi


def _ray_at_least(
    end: np.ndarray, f_end: np.ndarray, slope: np.ndarray, bound: Any, downwards: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Where ``f(t) = f_end + slope (t - end)`` is ``>= bound`` on the ray ``t <= end``
    (``downwards``) or ``t >= end``: a closed interval per element, possibly unbounded."""
    holds = f_end >= bound
    with np.errstate(divide="ignore", invalid="ignore"):
        root = end + (bound - f_end) / slope
    gains = slope < 0 if downwards else slope > 0  # f grows along the ray
    loses = slope > 0 if downwards else slope < 0
    far = -np.inf if downwards else np.inf
    # grows: from the root (or the end) to infinity; shrinks: from the end to the root, if
    # it holds at the end; flat: all of it or nothing
    near = np.where(holds, end, np.where(gains, root, np.inf if downwards else -np.inf))
    reach = np.where(gains | (holds & ~loses), far, np.where(holds, root, -far))
    lo, hi = (reach, near) if downwards else (near, reach)
    empty = ~holds & ~gains
    return np.where(empty, np.inf, lo), np.where(empty, -np.inf, hi)


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
            self.problem.counterexample_points(state), self.problem.settings.synthesis_margin
        )
        if answer.delta is None:
            return Proposal("infeasible")
        return Proposal("found", np.array([answer.delta]), proved_optimal=True)
