"""HiGHS through highspy: LP, MILP and convex QP, compiled with array calls only.

The whole model goes to HiGHS in one ``passModel`` built from numpy arrays, so compiling a
Query costs the same whether it has ten rows or a hundred thousand. HiGHS has no MIQP.

Warm starts (``Query.start``): a MILP takes the given point as its incumbent (HiGHS completes
a partial one); an LP starts from an earlier basis, extended for the columns and rows added
since (new columns at a bound, new rows basic), so a CEGIS round that adds counterexample rows
costs a few dual simplex iterations rather than a solve from scratch.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

import highspy
import numpy as np

from nnv.core import (
    Capability,
    CapabilityError,
    InputError,
    Solution,
    Solver,
    hookimpl,
)
from nnv.core.status import SolveStatus

from ._highs_options import check_highs_options, quiet_highs, set_highs_option

if TYPE_CHECKING:
    import scipy.sparse as sp

    from nnv.core import Query

_Model = highspy.HighsModelStatus
_Status = highspy.HighsBasisStatus
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


def _scheduler_after_fork() -> None:
    """A forked child (a repair trial) has none of the parent's HiGHS worker threads, only
    the pool's record of them: a MIP there would wait for them for ever. Drop the record
    (without joining threads that are not there), so the child's first solve makes its own."""
    global _scheduler_lock, _scheduler_threads
    highspy.Highs.resetGlobalScheduler(False)
    _scheduler_lock, _scheduler_threads = threading.Lock(), None


os.register_at_fork(after_in_child=_scheduler_after_fork)


class HighsSolver(Solver):
    """LP, MILP and convex QP with HiGHS; options are HiGHS option names."""

    name = "highs"
    capabilities = frozenset(
        {
            Capability.LINEAR,
            Capability.INTEGER,
            Capability.OPTIMIZE,
            Capability.QUADRATIC,
            Capability.WARM_START,
        }
    )
    description = "HiGHS (highspy): LP, MILP and convex QP through its array API"

    # Tighter than HiGHS's own defaults: big-M rows turn integrality slack into false
    # counterexamples, and repair wants the true optimum, not one within 0.01 %.
    defaults: ClassVar[dict[str, Any]] = {
        "mip_rel_gap": 1e-6,
        "primal_feasibility_tolerance": 1e-9,
        "dual_feasibility_tolerance": 1e-9,
        "mip_feasibility_tolerance": 1e-9,
    }

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """HiGHS's own option names, types and ranges, checked now rather than at solve time."""
        check_highs_options(self.name, options)
        return options

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        start = time.perf_counter()
        if _is_quadratic(query) and query.integer.any():
            raise CapabilityError("HiGHS has no MIQP: a quadratic objective needs no integers")
        _reject_nan(query)
        if query.n_vars == 0:
            return _without_variables(query)
        highs = self._configured(timeout)
        if query.absolute_gap is not None and "mip_abs_gap" not in self.options:
            set_highs_option(highs, "mip_abs_gap", query.absolute_gap)
            set_highs_option(highs, "mip_rel_gap", 0.0)
        if highs.passModel(_model(query)) == highspy.HighsStatus.kError:
            return Solution("error", message="HiGHS rejected the model")
        _mark_integers(highs, query.integer)
        if query.start is not None:
            _warm_start(highs, query)
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
        highs = quiet_highs()
        options = {**self.defaults, **self.options}
        if timeout is not None:
            options["time_limit"] = max(float(timeout), 1e-3)
        if options.get("threads"):
            _claim_scheduler(int(options["threads"]))  # an int: checked when built
        for key, value in options.items():
            set_highs_option(highs, key, value)
        return highs


def _warm_start(highs: highspy.Highs, query: Query) -> None:
    """An incumbent for a MILP, an earlier basis for an LP (see the module docstring)."""
    start = query.start
    assert start is not None
    if query.integer.any():
        if start.values is None:
            return
        values = np.full(query.n_vars, np.nan)
        given = np.asarray(start.values, dtype=np.float64)[: query.n_vars]
        values[: given.size] = given
        known = np.flatnonzero(np.isfinite(values)).astype(np.int32)
        if known.size:
            highs.setSolution(int(known.size), known, values[known])
    elif start.basis is not None and not _is_quadratic(query):
        basis = _extended_basis(start.basis, query)
        if basis is not None:
            highs.setBasis(basis)


def _extended_basis(
    earlier: tuple[np.ndarray, np.ndarray], query: Query
) -> highspy.HighsBasis | None:
    """An earlier LP's basis for this larger one: its columns and rows first, the new columns
    non-basic at a finite bound (or zero), the new rows basic. None when it does not fit."""
    columns, rows = (np.asarray(part, dtype=np.int64) for part in earlier)
    if columns.size > query.n_vars or rows.size > query.n_rows:
        return None
    lower = np.isfinite(query.lb[columns.size :])
    upper = np.isfinite(query.ub[columns.size :])
    new_columns = np.where(
        lower, int(_Status.kLower), np.where(upper, int(_Status.kUpper), int(_Status.kZero))
    )
    basis = highspy.HighsBasis()
    basis.col_status = [_Status(int(v)) for v in np.concatenate([columns, new_columns])]
    new_rows = np.full(query.n_rows - rows.size, int(_Status.kBasic))
    basis.row_status = [_Status(int(v)) for v in np.concatenate([rows, new_rows])]
    basis.valid = True
    return basis


def _basis_of(highs: highspy.Highs) -> tuple[np.ndarray, np.ndarray] | None:
    """The optimal LP's basis as arrays (what a later warm start takes), if it has one."""
    basis = highs.getBasis()
    if not basis.valid:
        return None
    return (
        np.array([int(s) for s in basis.col_status], dtype=np.int8),
        np.array([int(s) for s in basis.row_status], dtype=np.int8),
    )


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
    import scipy.sparse as sp  # loaded already: the query's rows are one of its matrices

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
    import scipy.sparse as sp  # loaded already: the query's rows are one of its matrices

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
        solution = _found(highs, query, "optimal", "")
        if not query.integer.any() and not _is_quadratic(query):
            basis = _basis_of(highs)
            if basis is not None:
                solution.extra["basis"] = basis
        return solution
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


def _found(highs: highspy.Highs, query: Query, status: SolveStatus, message: str) -> Solution:
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
