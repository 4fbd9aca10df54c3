"""Synthesis by a solver plugin: a MILP when the free parameters do not multiply each other,
else QF_NRA for SMT solvers (z3, cvc5).

Each round's Query asks for offsets that keep every counterexample out of every unsafe set
with ``synthesis_margin`` to spare, with a binary per soft constraint that may change
(binary = 1 forces it, with ``soft_synthesis_margin`` to spare). On a linear problem a solver
that optimises minimises the run's objectives in order (:mod:`.goals`; the default ``keep``:
the most binaries kept, then the smallest change); otherwise the binaries are the Query's soft
constraints, with the run's threshold if there is one.

The offsets' box (their big-M bounds) starts at ``--max-change`` and doubles, up to
``max_growth`` times, while the counterexamples are infeasible inside it or the optimum sits on
one of its limits, where a larger box may do better: the box is a starting point for the
encoding, not a bound on the repair.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from nnv.core.model.property import Property
from nnv.core.plugin.objective import Goal, MostKept, Objective, ObjectiveContext, OutputChanges
from nnv.core.plugin.solver import Solution, Solver
from nnv.core.query.builder import QueryBuilder
from nnv.core.query.capabilities import Capability
from nnv.core.query.form import Query
from nnv.core.repair.points import PointEncoder, PointOutputs, margin_rows, output_rows, triage
from nnv.core.repair.settings import remaining
from nnv.core.repair.synthesis.base import Proposal, Rounds, SynthesisProblem
from nnv.core.repair.synthesis.goals import solve_goals

# an offset this close to its limit (relative) sits on it: the box grows and synthesis reruns
_ON_THE_LIMIT = 1e-6


class SolverSynthesiser:
    """Synthesis by ``solver`` under ``objectives``; each call gets ``share`` of the trial's
    remaining time.

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
        objectives: Sequence[Objective] = (),
    ) -> None:
        self.problem = problem
        self.solver = solver
        self.bilinear = bilinear
        self.deadline = deadline
        self.share = share
        self.objectives = list(objectives) or [MostKept()]
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

    @property
    def optimises(self) -> bool:
        """Whether the objectives are minimised (else the binaries are soft constraints)."""
        return Capability.OPTIMIZE in self.solver.capabilities and not self.bilinear

    def propose(
        self, state: Rounds, start: np.ndarray | None = None, budget: float | None = None
    ) -> Proposal:
        """This round's proposal, the box grown while it is infeasible or its optimum sits on a
        limit; a larger box that fails (out of time) gives back the smaller box's answer.
        ``start``: offsets the solver starts from (completed into a whole point of the Query
        first: an incumbent); ``budget``: the seconds it may take, every box together
        (default: ``share`` of the trial's remaining time, per solve)."""
        limit = self._budget
        if budget is not None:  # counted from now: building the Query is part of it
            end = time.monotonic() + budget
            limit = lambda: max(end - time.monotonic(), 1e-3)  # noqa: E731
        found: Proposal | None = None
        while True:
            proposal = self._solve(state, start, limit)
            if proposal.status == "found":
                found = proposal
                if not self._on_a_limit(proposal) or not self._grow():
                    return proposal
                start = proposal.offsets
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

    def _solve(
        self, state: Rounds, start: np.ndarray | None, limit: Callable[[], float | None]
    ) -> Proposal:
        """One solve (each objective in turn) in the current box."""
        builder, delta, region_vars, goals = self._build(state)
        if self.optimises:
            point = None
            if start is not None:
                point = self._completed(builder, goals[0], delta, start, limit())
            solved = solve_goals(builder, goals, self.solver, limit, start=point)
            solution, optimal = solved.solution, solved.proved_optimal
        else:
            solution = self.solver.solve(self._soft_query(builder), limit())
            optimal = solution.status == "optimal"
        return self._proposal(solution, delta, region_vars, optimal)

    def _completed(
        self,
        builder: QueryBuilder,
        goal: Goal,
        delta: np.ndarray,
        offsets: np.ndarray,
        budget: float | None,
    ) -> np.ndarray | None:
        """Every variable's value with the offsets fixed at ``offsets`` (the rest follows:
        activations, binaries), by one easy solve; None if that point breaks the Query."""
        query = builder.build(objective=goal.dense(builder.n_vars), absolute_gap=goal.gap)
        lb, ub = query.lb.copy(), query.ub.copy()
        lb[delta] = ub[delta] = np.clip(offsets, lb[delta], ub[delta])
        solution = self.solver.solve(replace(query, lb=lb, ub=ub), budget)
        return solution.values if solution.found else None

    def query(self, state: Rounds) -> tuple[Query, np.ndarray, list[int]]:
        """This round's Query (the first objective's, where they are minimised), its offset
        variables and the binary of each soft region."""
        builder, delta, region_vars, goals = self._build(state)
        if not self.optimises:
            return self._soft_query(builder), delta, region_vars
        goal = goals[0]
        objective = goal.dense(builder.n_vars)
        return builder.build(objective=objective, absolute_gap=goal.gap), delta, region_vars

    def _budget(self) -> float | None:
        left = remaining(self.deadline)
        return None if left is None else left * self.share

    def _proposal(
        self, solution: Solution, delta: np.ndarray, region_vars: list[int], optimal: bool
    ) -> Proposal:
        if solution.status == "infeasible":
            return Proposal("infeasible")
        if solution.status == "timeout":
            return Proposal("timeout")
        if not solution.found or solution.values is None:
            return Proposal("error", message=solution.message or solution.status)
        chosen = [r for r, v in enumerate(region_vars) if v < 0 or solution.values[v] > 0.5]
        return Proposal("found", solution.values[delta], chosen, proved_optimal=optimal)

    def _build(self, state: Rounds) -> tuple[QueryBuilder, np.ndarray, list[int], list[Goal]]:
        """The round's constraints, and the objectives' goals where they are minimised."""
        builder = QueryBuilder()
        encoder = self.encoder
        delta = encoder.add_offsets(builder)
        needs = {need for objective in self.objectives for need in objective.needs}
        outputs = self._all_soft_outputs(builder, delta) if "outputs" in needs else None
        binaries = [self._add_soft_points(builder, delta, outputs)]
        region_vars = self._add_soft_regions(builder, delta, state)
        binaries.append(np.array([v for v in region_vars if v >= 0], dtype=np.int64))
        for prop, points in zip(self.problem.properties, state.counterexamples, strict=True):
            for point in points:
                self._add_safe_point(builder, delta, prop, point)
        self._binaries = np.concatenate(binaries)
        if not self.optimises:
            return builder, delta, region_vars, []
        wanted = self.problem.settings.threshold
        threshold = None if wanted is None else wanted - self.always
        if threshold is not None and threshold > 0:
            builder.add_rows(np.ones((1, self._binaries.size)), self._binaries, threshold, np.inf)
        changes = None if outputs is None else _output_changes(outputs, builder.n_vars)
        context = ObjectiveContext(builder, delta, encoder.limits, self._binaries, changes)
        return builder, delta, region_vars, [o.goal(context) for o in self.objectives]

    def _soft_query(self, builder: QueryBuilder) -> Query:
        """The binaries as soft constraints (solvers that do not optimise, nonlinear ones)."""
        wanted = self.problem.settings.threshold
        threshold = None if wanted is None else wanted - self.always
        return builder.build(soft=self._binaries, soft_threshold=threshold)

    def _triage_points(self) -> tuple[int, np.ndarray]:
        """Soft points that are kept whatever the offsets (counted), and those that may change."""
        soft, settings = self.problem.soft, self.problem.settings
        margin = settings.soft_synthesis_margin
        return triage(self.encoder, soft.points, soft.labels, margin, settings.decision)

    def _all_soft_outputs(self, builder: QueryBuilder, delta: np.ndarray) -> PointOutputs:
        """The outputs at every soft point, for an objective on the output change."""
        return self.encoder.add_points(builder, delta, self.problem.soft.points)

    def _add_soft_points(
        self, builder: QueryBuilder, delta: np.ndarray, encoded: PointOutputs | None
    ) -> np.ndarray:
        """A binary per soft point that may change; binary = 1 forces its label. ``encoded``:
        the outputs at every soft point, when already in the Query."""
        which = self.uncertain
        needed = any("kept" in o.needs for o in self.objectives) or not self.optimises
        if not which.size or not (needed or self.problem.settings.threshold is not None):
            return np.zeros(0, dtype=np.int64)
        soft = self.problem.soft
        if encoded is None:
            outputs = self.encoder.add_points(builder, delta, soft.points[which])
        else:
            parts = (encoded.var, encoded.const, encoded.lower, encoded.upper)
            outputs = PointOutputs(*(part[which] for part in parts))
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
                self.problem.margin.value - constant,
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
        margin = self.problem.margin.value
        for conjunction in prop.unsafe_outputs:
            rows, constant, _, _ = output_rows(outputs, 0, conjunction.C, builder.n_vars)
            needed = conjunction.d + margin - constant
            if rows.shape[0] == 1:
                builder.add_rows(rows, None, needed, np.inf)
                continue
            choose = builder.add_binaries(rows.shape[0])
            builder.add_rows(np.ones((1, choose.size)), choose, 1.0, np.inf)
            builder.add_indicators(choose, rows, None, needed, np.inf)


def _output_changes(outputs: PointOutputs, n_vars: int) -> OutputChanges:
    """Each output a free parameter reaches, at every soft point, less its original value."""
    point, output = np.nonzero(outputs.var >= 0)
    variables = outputs.var[point, output]
    rows = sp.csr_matrix(
        (np.ones(variables.size), (np.arange(variables.size), variables)),
        shape=(variables.size, n_vars),
    )
    return OutputChanges(rows, -outputs.const[point, output])
