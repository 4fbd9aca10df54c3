"""Exact synthesis for two free parameters of one neuron (two of its incoming weights, or a
weight and its bias), without a solver.

Both parameters move one neuron's pre-activation: at input ``x`` by ``s = d1 a1(x) + d2 a2(x)``,
where ``a_k(x)`` is what parameter ``k`` multiplies (the activation it reads; 1 for the bias).
Every output at ``x`` depends on the offsets only through ``s``, so the exact line analysis of
the neuron's bias (:mod:`.line`) gives the shifts that keep each soft point (a union of closed
intervals, once per trial) and those that keep each counterexample safe (each round). In the
plane of the two offsets each interval is a *strip* ``lo <= a(x) . d <= hi``.

The best offsets keep the most soft strips among the points every counterexample's strips and
the box of the limits contain, then change least (``|d1|/L1 + |d2|/L2``). The optimal set is
a union of closed cells of the arrangement of the strips' edges, the box's edges and the two
axes (where the change bends), and the best point of a cell is one of its vertices, which lie
on those lines. So the sweep of :mod:`.line` along each of those lines, where every strip is an
interval, finds the proved optimum: ``lines x strips`` work, vectorised over chunks of lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnv.core.model.decision import DEFAULT_DECISION, Decision
from nnv.core.model.network import Network, ParameterAddress
from nnv.core.model.property import Property
from nnv.core.repair.synthesis.base import Proposal, Rounds, SynthesisProblem
from nnv.core.repair.synthesis.line import kept_components, safe_components

_LINES_PER_CHUNK = 256
_PARALLEL = 1e-12  # a strip whose normal is this close to the line's is parallel to it
_ON_EDGE = 1e-9  # a line on a strip's edge is inside it (relative to the edge's size)
_ON_THE_LIMIT = 1e-6  # an offset this close to the box's limit (relative) sits on it


def one_neuron(addresses: Sequence[ParameterAddress]) -> bool:
    """Whether every parameter feeds the same neuron (its weights and bias)."""
    return len({(a.layer, a.neuron) for a in addresses}) == 1


@dataclass(frozen=True)
class _Strips:
    """Strips ``lo <= normal . d <= hi``; ``group``: which hard constraint each belongs to."""

    normal: np.ndarray  # (S, 2)
    lo: np.ndarray
    hi: np.ndarray
    group: np.ndarray


class NeuronPairSynthesis:
    """The exact optimum for two parameters of one neuron; see the module docstring."""

    def __init__(
        self,
        network: Network,
        addresses: tuple[ParameterAddress, ParameterAddress],
        limits: np.ndarray,
        points: np.ndarray,
        labels: np.ndarray,
        soft_margin: float,
        decision: Decision = DEFAULT_DECISION,
    ) -> None:
        assert one_neuron(addresses)
        self.network = network
        self.addresses = addresses
        self.limits = np.asarray(limits, dtype=np.float64)
        self.bias = ParameterAddress(addresses[0].layer, addresses[0].neuron, None)
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        self.always, self.soft = self._soft_strips(
            points, np.asarray(labels), soft_margin, decision
        )

    def _factors(self, X: np.ndarray) -> np.ndarray:
        """What each offset multiplies at each row of ``X``: (m, 2)."""
        layer = self.addresses[0].layer
        reads = X if layer == 0 else np.maximum(self.network.activations(X)[layer - 1], 0.0)
        ones = np.ones(X.shape[0])
        return np.column_stack(
            [ones if a.source is None else reads[:, a.source] for a in self.addresses]
        )

    def _reach(self, factors: np.ndarray) -> np.ndarray:
        """How far the neuron can shift at each point within the limits."""
        return np.abs(factors) @ self.limits

    def _soft_strips(
        self, X: np.ndarray, labels: np.ndarray, margin: float, decision: Decision
    ) -> tuple[int, _Strips]:
        """The soft points kept whatever the offsets (counted), and the strips of the others
        (components no offset can reach are left out)."""
        factors = self._factors(X)
        reach = self._reach(factors)
        limit = max(float(reach.max(initial=0.0)), 1e-12)
        lo, hi, row = kept_components(self.network, self.bias, limit, X, labels, margin, decision)
        covers = (lo <= -reach[row]) & (hi >= reach[row])
        always = int(np.unique(row[covers]).size)
        useful = ~covers & (hi >= -reach[row]) & (lo <= reach[row])
        useful &= ~np.isin(row, row[covers])
        keep = np.flatnonzero(useful)
        strips = _Strips(factors[row[keep]], lo[keep], hi[keep], row[keep])
        return always, strips

    def _hard_strips(
        self, counterexamples: Sequence[tuple[Property, np.ndarray]], margin: float
    ) -> tuple[_Strips, int]:
        """The strips of every (counterexample, conjunction) pair, and how many pairs."""
        count = sum(len(prop.unsafe_outputs) for prop, _ in counterexamples)
        if not counterexamples:
            return _Strips(np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros(0, int)), 0
        X = np.array([point for _, point in counterexamples], dtype=np.float64)
        factors = self._factors(X)
        limit = max(float(self._reach(factors).max()), 1e-12)
        lo, hi, group = safe_components(self.network, self.bias, limit, counterexamples, margin)
        point = np.repeat(
            np.arange(X.shape[0]), [len(p.unsafe_outputs) for p, _ in counterexamples]
        )
        return _Strips(factors[point[group]], lo, hi, group), count

    def solve(
        self, counterexamples: Sequence[tuple[Property, np.ndarray]], margin: float
    ) -> tuple[np.ndarray | None, int]:
        """The optimal offsets (None: none within the limits keeps every counterexample
        safe) and the soft points they keep."""
        hard, groups = self._hard_strips(counterexamples, margin)
        if np.unique(hard.group).size < groups:
            return None, 0  # some counterexample can be safe nowhere within the limits
        lines = _candidate_lines(self.soft, hard, self.limits)
        best: tuple[int, float, np.ndarray] | None = None
        normals, offsets = lines
        for start in range(0, offsets.size, _LINES_PER_CHUNK):
            chunk = slice(start, start + _LINES_PER_CHUNK)
            found = _best_on_lines(
                (normals[chunk], offsets[chunk]), self.soft, hard, groups, self.limits
            )
            if found is not None and (best is None or found[:2] > best[:2]):
                best = found
        if best is None:
            return None, 0
        return best[2], best[0] + self.always


def _candidate_lines(
    soft: _Strips, hard: _Strips, limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lines ``normal . d = offset``: every finite strip edge, the box's edges, the axes."""
    normals = [soft.normal, soft.normal, hard.normal, hard.normal]
    offsets = [soft.lo, soft.hi, hard.lo, hard.hi]
    axes = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    normals.append(axes)
    offsets.append(np.array([-limits[0], 0.0, limits[0], -limits[1], 0.0, limits[1]]))
    normal, offset = np.vstack(normals), np.concatenate(offsets)
    usable = np.isfinite(offset) & (np.abs(normal).sum(axis=1) > 0)
    return normal[usable], offset[usable]


def _best_on_lines(
    lines: tuple[np.ndarray, np.ndarray],
    soft: _Strips,
    hard: _Strips,
    groups: int,
    limits: np.ndarray,
) -> tuple[int, float, np.ndarray] | None:
    """The best point on any of ``lines``: (soft strips kept, minus the change, offsets)."""
    normal, offset = lines
    direction = np.column_stack([-normal[:, 1], normal[:, 0]]) / np.linalg.norm(
        normal, axis=1, keepdims=True
    )
    base = normal * (offset / np.sum(normal**2, axis=1))[:, None]  # the line's nearest point
    low, high = _box_range(base, direction, limits)
    strips = _Strips(
        np.vstack([soft.normal, hard.normal]),
        np.concatenate([soft.lo, hard.lo]),
        np.concatenate([soft.hi, hard.hi]),
        np.concatenate([np.full(soft.lo.size, -1), hard.group]),
    )
    t_lo, t_hi = _intervals(base, direction, strips)
    t_lo, t_hi = np.maximum(t_lo, low[:, None]), np.minimum(t_hi, high[:, None])
    heavy = soft.lo.size + 1  # one hard constraint outweighs every soft strip
    weight = np.where(strips.group < 0, 1, heavy)
    # the box is one more hard constraint: every point considered is inside it
    coord = np.concatenate([t_lo, low[:, None], t_hi, high[:, None]], axis=1)
    size = weight.size + 1
    steps = np.concatenate([weight, [heavy], -weight, [-heavy]])
    steps = np.where(np.concatenate([t_lo <= t_hi, (low <= high)[:, None]] * 2, axis=1), steps, 0)
    kind = np.concatenate([np.zeros(size), np.ones(size)])  # closed: starts before ends
    order = np.lexsort((np.broadcast_to(kind, coord.shape), coord))
    coord = np.take_along_axis(coord, order, axis=1)
    value = np.cumsum(np.take_along_axis(steps, order, axis=1), axis=1)
    need = heavy * (groups + 1)
    reached = value.max(axis=1)
    if reached.max() < need:
        return None
    kept = int(reached.max() - need)
    return kept, *_least_change(coord, value, reached.max(), base, direction, limits)


def _box_range(
    base: np.ndarray, direction: np.ndarray, limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The range of ``t`` along each line for which ``base + t direction`` is in the box."""
    low = np.full(base.shape[0], -np.inf)
    high = np.full(base.shape[0], np.inf)
    for k in range(2):
        moving = np.abs(direction[:, k]) > _PARALLEL
        with np.errstate(divide="ignore", invalid="ignore"):
            ends = np.sort(
                np.column_stack([(-limits[k] - base[:, k]), (limits[k] - base[:, k])])
                / direction[:, k : k + 1],
                axis=1,
            )
        inside = np.abs(base[:, k]) <= limits[k] * (1 + _ON_EDGE)
        low = np.where(moving, np.maximum(low, ends[:, 0]), np.where(inside, low, np.inf))
        high = np.where(moving, np.minimum(high, ends[:, 1]), np.where(inside, high, -np.inf))
    return low, high


def _intervals(
    base: np.ndarray, direction: np.ndarray, strips: _Strips
) -> tuple[np.ndarray, np.ndarray]:
    """Where along each line each strip holds: ``(lines, strips)`` closed intervals of ``t``
    (empty: ``lo > hi``)."""
    start = base @ strips.normal.T  # the strip's coordinate at t = 0
    speed = direction @ strips.normal.T
    scale = np.linalg.norm(strips.normal, axis=1)[None, :]
    parallel = np.abs(speed) <= _PARALLEL * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        first = (strips.lo[None, :] - start) / speed
        second = (strips.hi[None, :] - start) / speed
    t_lo, t_hi = np.minimum(first, second), np.maximum(first, second)
    slack = _ON_EDGE * (1 + np.maximum(np.abs(strips.lo), np.abs(strips.hi)))[None, :]
    inside = (start >= strips.lo[None, :] - slack) & (start <= strips.hi[None, :] + slack)
    t_lo = np.where(parallel, np.where(inside, -np.inf, np.inf), t_lo)
    t_hi = np.where(parallel, np.where(inside, np.inf, -np.inf), t_hi)
    return t_lo, t_hi


def _least_change(
    coord: np.ndarray,
    value: np.ndarray,
    best: int,
    base: np.ndarray,
    direction: np.ndarray,
    limits: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Among the optimal runs ``[coord_k, coord_k+1]`` of every line, the point of least
    change (minus it, and the point): the change is convex along a run, so the best is an end
    of the run or where the line crosses an axis inside it."""
    line, position = np.nonzero(value == best)
    u = coord[line, position]
    v = coord[line, np.minimum(position + 1, coord.shape[1] - 1)]
    v = np.maximum(u, v)
    with np.errstate(divide="ignore", invalid="ignore"):
        kinks = -base[line] / direction[line]
    candidates = np.column_stack([u, v, np.clip(kinks[:, 0], u, v), np.clip(kinks[:, 1], u, v)])
    candidates = np.where(np.isfinite(candidates), candidates, u[:, None])
    points = base[line, None, :] + candidates[:, :, None] * direction[line, None, :]
    change = np.sum(np.abs(points) / limits, axis=2)
    flat = int(np.argmin(change))
    row, column = divmod(flat, change.shape[1])
    return -float(change[row, column]), points[row, column]


class NeuronPairSynthesiser:
    """The loop's synthesis for two free parameters of one neuron and soft points: each round,
    the proved optimum of :class:`NeuronPairSynthesis`, without a solver.

    The box starts at ``--max-change`` and doubles (up to ``max_growth`` times) while no offsets
    in it fix the counterexamples or the optimum sits on one of its limits, as the MILP's does
    (the box is where the search starts, not a bound on the repair)."""

    def __init__(self, problem: SynthesisProblem) -> None:
        self.problem = problem
        self.growth = 1.0
        self.plane = self._plane()

    @property
    def max_change(self) -> float:
        return self.problem.settings.max_change * self.growth

    def _plane(self) -> NeuronPairSynthesis:
        free, soft, settings = self.problem.free, self.problem.soft, self.problem.settings
        return NeuronPairSynthesis(
            self.problem.network,
            (free.addresses[0], free.addresses[1]),
            self.problem.limits * self.growth,
            soft.points,
            soft.labels,
            settings.soft_synthesis_margin,
            settings.decision,
        )

    def _grow(self, factor: float) -> bool:
        if factor > 1 and self.growth * factor > self.problem.settings.max_growth:
            return False
        self.growth *= factor
        self.plane = self._plane()
        return True

    def propose(self, state: Rounds) -> Proposal:
        counterexamples = self.problem.counterexample_points(state)
        margin = self.problem.margin.value
        found: Proposal | None = None
        while True:
            offsets, _ = self.plane.solve(counterexamples, margin)
            if offsets is not None:
                found = Proposal("found", offsets, proved_optimal=True)
                on_limit = np.abs(offsets) >= self.plane.limits * (1 - _ON_THE_LIMIT)
                if not np.any(on_limit) or not self._grow(2.0):
                    return found
            elif found is None and self._grow(2.0):
                continue
            else:
                if found is not None:
                    self._grow(0.5)
                return found or Proposal("infeasible")
