"""z3 as an nnv solver: exact rational arithmetic, native ReLUs, MaxSMT and optimisation.

Satisfaction goes to ``z3.Solver`` (the faster path); an objective or soft constraints to be
maximised go to ``z3.Optimize``, which is exact for linear arithmetic and, through MaxSMT
cores, for soft constraints over nonlinear arithmetic too.

Known limit: on MaxSMT, z3's Optimize can overrun its timeout many times over (measured: 88 s
for 2 s); its 0-1 variable elimination does not stop for it. ``--solver-option elim_01=false``
restores the timeout, though often at a large cost in speed.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Any

import z3

from nnv.core import Capability, InputError, Query, Solution, Solver, hookimpl
from nnv.core.plugin.options import check_kind, option_error

from ._exact import (
    SMT_CAPABILITIES,
    Compiled,
    Deadline,
    check_supported,
    compile_query,
    found,
    infeasible,
    unsolved,
)


class Z3Solver(Solver):
    """Z3 SMT solver: rational arithmetic, so ``infeasible`` is a proof."""

    name = "z3"
    capabilities = SMT_CAPABILITIES | {Capability.OPTIMIZE}
    description = "Z3 SMT solver (exact rationals; LRA, LIA, NRA; MaxSMT and optimisation)"

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """z3's own parameters (of z3.Solver or z3.Optimize) and their types, checked now:
        z3 itself would only complain at the first assertion, in the middle of a run."""
        kinds = _parameter_kinds()
        unknown = [key for key in options if key not in kinds]
        if unknown:
            listing = "z3.Solver().help() and z3.Optimize().help() list them"
            raise option_error(f"solver {self.name!r}", unknown, kinds, listing)
        for key, value in options.items():
            check_kind(f"solver {self.name!r}", key, value, _KINDS.get(kinds[key], str))
            if kinds[key] == z3.Z3_PK_UINT and value < 0:
                raise InputError(f"solver 'z3': option {key!r} takes an integer >= 0, not {value}")
        return options

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        check_supported(query)
        clock = Deadline(timeout)
        compiled = compile_query(query, z3)
        optimising = compiled.objective is not None or bool(compiled.soft)
        solver: z3.Solver | z3.Optimize = z3.Optimize() if optimising else z3.Solver()
        self._configure(solver, clock)
        solver.add(compiled.constraints)
        goal = _set_goal(solver, query, compiled) if optimising else None
        result = solver.check()
        if result == z3.unsat:
            return infeasible(clock)
        if result == z3.unknown:
            return unsolved(solver.reason_unknown(), clock)
        exact, irrational = _values(solver.model(), compiled.variables)
        if goal is None:
            status = "optimal" if optimising else "feasible"
            return found(query, status, exact, irrational, clock)
        return _optimum(query, goal, exact, irrational, clock)

    def _configure(self, solver: z3.Solver | z3.Optimize, clock: Deadline) -> None:
        """The time budget, then the user's z3 parameters (``--solver-option key=value``). A
        parameter of only one of z3.Solver and z3.Optimize (``elim_01``, say) applies where
        it exists."""
        known = _parameters(solver)
        settings = {key: value for key, value in self.options.items() if key in known}
        remaining = clock.remaining_ms()
        if remaining is not None:
            settings["timeout"] = remaining
        for key, value in settings.items():
            solver.set(key, value)


# z3's parameter kinds -> the Python type a value must have
_KINDS = {
    z3.Z3_PK_BOOL: bool,
    z3.Z3_PK_UINT: int,
    z3.Z3_PK_DOUBLE: float,
    z3.Z3_PK_SYMBOL: str,
    z3.Z3_PK_STRING: str,
}


@functools.cache
def _parameter_kinds() -> dict[str, int]:
    """Every parameter of z3.Solver and z3.Optimize, with its kind."""
    kinds: dict[str, int] = {}
    for descriptions in (z3.Solver().param_descrs(), z3.Optimize().param_descrs()):
        for i in range(descriptions.size()):
            name = descriptions.get_name(i)
            kinds[name] = descriptions.get_kind(name)
    return kinds


def _parameters(solver: z3.Solver | z3.Optimize) -> set[str]:
    descriptions = solver.param_descrs()
    return {descriptions.get_name(i) for i in range(descriptions.size())}


def _set_goal(optimizer: z3.Optimize, query: Query, compiled: Compiled) -> Any | None:
    """Soft binaries become MaxSMT soft constraints (no goal handle needed: a sat answer is
    the maximum); a linear objective returns the handle that tells whether it is attained."""
    for soft in compiled.soft:
        optimizer.add_soft(soft == 1)
    if compiled.objective is None:
        return None
    if query.maximize:
        return optimizer.maximize(compiled.objective)
    return optimizer.minimize(compiled.objective)


def _optimum(
    query: Query, goal: Any, exact: list[Fraction], irrational: list[int], clock: Deadline
) -> Solution:
    """z3 states an optimum as ``infinity * a + value + epsilon * b``: ``a`` nonzero means
    unbounded, ``b`` nonzero a supremum no point attains; either way the model is only
    feasible."""
    bound = goal.upper_values() if query.maximize else goal.lower_values()
    infinite, _, epsilon = (_fraction(v) for v in bound)
    if infinite:
        solution = found(query, "feasible", exact, irrational, clock, "objective is unbounded")
        solution.objective = float("inf") if infinite > 0 else float("-inf")
        return solution
    if epsilon:
        message = "the optimum is a supremum that no point attains"
        return found(query, "feasible", exact, irrational, clock, message)
    return found(query, "optimal", exact, irrational, clock)


def _values(model: z3.ModelRef, variables: list[Any]) -> tuple[list[Fraction], list[int]]:
    """Exact model values; irrational ones (from NRA) as rationals within 1e-20."""
    exact: list[Fraction] = []
    irrational: list[int] = []
    for i, variable in enumerate(variables):
        value = model.eval(variable, model_completion=True)
        if z3.is_algebraic_value(value):
            irrational.append(i)
            value = value.approx(20)
        exact.append(_fraction(value))
    return exact, irrational


def _fraction(value: z3.ArithRef) -> Fraction:
    if z3.is_int_value(value):
        return Fraction(value.as_long())
    return Fraction(value.numerator_as_long(), value.denominator_as_long())


@hookimpl
def nnv_solvers() -> dict[str, type[Solver]]:
    return {"z3": Z3Solver}
