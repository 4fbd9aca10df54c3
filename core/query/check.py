"""Whether an assignment satisfies a Query: the check a solver's point passes before it is
trusted (:meth:`nnv.core.Solver.solve`), and the replay tests use.

Each kind of constraint is allowed ``tol`` times the size of its terms, plus ``tol``: float
solvers meet their tolerances on scaled and reduced problems (big-M rows, say), so a row
whose terms are of order 1000 may be off by a thousand times more than one of order 1.
Universally quantified blocks are not checked here: that is a verification problem itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from nnv.core.query.form import Query


def broken_constraints(query: Query, values: np.ndarray, tol: float = 1e-6) -> list[str]:
    """The kinds of constraint ``values`` breaks, each with by how much at worst."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (query.n_vars,):
        return [f"{v.size} values for {query.n_vars} variables"]
    if not np.isfinite(v).all():
        return ["values that are not finite"]
    worst: dict[str, float] = {}

    def note(kind: str, excess: np.ndarray, size: np.ndarray) -> None:
        over = excess > tol * (1.0 + size)
        if np.any(over):
            worst[kind] = float(np.max(excess[over]))

    note("variable bounds", np.maximum(query.lb - v, v - query.ub), np.abs(v))
    integral = np.flatnonzero(query.integer)
    note("integrality", np.abs(v[integral] - np.round(v[integral])), np.zeros(integral.size))
    note("linear rows", *_row_excess(query.A, query.row_lb, query.row_ub, v))
    if query.ind_A is not None and query.ind_var.size:
        on = v[query.ind_var] > 0.5
        excess, size = _row_excess(query.ind_A, query.ind_lb, query.ind_ub, v)
        note("indicator rows", excess[on], size[on])
    if query.relu.shape[0]:
        y, x = v[query.relu[:, 0]], v[query.relu[:, 1]]
        note("relu", np.abs(y - np.maximum(x, 0.0)), np.abs(x) + np.abs(y))
    if query.bilinear.shape[0]:
        k, i, j = (v[query.bilinear[:, c]] for c in range(3))
        note("bilinear", np.abs(k - i * j), np.abs(k) + np.abs(i * j))
    if query.soft_threshold is not None and query.soft.size:
        kept = np.round(v[query.soft]).sum()
        note("soft threshold", np.array([query.soft_threshold - kept]), np.zeros(1))
    return [f"{kind} (off by {amount:.3g})" for kind, amount in worst.items()]


def _row_excess(
    A: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """How far each row ``lower <= A v <= upper`` is outside its range, and its terms' size."""
    activity = A @ v
    size = abs(A) @ np.abs(v)
    return np.maximum(lower - activity, activity - upper), size
