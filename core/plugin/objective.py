"""Objectives of repair synthesis: which offsets are best among those that fix every
counterexample. A plugin kind (hook ``nnv_objectives``), chosen with ``--objective``.

Synthesis builds its Query (the offsets within their limits, every counterexample kept out of
its unsafe set) and offers each objective what it may build on (:class:`ObjectiveContext`):
the offset variables, the binaries of the soft constraints whose class may change, and the
change of every output at the data's points. An objective adds the auxiliary variables and
rows it needs and returns a :class:`Goal`, a linear function to minimise.

Several objectives are lexicographic (``--objective keep,l1``): the first is minimised, then
each later one with every earlier one held at the level it reached (:meth:`Goal.hold`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from nnv.core.query.builder import QueryBuilder

# what an objective may ask synthesis to encode: the soft constraints' binaries, the outputs
Need = Literal["kept", "outputs"]


@dataclass(frozen=True)
class OutputChanges:
    """How far each output at each data point moves, linear in the Query's variables:
    ``rows @ v + constant``, one row per (point, output) that a free parameter reaches."""

    rows: sp.csr_matrix
    constant: np.ndarray


@dataclass(frozen=True)
class ObjectiveContext:
    """What synthesis offers an objective. ``kept`` are binaries, 1 when their soft
    constraint is kept (only those whose class may change: the others count anyway);
    ``outputs`` is there when an objective of the run asks for ``"outputs"``."""

    builder: QueryBuilder
    offsets: np.ndarray  # variable indices, one per free parameter
    limits: np.ndarray  # how far each offset may move
    kept: np.ndarray
    outputs: OutputChanges | None = None


@dataclass(frozen=True)
class Goal:
    """Minimise ``cost . v[index]``. ``gap``: how far from the optimum an answer may be (a
    hint to optimisers; None: the solver's own). ``integral``: the value is an integer (a
    count) plus a tie-break in [0, 0.5], so a later stage holds the integer exactly;
    otherwise a later stage holds it within ``relative`` of the value reached."""

    index: np.ndarray
    cost: np.ndarray
    gap: float | None = None
    integral: bool = False
    relative: float = 1e-6

    def value(self, values: np.ndarray) -> float:
        return float(self.cost @ values[self.index])

    def dense(self, n_vars: int) -> np.ndarray:
        vector = np.zeros(n_vars)
        np.add.at(vector, self.index, self.cost)
        return vector

    def hold(self, builder: QueryBuilder, reached: float) -> None:
        """A row keeping this goal at least as good as ``reached`` (for the stages after)."""
        if self.integral:
            bound = np.floor(reached + 0.5) + 0.5  # an integer count: no worse than reached
        else:
            bound = reached + self.relative * max(1.0, abs(reached))
        row = sp.coo_matrix(
            (self.cost, (np.zeros(self.index.size), self.index)), shape=(1, builder.n_vars)
        )
        builder.add_rows(row, None, -np.inf, bound)


class Objective(abc.ABC):
    """Base class of objective plugins; options in the constructor (none for the built-ins)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    needs: ClassVar[frozenset[Need]] = frozenset()
    # the exact line and pair searches optimise this objective (most soft points kept, then
    # the smallest change), so one or two free parameters need no solver
    line_search: ClassVar[bool] = False

    @abc.abstractmethod
    def goal(self, context: ObjectiveContext) -> Goal:
        """Add this objective's variables and rows to ``context.builder``; what to minimise."""


class MostKept(Objective):
    """The most soft constraints kept, then the smallest total change (each parameter's
    relative to its limit), a tie-break worth at most half a constraint in all: nnv's
    default, which the ``keep`` plugin registers under its name."""

    name = "keep"
    description = "the most soft constraints kept, then the smallest change (the default)"
    needs = frozenset({"kept"})
    line_search = True

    def goal(self, context: ObjectiveContext) -> Goal:
        builder, delta, limits = context.builder, context.offsets, context.limits
        size = builder.add_vars(delta.size, 0.0, limits)
        identity = sp.identity(delta.size)
        columns = np.concatenate([size, delta])
        builder.add_rows(sp.hstack([identity, -identity]), columns, 0.0, np.inf)  # >= delta
        builder.add_rows(sp.hstack([identity, identity]), columns, 0.0, np.inf)  # >= -delta
        index = np.concatenate([context.kept, size])
        cost = np.concatenate([-np.ones(context.kept.size), 0.5 / (delta.size * limits)])
        # any answer within half a constraint of the optimum keeps the maximum count
        return Goal(index, cost, gap=0.5, integral=True)
