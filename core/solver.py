"""What a solver plugin is: it compiles a Query, solves it, and says what it can take.

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
- ``exact``: rational arithmetic, so ``infeasible`` is a proof rather than a float verdict.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from .errors import CapabilityError, InputError
from .query import Query, indicators_to_big_m, relu_to_big_m, soft_to_objective

Status = Literal["optimal", "feasible", "infeasible", "timeout", "unknown", "error"]


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


class Solver(abc.ABC):
    """Base class of solver plugins. Options come in the constructor (scikit-learn style)."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]
    description: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        self.options: dict[str, Any] = dict(options)

    @abc.abstractmethod
    def solve(self, query: Query, timeout: float | None = None) -> Solution:
        """Solve a Query already in a form this solver takes (see :func:`prepare`)."""

    def run(self, query: Query, timeout: float | None = None) -> Solution:
        """Reduce ``query`` to a form this solver takes, then solve it."""
        return self.solve(prepare(query, self.capabilities, self.name), timeout)


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
    """``["key=value", ...]`` from the command line into typed options (int, float, bool, str)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
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
