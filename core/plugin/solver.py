"""What a solver plugin is: it solves a Query, says what it can take, and checks its options.

The base class owns the public entry, :meth:`Solver.solve`: it reduces the Query to what the
solver takes (:func:`prepare`), calls the plugin's :meth:`Solver._solve`, and checks the answer
against the Query it was given before anyone trusts it (as CVXPY's solvers sit behind its
reductions). No caller can reach a plugin's ``_solve`` with a feature it did not declare, and
no point that breaks the original Query comes back as ``optimal`` or ``feasible``.

Capabilities (the strings a solver lists in ``capabilities``):

- ``linear``: linear rows and variable bounds (every solver);
- ``integer``: integer and binary variables;
- ``relu``: ReLU pairs natively (SMT solvers); without it ReLUs become big-M rows;
- ``indicator``: indicator rows natively; without it they become big-M rows;
- ``bilinear``: products of two variables (nonlinear real arithmetic);
- ``quadratic``: a convex quadratic objective (a QP);
- ``soft``: soft constraints natively (maximise how many hold, or at least a threshold);
- ``optimize``: a linear objective;
- ``quantifiers``: universally quantified blocks;
- ``exact``: rational arithmetic, so ``infeasible`` is a proof rather than a float verdict;
- ``warm_start``: it starts from ``Query.start`` (an incumbent, an earlier basis) and returns
  a basis in ``Solution.extra["basis"]`` that a later, larger problem may start from.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, final

import numpy as np

from nnv.core.errors import CapabilityError, InputError
from nnv.core.plugin.solver_options import typed_options
from nnv.core.query.form import Query
from nnv.core.query.reductions import indicators_to_big_m, relu_to_big_m, soft_to_objective

Status = Literal["optimal", "feasible", "infeasible", "timeout", "unknown", "error"]


# How far (relative to the size of the terms) a solver's point may break the Query it was
# given: float solvers meet their tolerances (1e-9 for highs) on scaled, reduced problems.
CHECK_TOLERANCE = 1e-6


@dataclass
class Solution:
    """A solver's answer. ``values`` is set for ``optimal`` and ``feasible``."""

    status: Status
    values: np.ndarray | None = None
    objective: float | None = None
    seconds: float = 0.0
    exact: bool = False  # the verdict was reached in exact (rational) arithmetic
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return self.status in ("optimal", "feasible") and self.values is not None


@dataclass(frozen=True)
class NoOptions:
    """The options of a solver that takes none."""


class Solver(abc.ABC):
    """Base class of solver plugins. Options come in the constructor (scikit-learn style) and
    are checked there; :meth:`solve` is the one way in, and plugins implement :meth:`_solve`.
    """

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]
    description: ClassVar[str] = ""
    # The options this solver takes: a dataclass whose fields name them, with their types
    # and defaults. A solver whose library knows its own options overrides check_options.
    Options: ClassVar[type] = NoOptions

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "solve" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides Solver.solve, which reduces and checks every Query; "
                "implement _solve(query, timeout) instead"
            )

    def __init__(self, **options: Any) -> None:
        self.options: dict[str, Any] = self.check_options(dict(options))

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options to keep, defaults filled in; an ``InputError`` names an unknown option
        or a value of the wrong type, so a bad option fails when the solver is built."""
        return typed_options(self.name, self.Options, options)

    @final
    def solve(self, query: Query, timeout: float | None = None) -> Solution:
        """Solve ``query`` within ``timeout`` seconds (None: no limit).

        The Query is first reduced to what this solver takes (ReLUs and indicators to big-M
        rows, soft constraints to an objective; a ``CapabilityError`` when no reduction fits),
        and a point the solver returns is checked against ``query`` itself: one that breaks
        it comes back ``unknown``, never ``optimal`` or ``feasible``. ``values`` hold one entry
        per variable of ``query`` (the reductions' extra binaries are dropped).
        """
        prepared = prepare(query, self.capabilities, self.name)
        solution = self._solve(prepared, timeout)
        if solution.values is None:
            return solution
        return _checked(self.name, query, prepared, solution)

    @abc.abstractmethod
    def _solve(self, query: Query, timeout: float | None) -> Solution:
        """Solve a Query that holds only what ``capabilities`` lists (plugins implement this).

        Honour ``timeout`` (seconds left to the caller, or None); return ``values`` in the
        order of ``query``'s variables for ``optimal`` and ``feasible``.
        """


def _checked(name: str, query: Query, prepared: Query, solution: Solution) -> Solution:
    """``solution`` with values for ``query``'s variables only, if they satisfy it."""
    if not solution.found:  # values without a verdict that uses them: drop them
        return dataclasses.replace(solution, values=None)
    values = np.asarray(solution.values, dtype=np.float64)
    if values.shape != (prepared.n_vars,):
        return replace_status(
            solution,
            "error",
            f"solver {name!r} returned {values.size} values for {prepared.n_vars} variables",
        )
    values = values[: query.n_vars]
    broken = query.check_values(values, tol=CHECK_TOLERANCE)
    if broken:
        message = f"solver {name!r} returned a point that breaks the problem: {'; '.join(broken)}"
        return replace_status(solution, "unknown", message)
    return dataclasses.replace(solution, values=values)


def replace_status(solution: Solution, status: Status, message: str) -> Solution:
    """The same answer demoted to ``status``: no values, no objective, no exactness."""
    return dataclasses.replace(
        solution, status=status, values=None, objective=None, exact=False, message=message
    )


def prepare(query: Query, capabilities: frozenset[str] | set[str], solver_name: str) -> Query:
    """Rewrite ``query`` with the reductions needed for a solver with ``capabilities``.

    Raises :class:`CapabilityError` naming the missing capability when no reduction exists.
    """
    needed = query.features()
    if "soft" in needed and "soft" not in capabilities:
        query = soft_to_objective(query)
        needed = query.features()
        if query.objective is not None and "optimize" not in capabilities:
            raise CapabilityError(f"solver {solver_name!r} cannot optimise soft constraints")
    if "relu" in needed and "relu" not in capabilities:
        if "integer" not in capabilities:
            raise CapabilityError(f"solver {solver_name!r} takes neither ReLUs nor integers")
        query = relu_to_big_m(query)
    if "indicator" in needed and "indicator" not in capabilities:
        if "integer" not in capabilities:
            raise CapabilityError(f"solver {solver_name!r} takes neither indicators nor integers")
        query = indicators_to_big_m(query)
    missing = query.features() - set(capabilities)
    if query.objective is not None and "optimize" not in capabilities:
        missing.add("optimize")
    if missing:
        hint = {
            "bilinear": "free parameters that multiply each other need z3 or cvc5",
            "quadratic": "a quadratic objective needs a QP solver such as highs",
        }
        reasons = "; ".join(hint.get(item, item) for item in sorted(missing))
        raise CapabilityError(
            f"solver {solver_name!r} cannot take this problem (needs {', '.join(sorted(missing))}"
            f"): {reasons}"
        )
    return query


def parse_options(pairs: list[str]) -> Mapping[str, Any]:
    """``["key=value", ...]`` from the command line into typed options (int, float, bool, str).

    Whether a value suits its option is for the solver to say when it is built
    (:meth:`Solver.check_options`), in one ``InputError``.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"solver option {pair!r} is not of the form key=value")
        options[key.strip()] = _typed(raw.strip())
    return options


def _typed(raw: str) -> Any:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw
