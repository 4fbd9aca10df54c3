"""Reductions: rewrite a Query into a form a solver can take.

ReLU pairs and indicator rows become big-M rows with binaries (using the variable bounds for
the big-M values), and soft constraints an objective that counts them.

Each reduction is an object that says what it removes from a Query and what the solver must
take instead (as CVXPY's reductions say what they accept); :data:`REDUCTIONS` is the order in
which :func:`nnv.core.plugin.solver.prepare` tries them.
"""

from __future__ import annotations

import abc
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from nnv.core.errors import CapabilityError
from nnv.core.query.capabilities import Capability
from nnv.core.query.form import Query, empty_matrix


class Reduction(abc.ABC):
    """Removes one feature (``removes``) from a Query, for a solver that lacks it."""

    removes: ClassVar[Capability]
    # why a solver without ``needs(query)`` cannot take the Query, after "solver 'NAME' "
    refusal: ClassVar[str]

    def accepts(self, query: Query) -> bool:
        """Whether ``query`` has the feature this reduction removes."""
        return self.removes in query.features()

    @abc.abstractmethod
    def needs(self, query: Query) -> frozenset[Capability]:
        """What the solver must take for the rewritten ``query``."""

    @abc.abstractmethod
    def apply(self, query: Query) -> Query:
        """``query`` without the feature; a ``CapabilityError`` when it has no such form."""


class SoftToObjective(Reduction):
    """Soft constraints become an objective that counts them, or a row ``sum >= threshold``."""

    removes = Capability.SOFT
    refusal = "cannot optimise soft constraints"

    def needs(self, query: Query) -> frozenset[Capability]:
        # a threshold becomes a row: only an objective already there needs optimising; an
        # objective besides counted soft constraints is refused by apply whatever the solver
        counted = query.soft_threshold is None
        if counted and query.objective is not None and np.any(query.objective):
            return frozenset()
        if counted or query.objective is not None:
            return frozenset({Capability.OPTIMIZE})
        return frozenset()

    def apply(self, query: Query) -> Query:
        return soft_to_objective(query)


class ReluToBigM(Reduction):
    """ReLU pairs become big-M rows with a binary per unstable ReLU."""

    removes = Capability.RELU
    refusal = "takes neither ReLUs nor integers"

    def needs(self, query: Query) -> frozenset[Capability]:
        return frozenset({Capability.INTEGER})

    def apply(self, query: Query) -> Query:
        return relu_to_big_m(query)


class IndicatorsToBigM(Reduction):
    """Indicator rows become big-M rows on their binaries."""

    removes = Capability.INDICATOR
    refusal = "takes neither indicators nor integers"

    def needs(self, query: Query) -> frozenset[Capability]:
        return frozenset({Capability.INTEGER})

    def apply(self, query: Query) -> Query:
        return indicators_to_big_m(query)


# soft constraints first: counting them adds no ReLUs or indicators, but may add an objective
REDUCTIONS: tuple[Reduction, ...] = (SoftToObjective(), ReluToBigM(), IndicatorsToBigM())


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
    n_new = n + k

    lb = np.concatenate([query.lb, np.zeros(k)])
    ub = np.concatenate([query.ub, np.ones(k)])
    integer = np.concatenate([query.integer, np.ones(k, dtype=bool)])
    # y >= 0 always; y <= max(u, 0); y = 0 where the ReLU is always off
    lb[y] = np.maximum(lb[y], 0.0)
    ub[y] = np.minimum(ub[y], np.maximum(high, 0.0))
    ub[y[inactive]] = 0.0

    rows = _Rows()
    if active.any():  # y - x = 0
        rows.emit(int(active.sum()), [(y[active], 1.0), (x[active], -1.0)], 0.0, 0.0)
    if k:
        d = np.arange(n, n_new)
        yu, xu, lu, hu = y[unstable], x[unstable], low[unstable], high[unstable]
        rows.emit(k, [(yu, 1.0), (xu, -1.0)], 0.0, np.inf)  # y - x >= 0
        rows.emit(k, [(yu, 1.0), (xu, -1.0), (d, -lu)], -np.inf, -lu)  # y - x - l d <= -l
        rows.emit(k, [(yu, 1.0), (d, -hu)], -np.inf, 0.0)  # y - u d <= 0
    return replace(
        query,
        lb=lb,
        ub=ub,
        integer=integer,
        A=sp.vstack([_resize(query.A, n_new), rows.matrix(n_new)], format="csr"),
        row_lb=np.concatenate([query.row_lb, *rows.lower]) if rows.lower else query.row_lb,
        row_ub=np.concatenate([query.row_ub, *rows.upper]) if rows.upper else query.row_ub,
        relu=np.zeros((0, 2), dtype=np.int64),
        ind_A=None if query.ind_A is None else _resize(query.ind_A, n_new),
        objective=None if query.objective is None else _pad(query.objective, n_new),
        quadratic=None if query.quadratic is None else _resize_square(query.quadratic, n_new),
    )


class _Rows:
    """Blocks of sparse rows, each a sum of (columns, coefficients) terms, with their ranges."""

    def __init__(self) -> None:
        self.count = 0
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []

    def emit(self, count: int, entries: list[tuple[np.ndarray, Any]], lo: Any, hi: Any) -> None:
        """``count`` rows ``lo <= sum of coefficients * v[columns] <= hi``."""
        index = np.arange(self.count, self.count + count)
        for columns, coefficients in entries:
            self.rows.append(index)
            self.cols.append(columns)
            self.vals.append(np.broadcast_to(coefficients, (count,)))
        self.lower.append(np.broadcast_to(lo, (count,)))
        self.upper.append(np.broadcast_to(hi, (count,)))
        self.count += count

    def matrix(self, n: int) -> sp.csr_matrix:
        if not self.count:
            return empty_matrix(n)
        values = np.concatenate(self.vals)
        where = (np.concatenate(self.rows), np.concatenate(self.cols))
        return sp.csr_matrix((values, where), shape=(self.count, n))


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
