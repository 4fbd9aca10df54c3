"""Capabilities: one enum for what a Query needs and what a solver takes, the reductions that
bridge the two, and what ``nnv plugins`` lists."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from cli_helpers import nnv

from nnv.core import Capability, CapabilityError, Query, QueryBuilder, Solution, Solver
from nnv.core.plugin.registry import default_registry
from nnv.core.plugin.solver import prepare
from nnv.core.query.reductions import (
    REDUCTIONS,
    IndicatorsToBigM,
    ReluToBigM,
    SoftToObjective,
)
from nnv.plugins.solvers.pyomo import PyomoSolver


class _Strings(Solver):
    """A third-party solver that names its capabilities with plain strings."""

    name = "strings"
    capabilities = frozenset({"linear", "integer", "optimize"})

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        return Solution("unknown")


def test_capabilities_given_as_strings_become_members() -> None:
    assert _Strings.capabilities == {Capability.LINEAR, Capability.INTEGER, Capability.OPTIMIZE}
    assert all(type(member) is Capability for member in _Strings.capabilities)
    assert Capability("exact") is Capability.EXACT and Capability.EXACT == "exact"


def test_an_unknown_capability_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"_Typo declares an unknown capability 'integr' \(known"):

        class _Typo(Solver):  # noqa: F841 - the definition itself must fail
            name = "typo"
            capabilities = frozenset({"linear", "integr"})

            def _solve(self, query: Query, timeout: float | None) -> Solution:
                return Solution("unknown")


def _query(**parts: bool) -> Query:
    """Two variables in [-1, 1] and whichever features ``parts`` names."""
    builder = QueryBuilder()
    x = builder.add_vars(2, -1.0, 1.0)
    extra: dict[str, object] = {}
    if parts.get("relu"):
        builder.add_relu(builder.add_vars(1, -5.0, 5.0), x[:1])
    if parts.get("bilinear"):
        builder.add_bilinear(builder.add_vars(1, -1.0, 1.0), x[:1], x[1:])
    if parts.get("indicator") or parts.get("soft"):
        z = builder.add_binaries(1)
        if parts.get("indicator"):
            builder.add_indicators(z, np.array([[1.0, 1.0]]), x, -np.inf, 0.5)
        if parts.get("soft"):
            extra["soft"] = z
        if parts.get("threshold"):
            extra["soft_threshold"] = 1
    if parts.get("objective"):
        extra["objective"] = np.ones(builder.n_vars)
    if parts.get("quadratic"):
        extra["quadratic"] = sp.identity(builder.n_vars, format="csr")
        extra["objective"] = np.zeros(builder.n_vars)
    return builder.build(**extra)


def test_features_are_members_of_the_enum() -> None:
    assert _query().features() == {Capability.LINEAR}
    everything = _query(relu=True, bilinear=True, indicator=True, soft=True, quadratic=True)
    assert everything.features() == {
        Capability.LINEAR,
        Capability.RELU,
        Capability.BILINEAR,
        Capability.INDICATOR,
        Capability.INTEGER,
        Capability.SOFT,
        Capability.QUADRATIC,
    }
    assert all(type(member) is Capability for member in everything.features())


def test_each_reduction_says_what_it_removes_and_needs() -> None:
    assert [type(r) for r in REDUCTIONS] == [SoftToObjective, ReluToBigM, IndicatorsToBigM]
    relu, indicator = _query(relu=True), _query(indicator=True)
    assert ReluToBigM().accepts(relu) and not ReluToBigM().accepts(indicator)
    assert ReluToBigM().needs(relu) == {Capability.INTEGER}
    assert IndicatorsToBigM().needs(indicator) == {Capability.INTEGER}
    assert Capability.RELU not in ReluToBigM().apply(relu).features()
    assert Capability.INDICATOR not in IndicatorsToBigM().apply(indicator).features()
    # counted soft constraints need an objective; a threshold becomes a row and needs none
    assert SoftToObjective().needs(_query(soft=True)) == {Capability.OPTIMIZE}
    assert SoftToObjective().needs(_query(soft=True, threshold=True)) == frozenset()
    counted = SoftToObjective().apply(_query(soft=True))
    assert counted.maximize and counted.objective is not None and not counted.soft.size


LINEAR = {Capability.LINEAR}
MILP = {Capability.LINEAR, Capability.INTEGER, Capability.OPTIMIZE}


@pytest.mark.parametrize(
    ("parts", "capabilities", "message"),
    [
        ({"soft": True}, {Capability.LINEAR, Capability.INTEGER}, "cannot optimise soft"),
        ({"soft": True, "objective": True}, MILP, "cannot have both an objective and soft"),
        ({"relu": True}, LINEAR, "solver 's' takes neither ReLUs nor integers"),
        ({"indicator": True}, LINEAR, "solver 's' takes neither indicators nor integers"),
        (
            {"bilinear": True},
            MILP,
            "solver 's' cannot take this problem (needs bilinear): free parameters that "
            "multiply each other need z3 or cvc5",
        ),
        (
            {"quadratic": True},
            MILP,
            "(needs quadratic): a quadratic objective needs a QP solver such as highs",
        ),
        ({"objective": True}, LINEAR, "cannot take this problem (needs optimize): optimize"),
    ],
)
def test_prepare_refuses_what_no_reduction_fits(
    parts: dict[str, bool], capabilities: set[Capability], message: str
) -> None:
    with pytest.raises(CapabilityError) as refused:
        prepare(_query(**parts), frozenset(capabilities), "s")
    assert message in str(refused.value)


def test_prepare_leaves_only_what_the_solver_takes() -> None:
    query = _query(relu=True, indicator=True, soft=True, threshold=True)
    prepared = prepare(query, frozenset({Capability.LINEAR, Capability.INTEGER}), "s")
    assert prepared.features() <= {Capability.LINEAR, Capability.INTEGER}
    assert prepared.objective is None  # the threshold became a row
    native = prepare(query, frozenset(Capability), "s")
    assert native is query  # a solver that takes everything gets the Query as it is


def test_pyomo_reports_its_backend_s_capabilities() -> None:
    """appsi_highs (the default) refuses a quadratic objective; Pyomo's newer highs takes it."""
    assert Capability.QUADRATIC not in PyomoSolver.capabilities
    assert Capability.QUADRATIC not in PyomoSolver().capabilities
    assert PyomoSolver(solver="highs").capabilities == MILP | {Capability.QUADRATIC}
    assert default_registry().get("solver", "pyomo").capabilities == (
        "integer",
        "linear",
        "optimize",
    )


def test_nnv_plugins_lists_the_enum_s_values() -> None:
    result = nnv("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {(row["name"], row["kind"]): row for row in json.loads(result.stdout)}
    for name in ("highs", "pyomo", "z3", "cvc5"):
        listed = rows[(name, "solver")]["capabilities"]
        assert listed == sorted(listed) and set(listed) <= {member.value for member in Capability}
    assert rows[("pyomo", "solver")]["capabilities"] == ["integer", "linear", "optimize"]
    assert "quadratic" in rows[("highs", "solver")]["capabilities"]
    assert "exact" in rows[("z3", "solver")]["capabilities"]
