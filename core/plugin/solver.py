"""What a solver plugin is: it solves a Query, says what it can take, and checks its options.

The base class owns the public entry, :meth:`Solver.solve`: it reduces the Query to what the
solver takes (:func:`prepare`), calls the plugin's :meth:`Solver._solve`, and checks the answer
against the Query it was given before anyone trusts it (as CVXPY's solvers sit behind its
reductions). No caller can reach a plugin's ``_solve`` with a feature it did not declare, and
no point that breaks the original Query comes back as ``optimal`` or ``feasible``.

What a solver takes is a set of :class:`~nnv.core.query.capabilities.Capability` members (its
``capabilities``); the enum says what each means. Strings name them as well (``"linear"``).
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, final

import numpy as np

from nnv.core.errors import CapabilityError
from nnv.core.plugin.options import NoOptions, build
from nnv.core.query.capabilities import Capability, as_capabilities
from nnv.core.status import SolveStatus

if TYPE_CHECKING:  # the query machinery (scipy.sparse) loads when a query is solved
    from nnv.core.query.form import Query

# How far (relative to the size of the terms) a solver's point may break the Query it was
# given: float solvers meet their tolerances (1e-9 for highs) on scaled, reduced problems.
CHECK_TOLERANCE = 1e-6


@dataclass
class Solution:
    """A solver's answer. ``values`` is set for ``optimal`` and ``feasible``."""

    status: SolveStatus
    values: np.ndarray | None = None
    objective: float | None = None
    seconds: float = 0.0
    exact: bool = False  # the verdict was reached in exact (rational) arithmetic
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return self.status in ("optimal", "feasible") and self.values is not None


class Solver(abc.ABC):
    """Base class of solver plugins. Options come in the constructor (scikit-learn style) and
    are checked there; :meth:`solve` is the one way in, and plugins implement :meth:`_solve`.
    """

    name: ClassVar[str]
    # What the solver takes, set on the class (what ``nnv plugins`` lists); an instance whose
    # options decide it (pyomo's backend) may narrow it in its constructor.
    capabilities: frozenset[Capability]
    description: ClassVar[str] = ""
    # The options this solver takes: a dataclass whose fields name them, with their types
    # and defaults (see nnv.core.plugin.options). None: a solver whose library knows its own
    # options overrides check_options (without that override it takes none).
    Options: ClassVar[type | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "solve" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides Solver.solve, which reduces and checks every Query; "
                "implement _solve(query, timeout) instead"
            )
        if "capabilities" in cls.__dict__:  # strings become members; a typo fails right here
            cls.capabilities = as_capabilities(cls.__dict__["capabilities"], cls.__name__)

    def __init__(self, **options: Any) -> None:
        self.options: dict[str, Any] = self.check_options(dict(options))

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options to keep, defaults filled in; an ``InputError`` names an unknown option
        or a value of the wrong type, so a bad option fails when the solver is built."""
        built = build(self.Options or NoOptions, options, f"solver {self.name!r}")
        return dataclasses.asdict(built)

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


def replace_status(solution: Solution, status: SolveStatus, message: str) -> Solution:
    """The same answer demoted to ``status``: no values, no objective, no exactness."""
    return dataclasses.replace(
        solution, status=status, values=None, objective=None, exact=False, message=message
    )


# why a feature no reduction removes is refused, where a hint helps
_HINTS = {
    Capability.BILINEAR: "free parameters that multiply each other need z3 or cvc5",
    Capability.QUADRATIC: "a quadratic objective needs a QP solver such as highs",
}


def prepare(
    query: Query, capabilities: frozenset[Capability] | set[Capability], solver_name: str
) -> Query:
    """Rewrite ``query`` with the reductions needed for a solver with ``capabilities``.

    Each reduction of :data:`~nnv.core.query.reductions.REDUCTIONS` whose feature the Query
    has and the solver lacks is applied in turn, if the solver takes what it needs. Raises
    :class:`CapabilityError` naming the missing capability when no reduction fits.
    """
    from nnv.core.query.reductions import REDUCTIONS

    for reduction in REDUCTIONS:
        if reduction.removes in capabilities or not reduction.accepts(query):
            continue
        if reduction.needs(query) - set(capabilities):
            raise CapabilityError(f"solver {solver_name!r} {reduction.refusal}")
        query = reduction.apply(query)
    missing = set(query.features()) - set(capabilities)
    if query.objective is not None and Capability.OPTIMIZE not in capabilities:
        missing.add(Capability.OPTIMIZE)
    if missing:
        reasons = "; ".join(_HINTS.get(item, item) for item in sorted(missing))
        raise CapabilityError(
            f"solver {solver_name!r} cannot take this problem (needs {', '.join(sorted(missing))}"
            f"): {reasons}"
        )
    return query
