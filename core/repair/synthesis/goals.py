"""Solving a synthesis Query under its objectives, in order (lexicographically).

Each objective's :class:`~nnv.core.plugin.objective.Goal` is minimised in turn, every earlier
one held at the level it reached, and each stage starts from the previous stage's answer (a
feasible point of the next stage, since the rows that hold a level are met by the answer that
reached it). A stage that ends without a proved optimum ends the sequence: its answer, or the
previous stage's, is the proposal, marked as not proved optimal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnv.core.plugin.objective import Goal
from nnv.core.plugin.solver import Solution, Solver
from nnv.core.query.builder import QueryBuilder
from nnv.core.query.form import WarmStart


@dataclass
class Solved:
    """The answer to propose (or the failure of the first stage), whether every stage was
    solved to a proved optimum, and the first stage's basis (for the next round's start)."""

    solution: Solution
    proved_optimal: bool
    basis: Any = None
    note: str = ""


def solve_goals(
    builder: QueryBuilder,
    goals: Sequence[Goal],
    solver: Solver,
    budget: Callable[[], float | None],
    basis: Any = None,
    start: np.ndarray | None = None,
) -> Solved:
    """Minimise ``goals`` in order over ``builder``'s constraints; ``budget()`` is the time
    each solve may take; the first starts from ``basis`` (an earlier round's first-stage
    basis) and ``start`` (a point of the Query: an incumbent), where given."""
    begin = None if basis is None and start is None else WarmStart(start, basis)
    found: Solution | None = None
    first_basis = None
    for stage, goal in enumerate(goals):
        query = builder.build(
            objective=goal.dense(builder.n_vars),
            maximize=False,
            absolute_gap=goal.gap,
            start=begin,
        )
        answer = solver.solve(query, budget())
        if stage == 0:
            first_basis = answer.extra.get("basis")
        if not answer.found or answer.values is None:
            if found is None:
                return Solved(answer, False, first_basis)
            return Solved(found, False, first_basis, f"objective {stage + 1}: {answer.status}")
        found = answer
        if answer.status != "optimal":
            return Solved(found, False, first_basis)
        goal.hold(builder, goal.value(answer.values))
        begin = WarmStart(values=answer.values, basis=answer.extra.get("basis"))
    assert found is not None, "solve_goals needs at least one goal"
    return Solved(found, True, first_basis)
