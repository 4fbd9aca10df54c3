"""cvc5 as an nnv solver: exact rational arithmetic through the ``cvc5.pythonic`` API.

cvc5 has no optimisation to speak of, so this solver takes no objective (no "optimize"
capability: a Query with one is refused, never answered approximately). Soft constraints
are maximised exactly by counting: after each model, require one more soft binary to hold,
until that is unsatisfiable. The count is an integer, so the last model is a proven maximum.

Known limit: cvc5 looks at its time limit only between steps, and on float64 weights (exact
rationals with 53-bit numerators) one simplex run can take long: a 3 s budget was overrun to
27 s on a 10-30-30-2 network. ``--solver-option use-soi=true`` brought that to 3.3 s.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import cvc5
import cvc5.pythonic as cp

from nnv.core import InputError, Query, Solution, Solver, hookimpl
from nnv.core.plugin.options import option_error

from ._exact import (
    SMT_CAPABILITIES,
    Compiled,
    Deadline,
    check_supported,
    compile_query,
    found,
    infeasible,
    integral_data,
    soft_kept,
    sum_of,
    unsolved,
)

# bisection steps past an irrational value's isolating interval: relative error 2**-64
_BISECTION_BITS = 64


class Cvc5Solver(Solver):
    """cvc5 SMT solver: rational arithmetic, so ``infeasible`` is a proof."""

    name = "cvc5"
    capabilities = SMT_CAPABILITIES
    description = "cvc5 SMT solver (exact rationals; LRA, LIA, NRA; soft maximum by counting)"

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """cvc5's own options, names and values, checked now on a scratch solver: cvc5
        parses each value itself (``tlimit-per=abc`` is refused with its own reason)."""
        scratch = cvc5.Solver()
        names = set(scratch.getOptionNames())
        unknown = [key for key in options if key not in names]
        if unknown:
            raise option_error(f"solver {self.name!r}", unknown, names, "cvc5 --help lists them")
        for key, value in options.items():
            _set_option(scratch.setOption, key, value)
        return options

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        check_supported(query)
        clock = Deadline(timeout)
        compiled = compile_query(query, cp)
        solver = cp.SolverFor(smt_logic(query))
        for key, value in self.options.items():  # the user's (--solver-option key=value)
            _set_option(solver.set, key, value)
        solver.add(*compiled.constraints)
        result = _check(solver, clock)
        if result == cp.unsat:
            return infeasible(clock)
        if result != cp.sat:
            return unsolved(str(solver.reason_unknown()), clock)
        if compiled.soft:
            return _maximise_soft(solver, query, compiled, clock)
        return found(query, "feasible", *_values(solver, compiled.variables), clock)


def _set_option(setter: Callable[[str, str], Any], key: str, value: Any) -> None:
    """One option as the text cvc5 parses; one it refuses is an ``InputError`` (one line)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        setter(key, text)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "refused"
        raise InputError(f"solver 'cvc5': option {key}={value!r}: {reason}") from None


def smt_logic(query: Query) -> str:
    """The narrowest SMT-LIB logic that holds the Query (cvc5 wants one up front)."""
    if query.universal:
        return "ALL"  # quantified nonlinear real arithmetic with integers
    arithmetic = "N" if query.bilinear.size else "L"
    if not query.integer.any():
        domain = "RA"
    elif integral_data(query):
        domain = "IA"
    else:
        domain = "IRA"
    return f"QF_{arithmetic}{domain}"


def _check(solver: cp.Solver, clock: Deadline) -> Any:
    """One check within what is left of the budget (``tlimit-per`` is per check)."""
    remaining = clock.remaining_ms()
    if remaining is not None:
        solver.set("tlimit-per", str(remaining))
    return solver.check()


def _maximise_soft(
    solver: cp.Solver, query: Query, compiled: Compiled, clock: Deadline
) -> Solution:
    """Raise the required count past each model's until unsat: the last model is a maximum.

    A timeout on the way still returns the best model, as feasible rather than optimal.
    """
    count = sum_of(cp, compiled.soft)
    best = _values(solver, compiled.variables)
    kept = soft_kept(query, best[0])
    while kept < len(compiled.soft):
        solver.add(count >= kept + 1)
        result = _check(solver, clock)
        if result == cp.unsat:
            break
        if result != cp.sat:
            message = f"soft maximum not proven ({solver.reason_unknown()}); best model returned"
            return found(query, "feasible", *best, clock, message)
        best = _values(solver, compiled.variables)
        kept = soft_kept(query, best[0])
    return found(query, "optimal", *best, clock)


def _values(solver: cp.Solver, variables: list[Any]) -> tuple[list[Fraction], list[int]]:
    """Exact model values; irrational ones (from NRA) as rationals within 2**-64 relative."""
    model = solver.model()
    exact: list[Fraction] = []
    irrational: list[int] = []
    for i, variable in enumerate(variables):
        value = model.eval(variable, model_completion=True)
        if cp.is_int_value(value):
            exact.append(Fraction(value.as_long()))
        elif cp.is_rational_value(value):
            exact.append(Fraction(value.as_fraction()))
        else:
            irrational.append(i)
            exact.append(_approximate(value.ast, solver.solver))
    return exact, irrational


def _approximate(number: cvc5.Term, solver: cvc5.Solver) -> Fraction:
    """Bisect a real algebraic number's isolating interval on its defining polynomial, with
    exact rational evaluation (the polynomial changes sign exactly once in the interval)."""
    manager = cp.main_ctx().tm
    point = manager.mkVar(manager.getRealSort(), "t")
    polynomial = number.getRealAlgebraicNumberDefiningPolynomial(point)

    def sign(q: Fraction) -> int:
        at = polynomial.substitute(point, manager.mkReal(q.numerator, q.denominator))
        value = solver.simplify(at).getRealValue()
        return (value > 0) - (value < 0)

    low = number.getRealAlgebraicNumberLowerBound().getRealValue()
    high = number.getRealAlgebraicNumberUpperBound().getRealValue()
    low_sign = sign(low)
    while high - low > max(abs(low), abs(high)) / 2**_BISECTION_BITS:
        middle = (low + high) / 2
        middle_sign = sign(middle)
        if middle_sign == 0:
            return middle
        if middle_sign == low_sign:
            low = middle
        else:
            high = middle
    return (low + high) / 2


@hookimpl
def nnv_solvers() -> dict[str, type[Solver]]:
    return {"cvc5": Cvc5Solver}
