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
- universally quantified blocks (:class:`Universal`), for solvers with quantifiers;
- ``start``: where a solver may start (:class:`WarmStart`), a hint that solvers without the
  ``warm_start`` capability ignore.

Solvers declare which of these they take (see :mod:`nnv.core.plugin.solver`); the reductions
of :mod:`nnv.core.query.reductions` rewrite a Query into a form a solver can take (ReLUs and
indicators into big-M rows with binaries), using the variable bounds for the big-M values.
:func:`broken_constraints` (at the end) says whether an assignment satisfies a Query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnv.core.query.capabilities import Capability


def empty_matrix(n: int) -> sp.csr_matrix:
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
class WarmStart:
    """Where a solver may start. ``values``: a point (NaN where unknown), e.g. a feasible one
    that a MILP solver takes as its incumbent. ``basis``: what an earlier :class:`Solution` of
    the same solver returned in ``extra["basis"]``, for a problem whose first variables and
    rows are that problem's (later ones are new: a CEGIS round adds counterexample rows)."""

    values: np.ndarray | None = None
    basis: Any = None


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
    start: WarmStart | None = None

    @property
    def n_vars(self) -> int:
        return int(self.lb.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.A.shape[0])

    def features(self) -> frozenset[Capability]:
        """The capabilities a solver needs to take this Query as it is (an objective needs
        ``optimize``: see :func:`nnv.core.plugin.solver.prepare`)."""
        present = {
            Capability.LINEAR: True,
            Capability.RELU: self.relu.shape[0] > 0,
            Capability.BILINEAR: self.bilinear.shape[0] > 0,
            Capability.INDICATOR: self.ind_var.shape[0] > 0,
            Capability.INTEGER: bool(self.integer.any()),
            Capability.QUADRATIC: self.quadratic is not None and self.quadratic.nnz > 0,
            Capability.SOFT: self.soft.shape[0] > 0,
            Capability.QUANTIFIERS: bool(self.universal),
        }
        return frozenset(capability for capability, needed in present.items() if needed)

    def has_nan(self) -> bool:
        """Whether a bound or coefficient is NaN (MILP back-ends would silently ignore it)."""
        parts = [self.lb, self.ub, self.row_lb, self.row_ub, self.A.data]
        parts += [self.objective] if self.objective is not None else []
        parts += [self.quadratic.data] if self.quadratic is not None else []
        return any(bool(np.isnan(part).any()) for part in parts)

    def check_values(self, values: np.ndarray, tol: float = 1e-6) -> list[str]:
        """Which constraints a candidate assignment breaks by more than ``tol`` (relative to
        the size of their terms), and by how much: see :func:`broken_constraints`."""
        return broken_constraints(self, values, tol)


def broken_constraints(query: Query, values: np.ndarray, tol: float = 1e-6) -> list[str]:
    """The kinds of constraint ``values`` breaks, each with by how much at worst.

    The check a solver's point passes before it is trusted (:meth:`nnv.core.Solver.solve`), and
    the replay tests use. Each kind of constraint is allowed ``tol`` times the size of its
    terms, plus ``tol``: float solvers meet their tolerances on scaled and reduced problems
    (big-M rows, say), so a row whose terms are of order 1000 may be off by a thousand times
    more than one of order 1. Universally quantified blocks are not checked here: that is a
    verification problem itself.
    """
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
