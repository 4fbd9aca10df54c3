"""Any Pyomo solver (``appsi_highs`` by default), for users whose solver nnv does not wrap.

Pyomo builds one Python expression per row, so this is slower to compile than the ``highs``
plugin; its worth is reach (Gurobi, CPLEX, CBC, GLPK, ... through one option). Pyomo is
imported on first use, so listing plugins does not pay for it.

Backends and what they take (Pyomo 6.10): every one takes linear rows, integers and a linear
objective. ``appsi_highs`` and ``highs`` (the newer ``pyomo.contrib.solver`` interface) both run
HiGHS, but only ``highs`` accepts a quadratic objective (``appsi_highs`` raises a DegreeError),
and HiGHS has no MIQP; Gurobi's and CPLEX's interfaces take one too. Other backends (CBC, GLPK,
...) are taken to be linear. A solver's ``capabilities`` are its backend's
(:func:`backend_capabilities`); the class lists the default backend's, which ``nnv plugins``
shows.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from nnv.core import (
    Capability,
    CapabilityError,
    InputError,
    Query,
    Solution,
    Solver,
    hookimpl,
)
from nnv.core.status import SolveStatus

from ._highs_options import check_highs_options, quiet_highs

if TYPE_CHECKING:
    import pyomo.environ as pyo
    from pyomo.opt import SolverResults

QUADRATIC_BACKENDS = frozenset(
    {
        "highs",
        "gurobi",
        "gurobi_direct",
        "gurobi_persistent",
        "cplex",
        "cplex_direct",
        "cplex_persistent",
    }
)
HIGHS_BACKENDS = frozenset({"highs", "appsi_highs"})
DEFAULT_BACKEND = "appsi_highs"


def backend_capabilities(backend: str) -> frozenset[Capability]:
    """What the Pyomo solver ``backend`` takes: a MILP, and a quadratic objective for some."""
    milp = frozenset({Capability.LINEAR, Capability.INTEGER, Capability.OPTIMIZE})
    return milp | {Capability.QUADRATIC} if backend in QUADRATIC_BACKENDS else milp


class PyomoSolver(Solver):
    """A Query solved by any Pyomo solver; options other than ``solver`` go to the backend."""

    name = "pyomo"
    capabilities = backend_capabilities(DEFAULT_BACKEND)
    description = "any Pyomo solver (appsi_highs by default); QP with highs, gurobi or cplex"

    def __init__(self, solver: str = DEFAULT_BACKEND, **options: Any) -> None:
        if not isinstance(solver, str):
            raise InputError(f"solver 'pyomo': option 'solver' takes a string, not {solver!r}")
        self.backend = solver
        _factory(solver)  # fail at configuration, not in the middle of a search
        super().__init__(**options)
        self.capabilities = backend_capabilities(solver)

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """A HiGHS backend's options are HiGHS's, checked now; other backends' options go to
        them unchecked (Pyomo has no list of what, say, CBC takes)."""
        if self.backend in HIGHS_BACKENDS:
            check_highs_options(self.name, options)
        return options

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        start = time.perf_counter()
        self._check(query)
        _reject_nan(query)
        if _empty_row_broken(query):
            return Solution("infeasible", message="a row without variables excludes 0")
        if query.n_vars == 0:
            objective = None if query.objective is None else 0.0
            return Solution("optimal", values=np.zeros(0), objective=objective)
        deadline = None if timeout is None else start + timeout
        solution = self._solve_model(_model(query), query, deadline)
        solution.seconds = time.perf_counter() - start
        return solution

    def _check(self, query: Query) -> None:
        quadratic = _has_quadratic(query)
        if quadratic and Capability.QUADRATIC not in self.capabilities:
            raise CapabilityError(f"pyomo solver {self.backend!r} takes no quadratic objective")
        if quadratic and query.integer.any() and self.backend in HIGHS_BACKENDS:
            raise CapabilityError("HiGHS has no MIQP: a quadratic objective needs no integers")

    def _solve_model(
        self, model: pyo.ConcreteModel, query: Query, deadline: float | None
    ) -> Solution:
        results = self._run(model, deadline)
        termination = str(results.solver.termination_condition)
        if termination in ("unbounded", "infeasibleOrUnbounded"):
            return self._feasibility(model, query, deadline)
        return _answer(model, query, results, termination)

    def _feasibility(
        self, model: pyo.ConcreteModel, query: Query, deadline: float | None
    ) -> Solution:
        """Solve again without the objective: "infeasible or unbounded" becomes one of them."""
        import pyomo.environ as pyo

        model.objective.deactivate()
        variables = list(model.v.values())
        model.feasibility = pyo.Objective(expr=_costs(np.zeros(len(variables)), variables))
        results = self._run(model, deadline)
        termination = str(results.solver.termination_condition)
        solution = _answer(model, query, results, termination)
        if solution.found:
            solution.status, solution.objective = "feasible", None
            solution.message = "the objective is unbounded"
        return solution

    def _run(self, model: pyo.ConcreteModel, deadline: float | None) -> SolverResults:
        if self.backend in HIGHS_BACKENDS:
            quiet_highs()  # the first Highs() of a process prints a banner on stdout
        limit = None if deadline is None else max(deadline - time.perf_counter(), 1e-3)
        return _factory(self.backend).solve(
            model, tee=False, load_solutions=False, timelimit=limit, options=dict(self.options)
        )


def _factory(name: str) -> Any:
    """A fresh Pyomo solver, so that persistent backends never carry state between solves."""
    import pyomo.environ as pyo
    from pyomo.common.log import LoggingIntercept

    with LoggingIntercept(io.StringIO(), "pyomo"):  # an unknown name logs a traceback
        solver = pyo.SolverFactory(name)
        available = solver is not None and solver.available(exception_flag=False)
    if not available:
        raise InputError(f"pyomo solver {name!r} is not available")
    return solver


def _reject_nan(query: Query) -> None:
    """HiGHS takes a NaN coefficient without complaint and answers as if it were not there."""
    if query.has_nan():
        raise InputError("the problem has NaN coefficients or bounds (NaN weights?)")


def _has_quadratic(query: Query) -> bool:
    return query.quadratic is not None and query.quadratic.nnz > 0


def _empty_row_broken(query: Query) -> bool:
    """Rows with no variables are the constant 0: decided here, never sent to Pyomo."""
    empty = np.diff(sp.csr_matrix(query.A).indptr) == 0
    return bool(np.any(empty & ((query.row_lb > 0) | (query.row_ub < 0))))


def _model(query: Query) -> pyo.ConcreteModel:
    import pyomo.environ as pyo

    model = pyo.ConcreteModel()
    integer, lb, ub = query.integer.tolist(), _bounds(query.lb), _bounds(query.ub)
    model.v = pyo.Var(
        range(query.n_vars),
        domain=lambda _, i: pyo.Integers if integer[i] else pyo.Reals,
        bounds=lambda _, i: (lb[i], ub[i]),
    )
    variables = list(model.v.values())
    _add_rows(model, query, variables)
    sense = pyo.maximize if query.maximize else pyo.minimize
    model.objective = pyo.Objective(expr=_objective(query, variables), sense=sense)
    return model


def _add_rows(model: pyo.ConcreteModel, query: Query, variables: list[Any]) -> None:
    import pyomo.environ as pyo

    matrix = sp.csr_matrix(query.A)
    matrix.sum_duplicates()
    start, columns, coefficients = matrix.indptr, matrix.indices, matrix.data
    lo, hi = _bounds(query.row_lb), _bounds(query.row_ub)
    bounded = np.isfinite(query.row_lb) | np.isfinite(query.row_ub)
    rows = np.flatnonzero((np.diff(start) > 0) & bounded).tolist()

    def row(_: Any, r: int) -> tuple[Any, ...]:
        span = slice(start[r], start[r + 1])
        return (lo[r], _linear(coefficients[span], columns[span], variables), hi[r])

    model.rows = pyo.Constraint(rows, rule=row)


def _objective(query: Query, variables: list[Any]) -> Any:
    """``c.v + 0.5 v'Qv`` (``c = 0`` without an objective)."""
    import pyomo.environ as pyo

    costs = np.zeros(query.n_vars) if query.objective is None else query.objective
    expression = _costs(costs, variables)
    if _has_quadratic(query):
        q = sp.coo_matrix(query.quadratic)
        expression = expression + pyo.quicksum(
            0.5 * value * variables[i] * variables[j]
            for value, i, j in zip(q.data.tolist(), q.row.tolist(), q.col.tolist(), strict=True)
        )
    return expression


def _costs(costs: np.ndarray, variables: list[Any]) -> Any:
    """Every variable, zeros included: appsi needs an objective even for feasibility, and
    HiGHS refuses a model whose variables appear nowhere (say, one with no rows)."""
    return _linear(np.asarray(costs, dtype=np.float64), np.arange(len(variables)), variables)


def _linear(coefficients: np.ndarray, columns: np.ndarray, variables: list[Any]) -> Any:
    from pyomo.core.expr.numeric_expr import LinearExpression

    return LinearExpression(
        constant=0.0,
        linear_coefs=coefficients.tolist(),
        linear_vars=[variables[j] for j in columns.tolist()],
    )


def _bounds(values: np.ndarray) -> list[float | None]:
    """Pyomo spells an infinite bound ``None``."""
    bounds = np.asarray(values, dtype=np.float64).astype(object)
    bounds[~np.isfinite(values)] = None
    return bounds.tolist()


_OPTIMAL = frozenset({"optimal", "globallyOptimal"})
_ERRORS = frozenset(
    {
        "error",
        "solverFailure",
        "internalSolverError",
        "licensingProblems",
        "invalidProblem",
    }
)


def _answer(
    model: pyo.ConcreteModel, query: Query, results: SolverResults, termination: str
) -> Solution:
    """Map Pyomo's termination condition; a loaded solution is feasible, optimal only if proven."""
    if termination == "infeasible":
        return Solution("infeasible")
    if termination in _ERRORS:
        return Solution("error", message=f"pyomo: {termination} ({results.solver.message})")
    if len(results.solution):
        status: SolveStatus = "optimal" if termination in _OPTIMAL else "feasible"
        return _found(model, query, results, status, "" if status == "optimal" else termination)
    if termination == "maxTimeLimit":
        return Solution("timeout", message=termination)
    return Solution("unknown", message=termination)


def _found(
    model: pyo.ConcreteModel,
    query: Query,
    results: SolverResults,
    status: SolveStatus,
    message: str,
) -> Solution:
    import pyomo.environ as pyo
    from pyomo.common.log import LoggingIntercept

    with LoggingIntercept(io.StringIO(), "pyomo"):  # "loading an aborted result" is expected
        try:
            model.solutions.load_from(results)
        except ValueError as error:  # a solution under a status Pyomo will not load
            return Solution("unknown", message=str(error))
    values = np.array([v.value for v in model.v.values()], dtype=np.float64)
    # Backends that write files may drop a variable in no row: any in-bound value does then.
    values = np.where(np.isnan(values), np.clip(0.0, query.lb, query.ub), values)
    values = np.where(query.integer, np.round(values), values)
    has_objective = query.objective is not None or _has_quadratic(query)
    objective = float(pyo.value(model.objective)) if has_objective else None
    return Solution(status, values=values, objective=objective, message=message)


@hookimpl
def nnv_solvers() -> dict[str, type[Solver]]:
    return {"pyomo": PyomoSolver}
