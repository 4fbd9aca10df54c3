"""The solver-neutral constraint form.

A :class:`Query` is arrays, not a tree of Python objects, so that building one is vectorised
and compiling it into a solver library is a handful of array calls:

- variables: bounds ``lb <= v <= ub`` (``-inf``/``inf`` allowed) and an integrality flag;
- linear rows: a sparse matrix ``A`` with ``row_lb <= A v <= row_ub``;
- ReLU pairs ``v[y] = max(0, v[x])``;
- bilinear terms ``v[k] = v[i] * v[j]``;
- indicator rows: ``v[z] = 1  ->  ind_lb <= ind_A v <= ind_ub`` (``v[z]`` binary);
- an objective ``c . v`` (plus ``0.5 v' Q v`` when quadratic), to minimise or maximise;
- soft constraints: binary variables whose sum is maximised, or held ``>= threshold``;
- ``absolute_gap``: how far from the optimum an answer may be (a hint optimisers may use);
- universally quantified blocks (:class:`Universal`), for solvers with quantifiers.

Solvers declare which of these they take (see :mod:`nnv.core.solver`); the reductions at the
end of this module rewrite a Query into a form a solver can take (ReLUs and indicators into
big-M rows with binaries), using the variable bounds for the big-M values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from .errors import CapabilityError
from .query_check import broken_constraints


def _empty_matrix(n: int) -> sp.csr_matrix:
    return sp.csr_matrix((0, n))


@dataclass(frozen=True)
class Universal:
    """``forall v[variables] . premise -> not (some forbidden conjunction holds)``.

    ``premise`` is a Query over the first ``premise.n_vars`` variables of the enclosing Query
    (the same indices); its rows, ReLU pairs and bilinear terms are the hypotheses, and its
    bounds apply to the quantified variables only. Each forbidden conjunction is
    ``(C, d)``: ``C v <= d`` over the same variables. With a ``guard`` binary the block is
    a soft constraint: it must hold when the guard is 1. This is the repair paper's formula
    ``exists free . forall x in region . property(f(x))``.
    """

    variables: np.ndarray
    premise: Query
    forbidden: tuple[tuple[sp.csr_matrix, np.ndarray], ...]
    guard: int | None = None  # a binary variable: the block must hold only when it is 1


@dataclass(frozen=True)
class Query:
    """One constraint problem; see the module docstring for the meaning of each field."""

    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    A: sp.csr_matrix
    row_lb: np.ndarray
    row_ub: np.ndarray
    relu: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    bilinear: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    ind_var: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ind_A: sp.csr_matrix | None = None
    ind_lb: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ind_ub: np.ndarray = field(default_factory=lambda: np.zeros(0))
    objective: np.ndarray | None = None
    quadratic: sp.csr_matrix | None = None
    maximize: bool = False
    soft: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    soft_threshold: int | None = None
    # An optimum within this absolute distance of the best is good enough (e.g. < 1 when the
    # objective counts soft constraints: the count is then still exact). None: the solver's own.
    absolute_gap: float | None = None
    universal: tuple[Universal, ...] = ()

    @property
    def n_vars(self) -> int:
        return int(self.lb.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.A.shape[0])

    def features(self) -> set[str]:
        """The capabilities a solver needs to take this Query as it is."""
        needed = {"linear"}
        if self.relu.shape[0]:
            needed.add("relu")
        if self.bilinear.shape[0]:
            needed.add("bilinear")
        if self.ind_var.shape[0]:
            needed.add("indicator")
        if self.integer.any():
            needed.add("integer")
        if self.quadratic is not None and self.quadratic.nnz:
            needed.add("quadratic")
        if self.soft.shape[0]:
            needed.add("soft")
        if self.universal:
            needed.add("quantifiers")
        return needed

    def has_nan(self) -> bool:
        """Whether a bound or coefficient is NaN (MILP back-ends would silently ignore it)."""
        parts = [self.lb, self.ub, self.row_lb, self.row_ub, self.A.data]
        parts += [self.objective] if self.objective is not None else []
        parts += [self.quadratic.data] if self.quadratic is not None else []
        return any(bool(np.isnan(part).any()) for part in parts)

    def check_values(self, values: np.ndarray, tol: float = 1e-6) -> list[str]:
        """Which constraints a candidate assignment breaks by more than ``tol`` (relative to
        the size of their terms), and by how much: see :mod:`nnv.core.query_check`."""
        return broken_constraints(self, values, tol)


class QueryBuilder:
    """Accumulates variables and constraints block by block, then freezes them into a Query."""

    def __init__(self) -> None:
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self._rows: list[sp.coo_matrix] = []
        self._row_lb: list[np.ndarray] = []
        self._row_ub: list[np.ndarray] = []
        self._relu: list[np.ndarray] = []
        self._bilinear: list[np.ndarray] = []
        self._ind_var: list[np.ndarray] = []
        self._ind_rows: list[sp.coo_matrix] = []
        self._ind_lb: list[np.ndarray] = []
        self._ind_ub: list[np.ndarray] = []
        self.n_vars = 0

    def add_vars(
        self,
        count: int,
        lb: float | np.ndarray = -np.inf,
        ub: float | np.ndarray = np.inf,
        integer: bool = False,
    ) -> np.ndarray:
        """Add ``count`` variables; returns their indices."""
        index = np.arange(self.n_vars, self.n_vars + count)
        self._lb.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), (count,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), (count,)).copy())
        self._int.append(np.full(count, integer))
        self.n_vars += count
        return index

    def add_binaries(self, count: int) -> np.ndarray:
        return self.add_vars(count, 0.0, 1.0, integer=True)

    def tighten(self, index: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> None:
        """Intersect the bounds of existing variables with ``[lb, ub]``."""
        all_lb, all_ub = np.concatenate(self._lb), np.concatenate(self._ub)
        all_lb[index] = np.maximum(all_lb[index], lb)
        all_ub[index] = np.minimum(all_ub[index], ub)
        self._lb, self._ub = [all_lb], [all_ub]
        self._int = [np.concatenate(self._int)]

    def add_rows(
        self,
        coefficients: sp.spmatrix | np.ndarray,
        columns: np.ndarray | None,
        lb: float | np.ndarray,
        ub: float | np.ndarray,
    ) -> None:
        """Add rows ``lb <= coefficients @ v[columns] <= ub`` (``columns=None``: all variables)."""
        matrix = sp.coo_matrix(coefficients)
        if columns is not None:
            matrix = sp.coo_matrix(
                (matrix.data, (matrix.row, np.asarray(columns)[matrix.col])),
                shape=(matrix.shape[0], max(self.n_vars, 1)),
            )
        count = matrix.shape[0]
        self._rows.append(matrix)
        self._row_lb.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), (count,)).copy())
        self._row_ub.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), (count,)).copy())

    def add_relu(self, outputs: np.ndarray, inputs: np.ndarray) -> None:
        self._relu.append(np.column_stack([outputs, inputs]).astype(np.int64))

    def add_bilinear(self, products: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
        self._bilinear.append(np.column_stack([products, left, right]).astype(np.int64))

    def add_indicators(
        self,
        binaries: np.ndarray,
        coefficients: sp.spmatrix | np.ndarray,
        columns: np.ndarray | None,
        lb: float | np.ndarray,
        ub: float | np.ndarray,
    ) -> None:
        """Add ``v[binaries[r]] = 1 -> lb[r] <= coefficients[r] @ v[columns] <= ub[r]``."""
        matrix = sp.coo_matrix(coefficients)
        if columns is not None:
            matrix = sp.coo_matrix(
                (matrix.data, (matrix.row, np.asarray(columns)[matrix.col])),
                shape=(matrix.shape[0], max(self.n_vars, 1)),
            )
        count = matrix.shape[0]
        self._ind_var.append(np.asarray(binaries, dtype=np.int64).reshape(count))
        self._ind_rows.append(matrix)
        self._ind_lb.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), (count,)).copy())
        self._ind_ub.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), (count,)).copy())

    def build(self, **extra: object) -> Query:
        """Freeze into a Query; ``extra`` sets objective, soft constraints and the like."""
        n = self.n_vars
        return Query(
            lb=np.concatenate(self._lb) if self._lb else np.zeros(0),
            ub=np.concatenate(self._ub) if self._ub else np.zeros(0),
            integer=np.concatenate(self._int) if self._int else np.zeros(0, dtype=bool),
            A=_stack(self._rows, n),
            row_lb=np.concatenate(self._row_lb) if self._row_lb else np.zeros(0),
            row_ub=np.concatenate(self._row_ub) if self._row_ub else np.zeros(0),
            relu=np.concatenate(self._relu) if self._relu else np.zeros((0, 2), dtype=np.int64),
            bilinear=(
                np.concatenate(self._bilinear)
                if self._bilinear
                else np.zeros((0, 3), dtype=np.int64)
            ),
            ind_var=(
                np.concatenate(self._ind_var) if self._ind_var else np.zeros(0, dtype=np.int64)
            ),
            ind_A=_stack(self._ind_rows, n) if self._ind_rows else None,
            ind_lb=np.concatenate(self._ind_lb) if self._ind_lb else np.zeros(0),
            ind_ub=np.concatenate(self._ind_ub) if self._ind_ub else np.zeros(0),
            **extra,  # type: ignore[arg-type]
        )


def _stack(blocks: list[sp.coo_matrix], n: int) -> sp.csr_matrix:
    if not blocks:
        return _empty_matrix(n)
    resized = [sp.coo_matrix((b.data, (b.row, b.col)), shape=(b.shape[0], n)) for b in blocks]
    return sp.vstack(resized, format="csr")


# -- reductions ----------------------------------------------------------------------------


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
        else _empty_matrix(n_new)
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
