"""An nnv solver plugin: mixed-integer linear programs through ``scipy.optimize.milp``.

This module is the whole plugin. It uses only nnv's public interface, :mod:`nnv.core`:

- :class:`ScipyMilpSolver` subclasses :class:`nnv.core.Solver`: it names itself, lists the
  capabilities it has, declares its options, and implements the hook
  :meth:`~nnv.core.Solver._solve`;
- :func:`nnv_solvers` is a hook implementation (``@hookimpl``) that hands nnv the class by
  name;
- ``pyproject.toml`` points the entry-point group ``nnv`` at this module, which is how nnv
  finds it once the distribution is installed.

Callers use :meth:`nnv.core.Solver.solve`, which the base class owns: because this solver
lists neither ``relu`` nor ``indicator`` nor ``soft``, it rewrites every Query before
:meth:`_solve` sees it (ReLU pairs and indicator rows become big-M rows over binaries, soft
constraints an objective), and it checks the point returned against the original Query. What
arrives here is therefore always a MILP: bounds, linear rows, integrality and perhaps a
linear objective.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from nnv.core import InputError, Query, Solution, Solver, hookimpl

__version__ = "0.1.0"


@dataclass(frozen=True)
class ScipyMilpOptions:
    """The solver's options (``--solver-option key=value``): names, types and defaults.

    nnv checks them when the solver is built: an unknown name or a value of the wrong type is
    one line (``nnv: error: solver 'scipy-milp' has no option 'colour' (known: ...)``) and
    exit code 2. A check beyond the type goes in ``__post_init__``, as an ``InputError``.
    """

    time_limit: float | None = None  # seconds; the caller's timeout wins when tighter
    mip_rel_gap: float | None = None
    node_limit: int | None = None
    presolve: bool = True
    disp: bool = False

    def __post_init__(self) -> None:
        if self.time_limit is not None and self.time_limit <= 0:
            raise InputError("solver 'scipy-milp': time_limit must be positive")


class ScipyMilpSolver(Solver):
    """MILP through scipy.optimize.milp (HiGHS bundled with SciPy); floating point."""

    name = "scipy-milp"
    capabilities = frozenset({"linear", "integer", "optimize"})
    description = "MILP through scipy.optimize.milp (HiGHS bundled with SciPy); floating point"
    Options = ScipyMilpOptions  # self.options: these fields, as a dict, defaults filled in

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        """Solve a Query that holds only bounds, linear rows, integrality and an objective.

        ``timeout`` is the time left to the caller (seconds, or None for no limit); the
        tighter of it and the ``time_limit`` option is passed to SciPy.
        """
        start = time.perf_counter()
        n = query.n_vars
        if n == 0:  # SciPy needs a variable; with none, every row reads 0 in [row_lb, row_ub]
            holds = bool(np.all(query.row_lb <= 0) and np.all(query.row_ub >= 0))
            if not holds:
                return Solution("infeasible", message="a row without variables excludes 0")
            return Solution(
                "optimal", values=np.zeros(0), objective=None if query.objective is None else 0.0
            )

        # milp minimises c @ x; a feasibility problem has c = 0. Maximising is minimising -c.
        objective = np.zeros(n) if query.objective is None else np.asarray(query.objective)
        sign = -1.0 if query.maximize else 1.0

        # Rows row_lb <= A x <= row_ub map one to one onto a LinearConstraint (A stays sparse;
        # -inf/inf are allowed on either side). SciPy rejects an empty constraint matrix.
        constraints = []
        if query.n_rows:
            constraints.append(LinearConstraint(query.A, query.row_lb, query.row_ub))

        options: dict[str, Any] = {
            "presolve": self.options["presolve"],
            "disp": self.options["disp"],
        }
        for key in ("mip_rel_gap", "node_limit"):
            if self.options[key] is not None:
                options[key] = self.options[key]
        limits = [t for t in (timeout, self.options["time_limit"]) if t is not None]
        if limits:
            options["time_limit"] = max(min(limits), 1e-3)  # SciPy needs a positive limit

        result = milp(
            sign * objective,
            integrality=np.asarray(query.integer, dtype=np.uint8),  # 1 = integer, 0 = real
            bounds=Bounds(query.lb, query.ub),
            constraints=constraints,
            options=options,
        )
        seconds = time.perf_counter() - start

        # SciPy's status codes -> nnv's. A limit that stops the search after it found a point
        # still answers a feasibility question, so it is "feasible", not "timeout".
        if result.status == 0:
            status = "optimal"
        elif result.status == 1:
            status = "feasible" if result.x is not None else "timeout"
        elif result.status == 2:
            status = "infeasible"
        else:  # 3 unbounded, 4 other: no verdict nnv can use
            status = "unknown"
        found = status in ("optimal", "feasible")
        values = np.asarray(result.x, dtype=np.float64) if found else None
        value = None
        if values is not None and query.objective is not None:
            value = float(objective @ values)  # in the Query's own sense (max or min)
        return Solution(
            status=status,
            values=values,
            objective=value,
            seconds=seconds,
            exact=False,  # floating point: "infeasible" is a float verdict, not a proof
            message="" if status == "optimal" else str(result.message),
            extra={"scipy_status": int(result.status)},
        )


@hookimpl
def nnv_solvers() -> dict[str, type[Solver]]:
    """Contribute the solver to nnv: the name users pass to ``--solver``, and its class."""
    return {ScipyMilpSolver.name: ScipyMilpSolver}
