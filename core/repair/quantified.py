"""The repair paper's own formulation, for solvers with quantifiers (z3, cvc5).

``exists delta . forall x in region . f_{p + delta}(x) is safe``, with the ReLUs as
if-then-else and every free weight multiplying a quantified activation (nonlinear real
arithmetic), plus the soft constraints as ground constraints with ``AtLeast(threshold)``.
Soft regions (grid, voronoi) become guarded quantified blocks: when a region's binary is 1,
every x in it must get its label.

One trial (:func:`quantified_trial`) is one solver call per threshold; its answer is certified
like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from nnv.core.model.decision import DEFAULT_DECISION, Decision
from nnv.core.model.network import Network
from nnv.core.model.property import InputPiece, OutputConjunction, Property
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.solver import Solution, Solver
from nnv.core.query.builder import QueryBuilder
from nnv.core.query.form import Query, Universal
from nnv.core.repair.free import FreeParameters
from nnv.core.repair.outcome import Outcomes
from nnv.core.repair.points import PointEncoder, margin_rows
from nnv.core.repair.settings import remaining
from nnv.core.repair.synthesis.base import SynthesisProblem
from nnv.core.repair.trial import TrialResult


class _Block:
    """Variables allocated in lockstep: free in the outer Query, bounded in the premise."""

    def __init__(self, outer: QueryBuilder) -> None:
        self.outer = outer
        self.premise = QueryBuilder()
        self.premise.add_vars(outer.n_vars)  # the outer variables so far, unbounded here
        self.variables: list[np.ndarray] = []

    def add_vars(
        self, count: int, lb: float | np.ndarray = -np.inf, ub: float | np.ndarray = np.inf
    ) -> np.ndarray:
        index = self.outer.add_vars(count)
        self.premise.add_vars(count, lb, ub)
        self.variables.append(index)
        return index


def _add_universal_network(
    block: _Block, network: Network, free: FreeParameters, delta: np.ndarray, piece: InputPiece
) -> np.ndarray:
    """The network over a quantified input of ``piece``; returns the output variables."""
    x = block.add_vars(network.n_inputs, piece.lower, piece.upper)
    if piece.A is not None and piece.b is not None:
        block.premise.add_rows(piece.A, x, -np.inf, piece.b)
    previous = x
    last = len(network.layers) - 1
    for index, layer in enumerate(network.layers):
        z = block.add_vars(layer.n_out)
        columns = [z, previous]
        coefficients = [sp.identity(layer.n_out), -sp.csr_matrix(layer.weight)]
        for j in free.in_layer(index):
            address = free.addresses[j]
            if address.source is None:
                term = delta[j : j + 1]
            else:  # delta * a: a product of an existential and a quantified variable
                term = block.add_vars(1)
                block.premise.add_bilinear(
                    term, delta[j : j + 1], previous[address.source : address.source + 1]
                )
            row = sp.csr_matrix(([-1.0], ([address.neuron], [0])), shape=(layer.n_out, 1))
            columns.append(term)
            coefficients.append(row)
        block.premise.add_rows(
            sp.hstack(coefficients), np.concatenate(columns), layer.bias, layer.bias
        )
        if index < last:
            a = block.add_vars(layer.n_out)
            block.premise.add_relu(a, z)
            previous = a
        else:
            previous = z
    return previous


def _universal(
    outer: QueryBuilder,
    network: Network,
    free: FreeParameters,
    delta: np.ndarray,
    piece: InputPiece,
    unsafe: tuple[OutputConjunction, ...],
    guard: int | None = None,
) -> Universal:
    block = _Block(outer)
    outputs = _add_universal_network(block, network, free, delta, piece)
    n = outer.n_vars
    forbidden = tuple(
        (
            sp.csr_matrix(
                (
                    c.C.ravel(),
                    (
                        np.repeat(np.arange(c.C.shape[0]), c.C.shape[1]),
                        np.tile(outputs, c.C.shape[0]),
                    ),
                ),
                shape=(c.C.shape[0], n),
            ),
            c.d,
        )
        for c in unsafe
    )
    return Universal(np.concatenate(block.variables), block.premise.build(), forbidden, guard)


def quantified_query(
    network: Network,
    free: FreeParameters,
    properties: Sequence[Property],
    soft: SoftConstraints,
    limits: np.ndarray,
    threshold: int,
    soft_margin: float,
    decision: Decision = DEFAULT_DECISION,
) -> tuple[Query, np.ndarray, np.ndarray]:
    """The paper's formula as a Query; returns it, the offset variables and the region guards."""
    builder = QueryBuilder()
    encoder = PointEncoder(network, free, limits)
    delta = encoder.add_offsets(builder)
    blocks = [
        _universal(builder, network, free, delta, piece, prop.unsafe_outputs)
        for prop in properties
        for piece in prop.pieces
    ]
    binaries = [np.zeros(0, dtype=np.int64)]
    guards = []
    if soft.points.shape[0]:
        outputs = encoder.add_points(builder, delta, soft.points)
        keep = builder.add_binaries(soft.points.shape[0])
        rows, constant, _, point = margin_rows(outputs, soft.labels, builder.n_vars, decision)
        builder.add_indicators(keep[point], rows, None, soft_margin - constant, np.inf)
        binaries.append(keep)
    for region, piece in enumerate(soft.regions):
        guard = builder.add_binaries(1)
        label = int(soft.region_labels[region])
        region_property = Property.classification(
            piece, label, network.n_outputs, decision=decision
        )
        blocks.append(
            _universal(
                builder, network, free, delta, piece, region_property.unsafe_outputs, int(guard[0])
            )
        )
        binaries.append(guard)
        guards.append(int(guard[0]))
    query = builder.build(
        soft=np.concatenate(binaries), soft_threshold=threshold, universal=tuple(blocks)
    )
    return query, delta, np.array(guards, dtype=np.int64)


@dataclass
class _Answer:
    """The last satisfiable answer of a trial: the repaired network, the new values of the
    free parameters and the soft regions it keeps."""

    candidate: Network
    values: np.ndarray
    regions: list[int]


def quantified_trial(
    problem: SynthesisProblem, solver: Solver, outcomes: Outcomes, deadline: float | None
) -> TrialResult:
    """The paper's formula, one solver call per threshold; the answer is certified like any
    other.

    With ``threshold_search`` (the paper's skip mechanism) a satisfiable answer that keeps
    k soft constraints is followed by a call with threshold k + 1, until the formula is
    unsatisfiable or time runs out; the last satisfiable answer is the trial's.
    """
    names = problem.free.names
    found, solution, calls = _search_thresholds(problem, solver, outcomes, deadline)
    if found is None:
        if solution.status == "infeasible":
            message = "the quantified formula is unsatisfiable"
            return outcomes.stopped(names, "not_repaired", calls, message)
        if solution.status == "timeout":
            return outcomes.stopped(names, "timeout", calls, "the solver timed out")
        return outcomes.stopped(names, "error", calls, solution.message or solution.status)
    result = outcomes.finish(
        names, found.candidate, found.values, found.regions, calls, remaining(deadline)
    )
    if problem.settings.threshold_search and result.repaired:
        last = {"infeasible": "unsatisfiable", "timeout": "out of time"}
        ending = last.get(solution.status, "every soft constraint kept")
        result.message = f"threshold search: {calls} calls, ended {ending}"
    return result


def _search_thresholds(
    problem: SynthesisProblem, solver: Solver, outcomes: Outcomes, deadline: float | None
) -> tuple[_Answer | None, Solution, int]:
    """Solve the formula at the run's threshold, then (threshold search) at one more than the
    count kept, while satisfiable; returns the last satisfiable answer, the last solution
    and the number of calls."""
    settings, free, soft = problem.settings, problem.free, problem.soft
    threshold = settings.threshold or 0
    formula, delta, guards = quantified_query(
        problem.network,
        free,
        problem.properties,
        soft,
        problem.limits,
        threshold,
        settings.soft_synthesis_margin,
        settings.decision,
    )
    found: _Answer | None = None
    calls = 0
    while True:
        calls += 1
        query = replace(formula, soft_threshold=threshold)  # one formula, many thresholds
        budget = remaining(deadline)
        if found is not None and budget is not None:
            budget *= 0.8  # the rest certifies the answer already found
        solution = solver.solve(query, budget)
        if not solution.found or solution.values is None:
            break
        values = free.original + solution.values[delta]
        candidate = problem.network.with_parameters(dict(zip(free.names, values, strict=True)))
        regions = [r for r, guard in enumerate(guards) if solution.values[guard] > 0.5]
        found = _Answer(candidate, values, regions)
        threshold = max(threshold, outcomes.kept(candidate, regions)) + 1
        if not settings.threshold_search or threshold > soft.count:
            break
    return found, solution, calls
