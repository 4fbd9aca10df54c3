"""Reductions: rewrite a Query into a form a solver can take.

ReLU pairs and indicator rows become big-M rows with binaries (using the variable bounds for
the big-M values), and soft constraints an objective that counts them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnv.core.errors import CapabilityError
from nnv.core.query.form import Query, empty_matrix


def relu_to_big_m(query: Query) -> Query:
    """Replace every ReLU pair by linear rows, with one binary per unstable ReLU.

    Stable ReLUs need no binary: ``x >= 0`` gives ``y = x``, ``x <= 0`` gives ``y = 0``.
    Unstable ones (``l < 0 < u``) get ``y >= x, y >= 0, y <= x - l (1 - d), y <= u d``.
    """
    if not query.relu.shape[0]:
        return query
    y, x = query.relu[:, 0], query.relu[:, 1]
    low, high = query.lb[x], query.ub[x]
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise CapabilityError("a ReLU input has no finite bounds, so no big-M encoding exists")
    n = query.n_vars
    active = low >= 0
    inactive = high <= 0
    unstable = ~(active | inactive)
    k = int(unstable.sum())
    d = np.arange(n, n + k)
    n_new = n + k

    lb = np.concatenate([query.lb, np.zeros(k)])
    ub = np.concatenate([query.ub, np.ones(k)])
    integer = np.concatenate([query.integer, np.ones(k, dtype=bool)])
    # y >= 0 always; y <= max(u, 0)
    lb[y] = np.maximum(lb[y], 0.0)
    ub[y] = np.minimum(ub[y], np.maximum(high, 0.0))

    rows, cols, vals, rlb, rub = [], [], [], [], []
    row = 0

    def emit(count: int, entries: list[tuple[np.ndarray, Any]], lo: Any, hi: Any) -> None:
        nonlocal row
        index = np.arange(row, row + count)
        for columns, coefficients in entries:
            rows.append(index)
            cols.append(columns)
            vals.append(np.broadcast_to(coefficients, (count,)))
        rlb.append(np.broadcast_to(lo, (count,)))
        rub.append(np.broadcast_to(hi, (count,)))
        row += count

    if active.any():  # y - x = 0
        emit(int(active.sum()), [(y[active], 1.0), (x[active], -1.0)], 0.0, 0.0)
    if inactive.any():  # y = 0
        ub[y[inactive]] = 0.0
    if k:
        yu, xu, lu, hu = y[unstable], x[unstable], low[unstable], high[unstable]
        emit(k, [(yu, 1.0), (xu, -1.0)], 0.0, np.inf)  # y - x >= 0
        emit(k, [(yu, 1.0), (xu, -1.0), (d, -lu)], -np.inf, -lu)  # y - x - l d <= -l
        emit(k, [(yu, 1.0), (d, -hu)], -np.inf, 0.0)  # y - u d <= 0
    extra = (
        sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(row, n_new),
        )
        if row
        else empty_matrix(n_new)
    )
    A = sp.vstack([_resize(query.A, n_new), extra], format="csr")
    return replace(
        query,
        lb=lb,
        ub=ub,
        integer=integer,
        A=A,
        row_lb=np.concatenate([query.row_lb, *rlb]) if rlb else query.row_lb,
        row_ub=np.concatenate([query.row_ub, *rub]) if rub else query.row_ub,
        relu=np.zeros((0, 2), dtype=np.int64),
        ind_A=None if query.ind_A is None else _resize(query.ind_A, n_new),
        objective=None if query.objective is None else _pad(query.objective, n_new),
        quadratic=None if query.quadratic is None else _resize_square(query.quadratic, n_new),
    )


def indicators_to_big_m(query: Query) -> Query:
    """Replace ``z = 1 -> lb <= a v <= ub`` by ``a v <= ub + M (1 - z)`` (and the lb side)."""
    if not query.ind_var.shape[0] or query.ind_A is None:
        return query
    A = query.ind_A
    positive, negative = A.maximum(0), A.minimum(0)
    lb, ub = query.lb, query.ub
    with np.errstate(invalid="ignore"):
        row_max = positive @ _finite(ub) + negative @ _finite(lb)
        row_min = positive @ _finite(lb) + negative @ _finite(ub)
    blocks, row_lb, row_ub = [], [], []
    z = query.ind_var
    m = A.shape[0]
    n = query.n_vars
    selector = sp.csr_matrix((np.ones(m), (np.arange(m), z)), shape=(m, n))
    upper = np.isfinite(query.ind_ub)
    if upper.any():
        big_m = np.maximum(row_max - query.ind_ub, 0.0)
        _require_finite(big_m[upper])
        # a v + M z <= ub + M
        blocks.append((A + sp.diags(big_m) @ selector)[upper])
        row_lb.append(np.full(int(upper.sum()), -np.inf))
        row_ub.append((query.ind_ub + big_m)[upper])
    lower = np.isfinite(query.ind_lb)
    if lower.any():
        big_m = np.maximum(query.ind_lb - row_min, 0.0)
        _require_finite(big_m[lower])
        # a v - M z >= lb - M
        blocks.append((A - sp.diags(big_m) @ selector)[lower])
        row_lb.append((query.ind_lb - big_m)[lower])
        row_ub.append(np.full(int(lower.sum()), np.inf))
    return replace(
        query,
        A=sp.vstack([query.A, *blocks], format="csr"),
        row_lb=np.concatenate([query.row_lb, *row_lb]),
        row_ub=np.concatenate([query.row_ub, *row_ub]),
        ind_var=np.zeros(0, dtype=np.int64),
        ind_A=None,
        ind_lb=np.zeros(0),
        ind_ub=np.zeros(0),
    )


def soft_to_objective(query: Query) -> Query:
    """Soft binaries become "maximise their sum" (or a row ``sum >= threshold``)."""
    if not query.soft.shape[0]:
        return query
    n = query.n_vars
    if query.soft_threshold is not None:
        row = sp.csr_matrix(
            (np.ones(query.soft.shape[0]), (np.zeros(query.soft.shape[0]), query.soft)),
            shape=(1, n),
        )
        return replace(
            query,
            A=sp.vstack([query.A, row], format="csr"),
            row_lb=np.append(query.row_lb, float(query.soft_threshold)),
            row_ub=np.append(query.row_ub, np.inf),
            soft=np.zeros(0, dtype=np.int64),
            soft_threshold=None,
        )
    if query.objective is not None and np.any(query.objective):
        raise CapabilityError("a Query cannot have both an objective and soft constraints")
    objective = np.zeros(n)
    objective[query.soft] = 1.0
    gap = 0.5 if query.absolute_gap is None else query.absolute_gap  # the count stays exact
    return replace(
        query,
        objective=objective,
        maximize=True,
        soft=np.zeros(0, dtype=np.int64),
        absolute_gap=gap,
    )


def _resize(matrix: sp.spmatrix, n: int) -> sp.csr_matrix:
    coo = sp.coo_matrix(matrix)
    return sp.csr_matrix((coo.data, (coo.row, coo.col)), shape=(coo.shape[0], n))


def _resize_square(matrix: sp.spmatrix, n: int) -> sp.csr_matrix:
    coo = sp.coo_matrix(matrix)
    return sp.csr_matrix((coo.data, (coo.row, coo.col)), shape=(n, n))


def _pad(vector: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([vector, np.zeros(n - vector.shape[0])])


def _finite(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)


def _require_finite(values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        raise CapabilityError("an indicator row has unbounded variables, so no big-M exists")
