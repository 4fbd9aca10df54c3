"""Which grounding a property gets, with its solvers (from the registry), checked up front."""

from __future__ import annotations

from collections.abc import Mapping

from nnv.core import InputError, Solver
from nnv.core.plugin.trainer import SolverLookup

from .exclusion import ExclusionGrounding
from .grounding import Grounding
from .linear import LinearGrounding
from .spec import LinearInequalities, Spec

# HiGHS settings that suit the counterexample searches (options the user gives win): they are
# small MILPs whose time goes mostly to primal heuristics (sub-MIPs above all) that find
# nothing branching does not; without them the searches run 3 to 6 times faster here.
HIGHS_SEARCH = {
    f"mip_heuristic_run_{name}": False
    for name in ("feasibility_jump", "rins", "rens", "root_reduced_cost", "zi_round", "shifting")
}


def search_solver(solvers: SolverLookup, name: str, options: Mapping[str, object]) -> Solver:
    """The solver of the counterexample searches (the certificate's too): HiGHS tuned for
    them unless the user's options say otherwise; it must take integers (they are MILPs)."""
    tuning = HIGHS_SEARCH if name == "highs" else {}
    solver = solvers.solver(name, **{**tuning, **options})
    if "integer" not in solver.capabilities:
        raise InputError(f"solver {name!r} takes no integers (the searches are MILPs)")
    return solver


def make_grounding(
    spec: Spec, name: str, options: Mapping[str, object], solvers: SolverLookup
) -> Grounding:
    """The grounding for ``spec``, its solvers built by ``solvers`` and checked up front."""
    search = search_solver(solvers, name, options)
    projection = solvers.solver(name, **options)
    if isinstance(spec, LinearInequalities):
        if "quadratic" not in projection.capabilities:
            raise InputError(
                f"solver {name!r} takes no quadratic objective, which the projection "
                "needs (pyomo: --solver-option solver=highs)"
            )
        return LinearGrounding(spec, search, projection)
    return ExclusionGrounding(spec, search, projection)
