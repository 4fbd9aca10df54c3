"""What a solver can take: the features of a Query, one enum for both sides.

A Query needs some of these (:meth:`nnv.core.query.form.Query.features`), a solver declares
which it takes (``Solver.capabilities``), and the reductions of :mod:`nnv.core.query.reductions`
bridge the gap where they can. The members are strings (``enum.StrEnum``), so a plugin that
declares ``frozenset({"linear", "integer"})`` means the same as one that names the members, and
``nnv plugins`` prints the values.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Capability(enum.StrEnum):
    """One feature of a Query that a solver may take natively."""

    LINEAR = "linear"  # linear rows and variable bounds (every solver)
    INTEGER = "integer"  # integer and binary variables
    RELU = "relu"  # ReLU pairs natively (SMT solvers); without it ReLUs become big-M rows
    INDICATOR = "indicator"  # indicator rows natively; without it they become big-M rows
    BILINEAR = "bilinear"  # products of two variables (nonlinear real arithmetic)
    QUADRATIC = "quadratic"  # a convex quadratic objective (a QP)
    SOFT = "soft"  # soft constraints natively (maximise how many hold, or a threshold)
    OPTIMIZE = "optimize"  # a linear objective
    QUANTIFIERS = "quantifiers"  # universally quantified blocks
    EXACT = "exact"  # rational arithmetic: ``infeasible`` is a proof, not a float verdict
    # it starts from ``Query.start`` (an incumbent, an earlier basis) and returns a basis in
    # ``Solution.extra["basis"]`` that a later, larger problem may start from
    WARM_START = "warm_start"


def as_capabilities(declared: Iterable[str], owner: str) -> frozenset[Capability]:
    """``declared`` as members of :class:`Capability`; a ``TypeError`` naming ``owner`` and the
    known capabilities for a string that is none of them (a typo would otherwise make a solver
    silently refuse, or take, what it should not)."""
    found: set[Capability] = set()
    for item in declared:
        try:
            found.add(Capability(item))
        except ValueError:
            known = ", ".join(member.value for member in Capability)
            raise TypeError(
                f"{owner} declares an unknown capability {item!r} (known: {known})"
            ) from None
    return frozenset(found)
