"""HiGHS through highspy: LP, MILP and convex QP, compiled with array calls only.

The whole model goes to HiGHS in one ``passModel`` built from numpy arrays, so compiling a
Query costs the same whether it has ten rows or a hundred thousand. HiGHS has no MIQP.
"""

from __future__ import annotations

import functools
import numbers
import threading
import time
from typing import Any, ClassVar

import highspy
import numpy as np
import scipy.sparse as sp

from nnv.core import CapabilityError, InputError, Query, Solution, Solver, hookimpl
from nnv.core.quiet import stdout_to_devnull
from nnv.core.solver import Status

_Model = highspy.HighsModelStatus
# The solver stopped early: what it holds is feasible at best, never a proof of optimality.
_STOPPED = frozenset(
    {
        _Model.kTimeLimit,
        _Model.kIterationLimit,
        _Model.kSolutionLimit,
        _Model.kObjectiveBound,
        _Model.kObjectiveTarget,
        _Model.kInterrupt,
        _Model.kMemoryLimit,
        _Model.kUnbounded,
    }
)
_UNDECIDED = frozenset({_Model.kUnboundedOrInfeasible, _Model.kUnknown})

# HiGHS keeps one thread pool per process; asking for another size needs it rebuilt first.
_scheduler_lock = threading.Lock()
_scheduler_threads: int | None = None


class HighsSolver(Solver):
    """LP, MILP and convex QP with HiGHS; options are HiGHS option names."""

    name = "highs"
    capabilities = frozenset({"linear", "integer", "optimize", "quadratic"})
    description = "HiGHS (highspy): LP, MILP and convex QP through its array API"

    # Tighter than HiGHS's own defaults: big-M rows turn integrality slack into false
    # counterexamples, and repair wants the true optimum, not one within 0.01 %.
    defaults: ClassVar[dict[str, Any]] = {
        "mip_rel_gap": 1e-6,
        "primal_feasibility_tolerance": 1e-9,
        "dual_feasibility_tolerance": 1e-9,
        "mip_feasibility_tolerance": 1e-9,
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._configured(None)  # a bad option name or value is reported now, not at solve time

    def solve(self, query: Query, timeout: float | None = None) -> Solution:
        start = time.perf_counter()
        if _is_quadratic(query) and query.integer.any():
            raise CapabilityError("HiGHS has no MIQP: a quadratic objective needs no integers")
        _reject_nan(query)
        if query.n_vars == 0:
            return _without_variables(query)
        highs = self._configured(timeout)
        if query.absolute_gap is not None and "mip_abs_gap" not in self.options:
            _set_option(highs, "mip_abs_gap", query.absolute_gap)
            _set_option(highs, "mip_rel_gap", 0.0)
        if highs.passModel(_model(query)) == highspy.HighsStatus.kError:
            return Solution("error", message="HiGHS rejected the model")
        _mark_integers(highs, query.integer)
        status = _run(highs)
        if status in _UNDECIDED:  # presolve may only know "infeasible or unbounded"
            highs.setOptionValue("presolve", "off")
            if timeout is not None:
                highs.setOptionValue("time_limit", _remaining(timeout, start))
            status = _run(highs)
        solution = _answer(highs, query, status)
        solution.seconds = time.perf_counter() - start
        return solution

    def _configured(self, timeout: float | None) -> highspy.Highs:
        """A fresh HiGHS instance, so that solves never share state."""
        _swallow_banner()
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        options = {**self.defaults, **self.options}
        if timeout is not None:
            options["time_limit"] = max(float(timeout), 1e-3)
        if options.get("threads"):
            _claim_scheduler(int(options["threads"]))
        for key, value in options.items():
            _set_option(highs, key, value)
        return highs


@functools.cache
def _swallow_banner() -> None:
    """The first Highs() of a process writes a banner to fd 1 before any option can stop it,
    which would corrupt the verdict ``nnv verify`` prints on stdout; later ones are silent."""
    with stdout_to_devnull():
        highspy.Highs()


def _set_option(highs: highspy.Highs, key: str, value: Any) -> None:
    status, _ = highs.getOptionType(key)
    if status == highspy.HighsStatus.kError:
        raise InputError(f"unknown HiGHS option {key!r}")
    if highs.setOptionValue(key, _plain(value)) == highspy.HighsStatus.kError:
        raise InputError(f"HiGHS option {key!r} does not take the value {value!r}")


def _plain(value: Any) -> bool | int | float | str:
    """A Python scalar, so pybind picks the right setOptionValue overload (np.float64 would not)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


def _claim_scheduler(threads: int) -> None:
    global _scheduler_threads
    with _scheduler_lock:
        if threads != _scheduler_threads:
            highspy.Highs.resetGlobalScheduler(True)
            _scheduler_threads = threads


def _is_quadratic(query: Query) -> bool:
    return query.quadratic is not None and query.quadratic.nnz > 0


def _model(query: Query) -> highspy.HighsLp | highspy.HighsModel:
    lp = _lp(query)
    if not _is_quadratic(query):
        return lp
    model = highspy.HighsModel()
    model.lp_ = lp
    model.hessian_ = _hessian(query.quadratic, query.n_vars)
    return model


def _lp(query: Query) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_ = query.n_vars
    lp.num_row_ = query.n_rows
    cost = np.zeros(query.n_vars) if query.objective is None else query.objective
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = _highs_inf(query.lb)
    lp.col_upper_ = _highs_inf(query.ub)
    lp.row_lower_ = _highs_inf(query.row_lb)
    lp.row_upper_ = _highs_inf(query.row_ub)
    lp.sense_ = highspy.ObjSense.kMaximize if query.maximize else highspy.ObjSense.kMinimize
    matrix = sp.csc_matrix(query.A)
    matrix.sum_duplicates()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = query.n_vars
    lp.a_matrix_.num_row_ = query.n_rows
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(np.float64)
    return lp


def _hessian(quadratic: sp.spmatrix, n: int) -> highspy.HighsHessian:
    """HiGHS reads the lower triangle of a symmetric Q; v'Qv only sees Q's symmetric part."""
    q = sp.csr_matrix(quadratic, dtype=np.float64)
    lower = sp.tril((q + q.T) * 0.5, format="csc")
    lower.sum_duplicates()
    hessian = highspy.HighsHessian()
    hessian.dim_ = n
    hessian.format_ = highspy.HessianFormat.kTriangular
    hessian.start_ = lower.indptr.astype(np.int32)
    hessian.index_ = lower.indices.astype(np.int32)
    hessian.value_ = lower.data
    return hessian


def _highs_inf(values: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(values, dtype=np.float64), -highspy.kHighsInf, highspy.kHighsInf)


def _mark_integers(highs: highspy.Highs, integer: np.ndarray) -> None:
    columns = np.flatnonzero(integer).astype(np.int32)
    if columns.size:
        kinds = np.full(columns.size, int(highspy.HighsVarType.kInteger), dtype=np.uint8)
        highs.changeColsIntegrality(columns.size, columns, kinds)


def _run(highs: highspy.Highs) -> highspy.HighsModelStatus:
    highs.run()
    return highs.getModelStatus()


def _remaining(timeout: float, start: float) -> float:
    return max(timeout - (time.perf_counter() - start), 1e-3)


def _answer(highs: highspy.Highs, query: Query, status: highspy.HighsModelStatus) -> Solution:
    """Map HiGHS's model status to a Solution; only a primal-feasible point carries values."""
    text = highs.modelStatusToString(status)
    if status == _Model.kOptimal:
        return _found(highs, query, "optimal", "")
    if status == _Model.kInfeasible:
        return Solution("infeasible")
    feasible = highs.getInfo().primal_solution_status == highspy.kSolutionStatusFeasible
    if status == _Model.kUnbounded and feasible:  # a point, but no objective value to report
        solution = _found(highs, query, "feasible", "the objective is unbounded")
        solution.objective = None
        return solution
    if status in _STOPPED and feasible:
        return _found(highs, query, "feasible", text)
    if status == _Model.kTimeLimit:
        return Solution("timeout", message=text)
    if status in _STOPPED | _UNDECIDED:
        return Solution("unknown", message=text)
    return Solution("error", message=f"HiGHS: {text}")


def _found(highs: highspy.Highs, query: Query, status: Status, message: str) -> Solution:
    values = np.asarray(highs.getSolution().col_value, dtype=np.float64)
    # HiGHS returns integers within mip_feasibility_tolerance; callers expect exact ones.
    values = np.where(query.integer, np.round(values), values)
    has_objective = query.objective is not None or _is_quadratic(query)
    objective = highs.getInfo().objective_function_value if has_objective else None
    return Solution(status, values=values, objective=objective, message=message)


def _reject_nan(query: Query) -> None:
    """HiGHS takes a NaN coefficient without complaint and answers as if it were not there."""
    if query.has_nan():
        raise InputError("the problem has NaN coefficients or bounds (NaN weights?)")


def _without_variables(query: Query) -> Solution:
    """HiGHS answers "model empty", not a verdict; with no variables every row is 0."""
    if np.all(query.row_lb <= 0.0) and np.all(query.row_ub >= 0.0):
        objective = None if query.objective is None else 0.0
        return Solution("optimal", values=np.zeros(0), objective=objective)
    return Solution("infeasible")


@hookimpl
def nnv_solvers() -> dict[str, type[Solver]]:
    return {"highs": HighsSolver}
