"""Which grounding a property gets, with its solvers from the registry, checked up front."""

from __future__ import annotations

from nnv.core import InputError
from nnv.core.plugin.registry import default_registry

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


def make_grounding(spec: Spec, solver_name: str, solver_options: dict[str, object]) -> Grounding:
    """The grounding for ``spec``, its solvers taken from the registry and checked up front."""
    registry = default_registry()
    tuning = HIGHS_SEARCH if solver_name == "highs" else {}
    search = registry.solver(solver_name, **{**tuning, **solver_options})
    projection = registry.solver(solver_name, **solver_options)
    if "integer" not in search.capabilities:
        raise InputError(f"solver {solver_name!r} takes no integers (the searches are MILPs)")
    if isinstance(spec, LinearInequalities):
        if "quadratic" not in projection.capabilities:
            raise InputError(
                f"solver {solver_name!r} takes no quadratic objective, which the projection "
                "needs (pyomo: --solver-option solver=highs)"
            )
        return LinearGrounding(spec, search, projection)
    return ExclusionGrounding(spec, search, projection)
