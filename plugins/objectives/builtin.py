"""The built-in objectives: ``keep`` (the most soft constraints kept, then the smallest change:
core's default, :class:`~nnv.core.plugin.objective.MostKept`), ``l1`` and ``linf`` (the
smallest change of the free parameters, PRDNN/APRNN style) and ``output`` (the smallest change
of the outputs at the data's points).

``l1``, ``linf`` and ``output`` are linear, so where the free parameters sit in the last layer
and no soft constraint is counted, synthesis is an LP. Each absolute value is an auxiliary
variable above both signs of its argument.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nnv.core import hookimpl
from nnv.core.plugin.objective import Goal, MostKept, Objective, ObjectiveContext
from nnv.core.query.builder import QueryBuilder


def absolute_values(
    builder: QueryBuilder, rows: sp.spmatrix, constant: np.ndarray, upper: np.ndarray | float
) -> np.ndarray:
    """Variables ``u >= |rows @ v + constant|`` (``0 <= u <= upper``), one per row."""
    count = rows.shape[0]
    u = builder.add_vars(count, 0.0, upper)
    matrix = sp.coo_matrix(rows)
    matrix = sp.csr_matrix((matrix.data, (matrix.row, matrix.col)), shape=(count, builder.n_vars))
    identity = sp.csr_matrix((np.ones(count), (np.arange(count), u)), shape=(count, builder.n_vars))
    builder.add_rows(identity - matrix, None, constant, np.inf)  # u >= rows v + c
    builder.add_rows(identity + matrix, None, -constant, np.inf)  # u >= -(rows v + c)
    return u


def offset_sizes(context: ObjectiveContext) -> np.ndarray:
    """``|delta_j|`` for every free parameter, as variables."""
    count = context.offsets.size
    selector = sp.csr_matrix(
        (np.ones(count), (np.arange(count), context.offsets)),
        shape=(count, context.builder.n_vars),
    )
    return absolute_values(context.builder, selector, np.zeros(count), context.limits)


class L1(Objective):
    """The smallest sum of the free parameters' absolute changes."""

    name = "l1"
    description = "the smallest L1 norm of the change of the free parameters (an LP)"

    def goal(self, context: ObjectiveContext) -> Goal:
        sizes = offset_sizes(context)
        return Goal(sizes, np.ones(sizes.size))


class LInf(Objective):
    """The smallest largest absolute change of a free parameter."""

    name = "linf"
    description = "the smallest L-infinity norm of the change of the free parameters (an LP)"

    def goal(self, context: ObjectiveContext) -> Goal:
        builder, count = context.builder, context.offsets.size
        largest = builder.add_vars(1, 0.0, float(np.max(context.limits)))
        column = np.concatenate([np.full(count, largest[0]), context.offsets])
        rows = np.concatenate([np.arange(count), np.arange(count)])
        for sign in (-1.0, 1.0):  # t - delta >= 0 and t + delta >= 0
            values = np.concatenate([np.ones(count), np.full(count, sign)])
            matrix = sp.csr_matrix((values, (rows, column)), shape=(count, builder.n_vars))
            builder.add_rows(matrix, None, 0.0, np.inf)
        return Goal(largest, np.ones(1))


class OutputChange(Objective):
    """The smallest sum of absolute output changes over the data's points (the soft points)."""

    name = "output"
    description = "the smallest change of the outputs on the data (sum of absolute changes)"
    needs = frozenset({"outputs"})

    def goal(self, context: ObjectiveContext) -> Goal:
        outputs = context.outputs
        if outputs is None or not outputs.rows.shape[0]:
            return Goal(np.zeros(0, dtype=np.int64), np.zeros(0))
        u = absolute_values(context.builder, outputs.rows, outputs.constant, np.inf)
        return Goal(u, np.ones(u.size))


@hookimpl
def nnv_objectives() -> dict[str, type[Objective]]:
    return {"keep": MostKept, "l1": L1, "linf": LInf, "output": OutputChange}
