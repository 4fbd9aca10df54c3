"""What the exact SMT solvers (z3, cvc5) share: a Query compiled into z3-style terms.

z3's Python API and ``cvc5.pythonic`` expose the same term constructors (``Real``, ``Int``,
``RealVal``, ``Sum``, ``Or``, ``Implies``, ``And``, ``BoolVal``), so one compiler, handed the
library's module, serves both. Every float coefficient and bound becomes the rational it
denotes exactly, so a verdict is about the float64 numbers in the Query, not a rounding of them.
This module imports neither library: removing one solver plugin leaves the other working.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnv.core import Capability, CapabilityError, InputError, Query, Solution
from nnv.core.query.form import Universal
from nnv.core.status import SolveStatus

# what both SMT solvers decide over rationals; z3 adds optimisation
SMT_CAPABILITIES = frozenset(
    {
        Capability.LINEAR,
        Capability.INTEGER,
        Capability.RELU,
        Capability.INDICATOR,
        Capability.BILINEAR,
        Capability.SOFT,
        Capability.EXACT,
        Capability.QUANTIFIERS,
    }
)


@dataclass
class Compiled:
    """A Query as terms of one SMT library."""

    variables: list[Any]
    constraints: list[Any] = field(default_factory=list)
    # the soft binaries whose count is maximised (empty when none, or when a threshold holds)
    soft: list[Any] = field(default_factory=list)
    objective: Any | None = None


class Deadline:
    """One time budget over several solver calls (a compile, then one or more checks)."""

    def __init__(self, timeout: float | None) -> None:
        self.start = time.perf_counter()
        self.timeout = timeout

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining_ms(self) -> int | None:
        """Milliseconds left (at least 1, so a spent budget still stops the next check at once)."""
        if self.timeout is None:
            return None
        return max(1, int((self.timeout - self.elapsed()) * 1000))

    def expired(self) -> bool:
        return self.timeout is not None and self.elapsed() >= self.timeout


# -- checks ----------------------------------------------------------------------------------


def check_supported(query: Query) -> None:
    """Refuse data no rational stands for (NaN, infinite coefficients) and soft constraints
    beside an objective, with one clear error instead of a library traceback. (What the
    solver cannot take at all never arrives: ``Solver.solve`` reduces or refuses it.)"""
    if query.objective is not None and _maximises_soft(query):
        raise CapabilityError("a Query cannot have both an objective and soft constraints")
    soft = query.soft
    if soft.size and not (
        query.integer[soft].all() and (query.lb[soft] >= 0).all() and (query.ub[soft] <= 1).all()
    ):
        raise InputError("soft constraints must be binary variables")
    coefficients = [query.A.data]
    if query.ind_A is not None:
        coefficients.append(query.ind_A.data)
    if query.objective is not None:
        coefficients.append(query.objective)
    if not all(np.isfinite(c).all() for c in coefficients):
        raise InputError("the Query has a NaN or infinite coefficient")
    bounds = (query.lb, query.ub, query.row_lb, query.row_ub, query.ind_lb, query.ind_ub)
    if any(np.isnan(b).any() for b in bounds):
        raise InputError("the Query has a NaN bound")


def integral_data(query: Query) -> bool:
    """Whether every variable is an integer and every coefficient integral (pure integer
    arithmetic: cvc5 can then use QF_LIA / QF_NIA, since the compiler rounds bounds inward)."""
    matrices = [query.A] + ([query.ind_A] if query.ind_A is not None else [])
    return bool(query.integer.all()) and all(
        bool(np.all(m.data == np.round(m.data))) for m in matrices
    )


def _maximises_soft(query: Query) -> bool:
    return bool(query.soft.size) and query.soft_threshold is None


# -- compilation -----------------------------------------------------------------------------


def compile_query(query: Query, api: ModuleType) -> Compiled:
    """Terms of the library ``api`` (``z3`` or ``cvc5.pythonic``) for every part of ``query``."""
    variables = [
        api.Int(f"v{i}") if is_int else api.Real(f"v{i}")
        for i, is_int in enumerate(query.integer.tolist())
    ]
    compiled = Compiled(variables)
    add = compiled.constraints.extend
    add(_bounds(api, query, variables))
    add(_rows(api, query, variables))
    add(_relus(api, query, variables))
    add(variables[k] == variables[i] * variables[j] for k, i, j in query.bilinear.tolist())
    add(_indicators(api, query, variables))
    soft = [variables[s] for s in query.soft.tolist()]
    if query.soft_threshold is not None and soft:
        compiled.constraints.append(sum_of(api, soft) >= int(query.soft_threshold))
    elif soft:
        compiled.soft = soft
    if query.objective is not None:
        columns = np.flatnonzero(query.objective)
        term = _linear(api, variables, columns.tolist(), query.objective[columns].tolist())
        compiled.objective = api.RealVal(0) if term is None else term
    add(_universal(api, block, variables, query.integer) for block in query.universal)
    return compiled


def _universal(api: ModuleType, block: Universal, variables: list[Any], integer: np.ndarray) -> Any:
    """``forall x . premise -> not (C1 v <= d1 or ...)``, under its guard if it has one."""
    premise = block.premise
    hypotheses = [
        *_bounds(api, premise, variables),
        *_rows(api, premise, variables),
        *_relus(api, premise, variables),
        *(variables[k] == variables[i] * variables[j] for k, i, j in premise.bilinear.tolist()),
    ]
    forbidden = []
    for C, d in block.forbidden:
        terms = _row_terms(api, variables, C, integer[: C.shape[1]])
        parts = [
            c
            for (term, whole), hi in zip(terms, d, strict=True)
            for c in _within(api, term, -math.inf, hi, whole)
        ]
        forbidden.append(_conjunction(api, parts) if parts else api.BoolVal(True))
    body = api.Implies(
        _conjunction(api, hypotheses) if hypotheses else api.BoolVal(True),
        api.Not(forbidden[0] if len(forbidden) == 1 else api.Or(forbidden)),
    )
    formula = api.ForAll([variables[i] for i in block.variables.tolist()], body)
    if block.guard is None:
        return formula
    return api.Implies(variables[block.guard] == 1, formula)


def _bounds(api: ModuleType, query: Query, variables: list[Any]) -> list[Any]:
    constraints: list[Any] = []
    bounded = np.flatnonzero(np.isfinite(query.lb) | np.isfinite(query.ub))
    for i in bounded.tolist():
        integral = bool(query.integer[i])
        constraints.extend(_within(api, variables[i], query.lb[i], query.ub[i], integral))
    return constraints


def _row_terms(
    api: ModuleType, variables: list[Any], matrix: sp.csr_matrix, integer: np.ndarray
) -> Iterator[tuple[Any | None, bool]]:
    """Each CSR row as one flat ``Sum`` (work linear in the nonzeros) and whether its value
    is always an integer."""
    integral = _integral_rows(matrix, integer).tolist()
    indptr, indices, data = matrix.indptr.tolist(), matrix.indices.tolist(), matrix.data.tolist()
    for r, is_integral in enumerate(integral):
        start, end = indptr[r], indptr[r + 1]
        yield _linear(api, variables, indices[start:end], data[start:end]), is_integral


def _rows(api: ModuleType, query: Query, variables: list[Any]) -> list[Any]:
    constraints: list[Any] = []
    terms = _row_terms(api, variables, query.A, query.integer)
    for (term, integral), lo, hi in zip(terms, query.row_lb, query.row_ub, strict=True):
        constraints.extend(_within(api, term, lo, hi, integral))
    return constraints


def _relus(api: ModuleType, query: Query, variables: list[Any]) -> list[Any]:
    """``y = max(0, x)``. A ReLU whose input bounds fix its phase needs no case split; an
    unstable one is ``y >= 0, y >= x`` (implied, but they let the simplex prune: without them
    z3 and cvc5 time out on small networks) and the split ``y = x or y = 0``."""
    constraints = []
    for y, x in query.relu.tolist():
        out, into = variables[y], variables[x]
        if query.lb[x] >= 0:
            constraints.append(out == into)
        elif query.ub[x] <= 0:
            constraints.append(out == 0)
        else:
            constraints.extend([out >= 0, out >= into, api.Or(out == into, out == 0)])
    return constraints


def _indicators(api: ModuleType, query: Query, variables: list[Any]) -> list[Any]:
    """``z = 1 -> row`` as an implication: exact, with no big-M."""
    if query.ind_A is None:
        return []
    constraints = []
    terms = _row_terms(api, variables, query.ind_A, query.integer)
    rows = zip(terms, query.ind_var.tolist(), query.ind_lb, query.ind_ub, strict=True)
    for (term, integral), z, lo, hi in rows:
        body = _within(api, term, lo, hi, integral)
        if body:
            constraints.append(api.Implies(variables[z] == 1, _conjunction(api, body)))
    return constraints


def _integral_rows(matrix: sp.csr_matrix, integer: np.ndarray) -> np.ndarray:
    """Rows whose value is always an integer (integer variables, integral coefficients)."""
    fractional = (matrix.data != np.round(matrix.data)) | ~integer[matrix.indices]
    counts = sp.csr_matrix(
        (fractional.astype(np.int64), matrix.indices, matrix.indptr), shape=matrix.shape
    ).sum(axis=1)
    return np.asarray(counts).ravel() == 0


def _linear(
    api: ModuleType, variables: list[Any], columns: list[int], coefficients: list[float]
) -> Any | None:
    """``sum a_j v_j`` over the nonzeros, or None for an empty row (the constant 0)."""
    terms = [
        _scaled(api, variables[j], Fraction(a))
        for j, a in zip(columns, coefficients, strict=True)
        if a != 0
    ]
    if not terms:
        return None
    return sum_of(api, terms)


def _scaled(api: ModuleType, variable: Any, coefficient: Fraction) -> Any:
    if coefficient == 1:
        return variable
    if coefficient == -1:
        return -variable
    return constant(api, coefficient) * variable


def constant(api: ModuleType, value: Fraction) -> Any:
    """A Python int when integral (so Int terms stay Int), otherwise an exact rational term."""
    if value.denominator == 1:
        return int(value)
    return api.RealVal(f"{value.numerator}/{value.denominator}")


def _within(api: ModuleType, term: Any | None, lo: float, hi: float, integral: bool) -> list[Any]:
    """``lo <= term <= hi`` (``term`` None: the constant 0). An integral term's bounds are
    rounded inward, which is exact and keeps pure integer problems free of rationals."""
    if lo == math.inf or hi == -math.inf:
        return [api.BoolVal(False)]
    low = None if lo == -math.inf else Fraction(lo)
    high = None if hi == math.inf else Fraction(hi)
    if integral:
        low = None if low is None else Fraction(math.ceil(low))
        high = None if high is None else Fraction(math.floor(high))
    if term is None:
        holds = (low is None or low <= 0) and (high is None or high >= 0)
        return [] if holds else [api.BoolVal(False)]
    if low is not None and low == high:
        return [term == constant(api, low)]
    constraints = []
    if low is not None:
        constraints.append(term >= constant(api, low))
    if high is not None:
        constraints.append(term <= constant(api, high))
    return constraints


def sum_of(api: ModuleType, terms: list[Any]) -> Any:
    """``Sum`` of a non-empty list (cvc5 refuses a one-term sum)."""
    return terms[0] if len(terms) == 1 else api.Sum(terms)


def _conjunction(api: ModuleType, constraints: list[Any]) -> Any:
    return constraints[0] if len(constraints) == 1 else api.And(constraints)


# -- results ---------------------------------------------------------------------------------


def unknown_status(reason: str, clock: Deadline) -> SolveStatus:
    """A solver's "unknown" is a timeout when it says so or when the budget is spent."""
    lowered = reason.lower()
    if "timeout" in lowered or "canceled" in lowered or clock.expired():
        return "timeout"
    return "unknown"


def unsolved(reason: str, clock: Deadline) -> Solution:
    return Solution(unknown_status(reason, clock), seconds=clock.elapsed(), message=reason)


def infeasible(clock: Deadline) -> Solution:
    return Solution("infeasible", seconds=clock.elapsed(), exact=True)


def found(
    query: Query,
    status: SolveStatus,
    exact: list[Fraction],
    irrational: list[int],
    clock: Deadline,
    message: str = "",
) -> Solution:
    """A Solution from a model: float64 values, and the exact rationals in ``extra``.

    ``irrational`` lists the variables whose model value is an irrational algebraic number;
    their entries in ``exact_values`` are rational approximations.
    """
    extra: dict[str, Any] = {"exact_values": exact}
    if irrational:
        extra["irrational"] = irrational
    if query.soft.size:
        extra["soft_kept"] = soft_kept(query, exact)
    objective: float | None = None
    if query.objective is not None:
        columns = np.flatnonzero(query.objective).tolist()
        objective = float(sum(Fraction(query.objective[j]) * exact[j] for j in columns))
    elif _maximises_soft(query):
        objective = float(extra["soft_kept"])
    return Solution(
        status,
        values=np.array([float(v) for v in exact], dtype=np.float64),
        objective=objective,
        seconds=clock.elapsed(),
        exact=True,
        message=message,
        extra=extra,
    )


def soft_kept(query: Query, exact: list[Fraction]) -> int:
    return sum(1 for s in query.soft.tolist() if exact[s] == 1)
