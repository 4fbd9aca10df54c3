"""Synthesis by a solver plugin: a MILP when the free parameters do not multiply each other,
else QF_NRA for SMT solvers (z3, cvc5).

Each round's Query asks for offsets that keep every counterexample out of every unsafe set
with ``synthesis_margin`` to spare, with a binary per soft constraint that may change
(binary = 1 forces it, with ``soft_synthesis_margin`` to spare). On a linear problem a solver
that optimises maximises the binaries kept, then minimises the change; otherwise the binaries
are the Query's soft constraints, with the run's threshold if there is one.

The offsets' box (their big-M bounds) starts at ``--max-change`` and doubles, up to
``max_growth`` times, while the counterexamples are infeasible inside it or the optimum sits on
one of its limits, where a larger box may keep more: the box is a starting point for the
encoding, not a bound on the repair.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nnv.core.model.property import Property
from nnv.core.plugin.solver import Solver
from nnv.core.query.builder import QueryBuilder
from nnv.core.query.capabilities import Capability
from nnv.core.query.form import Query
from nnv.core.repair.points import PointEncoder, margin_rows, output_rows
from nnv.core.repair.settings import remaining
from nnv.core.repair.synthesis.base import Proposal, Rounds, SynthesisProblem

# an offset this close to its limit (relative) sits on it: the box grows and synthesis reruns
_ON_THE_LIMIT = 1e-6


class SolverSynthesiser:
    """Synthesis by ``solver``; each call gets ``share`` of the trial's remaining time.

    Soft points whose label no offset within the limits can change are counted once
    (``always``) and left out of the Query; those no offset can keep are left out too (both
    worked out again whenever the box grows).
    """

    def __init__(
        self,
        problem: SynthesisProblem,
        solver: Solver,
        bilinear: bool,
        deadline: float | None = None,
        share: float = 1.0,
    ) -> None:
        self.problem = problem
        self.solver = solver
        self.bilinear = bilinear
        self.deadline = deadline
        self.share = share
        self.growth = 1.0  # the box: problem.limits times this
        self._encode()

    @property
    def max_change(self) -> float:
        return self.problem.settings.max_change * self.growth

    def _encode(self) -> None:
        self.encoder = PointEncoder(
            self.problem.network, self.problem.free, self.problem.limits * self.growth
        )
        self.always, self.uncertain = self._triage_points()

    def _grow(self, factor: float = 2.0) -> bool:
        """Double the box (or undo that with ``factor`` 0.5); False at the cap."""
        if factor > 1 and self.growth * factor > self.problem.settings.max_growth:
            return False
        self.growth *= factor
        self._encode()
        return True

    def propose(self, state: Rounds) -> Proposal:
        """This round's answer, the box grown while it is infeasible or its optimum sits on a
        limit. A larger box that fails (out of time) gives back the smaller box's answer."""
        found: Proposal | None = None
        while True:
            proposal = self._solve(state)
            if proposal.status == "found":
                found = proposal
                if not self._on_a_limit(proposal) or not self._grow():
                    return proposal
            elif proposal.status == "infeasible" and found is None and self._grow():
                continue
            else:
                if found is not None:
                    self._grow(0.5)
                return found or proposal

    def _on_a_limit(self, proposal: Proposal) -> bool:
        assert proposal.offsets is not None
        limits = self.encoder.limits
        return bool(np.any(np.abs(proposal.offsets) >= limits * (1 - _ON_THE_LIMIT)))

    def _solve(self, state: Rounds) -> Proposal:
        """One solver call in the current box."""
        query, delta, region_vars = self.query(state)
        left = remaining(self.deadline)
        budget = None if left is None else left * self.share
        solution = self.solver.solve(query, budget)
        if solution.status == "infeasible":
            return Proposal("infeasible")
        if solution.status == "timeout":
            return Proposal("timeout")
        if not solution.found or solution.values is None:
            return Proposal("error", message=solution.message or solution.status)
        chosen = [r for r, v in enumerate(region_vars) if v < 0 or solution.values[v] > 0.5]
        return Proposal(
            "found", solution.values[delta], chosen, proved_optimal=solution.status == "optimal"
        )

    def query(self, state: Rounds) -> tuple[Query, np.ndarray, list[int]]:
        """This round's Query, its offset variables and the binary of each soft region."""
        builder = QueryBuilder()
        encoder = self.encoder
        delta = encoder.add_offsets(builder)
        soft_vars = [self._add_soft_points(builder, delta)]
        region_vars = self._add_soft_regions(builder, delta, state)
        soft_vars.append(np.array([v for v in region_vars if v >= 0], dtype=np.int64))
        for prop, points in zip(self.problem.properties, state.counterexamples, strict=True):
            for point in points:
                self._add_safe_point(builder, delta, prop, point)
        binaries = np.concatenate(soft_vars)
        wanted = self.problem.settings.threshold
        threshold = None if wanted is None else wanted - self.always
        use_objective = Capability.OPTIMIZE in self.solver.capabilities and not self.bilinear
        if use_objective:
            query = _with_objective(builder, delta, encoder.limits, binaries, threshold)
            return query, delta, region_vars
        query = builder.build(soft=binaries, soft_threshold=threshold)
        return query, delta, region_vars

    def _triage_points(self) -> tuple[int, np.ndarray]:
        """Soft points that are kept whatever the offsets (counted), and those that may change."""
        points, labels = self.problem.soft.points, self.problem.soft.labels
        if not points.shape[0]:
            return 0, np.zeros(0, dtype=np.int64)
        low, high = self.encoder.output_bounds(points)
        if self.problem.settings.decision == "argmin":  # the scores -y: bounds swap
            low, high = -high, -low
        m, n_out = low.shape
        others = np.ones((m, n_out), dtype=bool)
        others[np.arange(m), labels] = False
        label_low = low[np.arange(m), labels][:, None]
        label_high = high[np.arange(m), labels][:, None]
        worst = np.min(np.where(others, label_low - high, np.inf), axis=1)
        best = np.min(np.where(others, label_high - low, np.inf), axis=1)
        margin = self.problem.settings.soft_synthesis_margin
        always = worst >= margin
        possible = best >= margin
        return int(always.sum()), np.flatnonzero(possible & ~always)

    def _add_soft_points(self, builder: QueryBuilder, delta: np.ndarray) -> np.ndarray:
        """A binary per soft point that may change; binary = 1 forces its label."""
        which = self.uncertain
        if not which.size:
            return np.zeros(0, dtype=np.int64)
        soft = self.problem.soft
        outputs = self.encoder.add_points(builder, delta, soft.points[which])
        keep = builder.add_binaries(which.size)
        rows, constant, _, point = margin_rows(
            outputs, soft.labels[which], builder.n_vars, self.problem.settings.decision
        )
        margin = self.problem.settings.soft_synthesis_margin
        builder.add_indicators(keep[point], rows, None, margin - constant, np.inf)
        return keep

    def _add_soft_regions(
        self, builder: QueryBuilder, delta: np.ndarray, state: Rounds
    ) -> list[int]:
        """A binary per soft region; its counterexamples must be labelled right when it is 1."""
        variables = []
        for region, points in enumerate(state.region_points):
            keep = int(builder.add_binaries(1)[0])
            variables.append(keep)
            if not points:
                continue
            label = int(self.problem.soft.region_labels[region])
            outputs = self.encoder.add_points(builder, delta, np.array(points))
            rows, constant, _, _ = margin_rows(
                outputs, np.full(len(points), label), builder.n_vars, self.problem.settings.decision
            )
            builder.add_indicators(
                np.full(rows.shape[0], keep),
                rows,
                None,
                self.problem.settings.synthesis_margin - constant,
                np.inf,
            )
        return variables

    def _add_safe_point(
        self, builder: QueryBuilder, delta: np.ndarray, prop: Property, point: np.ndarray
    ) -> None:
        """Keep ``point`` out of every unsafe conjunction, with the synthesis margin to spare.

        Outside ``C y <= d`` means some row has ``C_r y >= d_r + margin``: one row directly,
        several through a binary per row (at least one of them chosen).
        """
        outputs = self.encoder.add_points(builder, delta, point[None, :])
        margin = self.problem.settings.synthesis_margin
        for conjunction in prop.unsafe_outputs:
            rows, constant, _, _ = output_rows(outputs, 0, conjunction.C, builder.n_vars)
            needed = conjunction.d + margin - constant
            if rows.shape[0] == 1:
                builder.add_rows(rows, None, needed, np.inf)
                continue
            choose = builder.add_binaries(rows.shape[0])
            builder.add_rows(np.ones((1, choose.size)), choose, 1.0, np.inf)
            builder.add_indicators(choose, rows, None, needed, np.inf)


def _with_objective(
    builder: QueryBuilder,
    delta: np.ndarray,
    limits: np.ndarray,
    binaries: np.ndarray,
    threshold: int | None,
) -> Query:
    """Maximise the soft constraints kept; among equal counts, the smallest total change
    (each change relative to its limit)."""
    size = builder.add_vars(delta.size, 0.0, limits)
    pairs = sp.hstack([sp.identity(delta.size), -sp.identity(delta.size)])
    builder.add_rows(pairs, np.concatenate([size, delta]), 0.0, np.inf)  # size >= delta
    builder.add_rows(
        sp.hstack([sp.identity(delta.size), sp.identity(delta.size)]),
        np.concatenate([size, delta]),
        0.0,
        np.inf,
    )  # size >= -delta
    if threshold is not None and threshold > 0:
        builder.add_rows(np.ones((1, binaries.size)), binaries, threshold, np.inf)
    objective = np.zeros(builder.n_vars)
    objective[binaries] = 1.0
    # a tie-break worth less than one soft constraint in total
    objective[size] = -0.5 / (delta.size * limits)
    # any answer within half a constraint of the optimum still keeps the maximum count
    return builder.build(objective=objective, maximize=True, absolute_gap=0.5)
