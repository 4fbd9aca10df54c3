"""The solver interface itself: ``Solver.solve`` always reduces and checks, and a solver's
options are checked when it is built (also on the command line, before any solve)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_bad_input, nnv

from nnv.core import Query, QueryBuilder, Solution, Solver
from nnv.core.errors import InputError
from nnv.core.plugin.registry import default_registry

SOLVERS = ["highs", "pyomo", "z3", "cvc5"]


def relu_query(y_at_most: float) -> Query:
    """``y = relu(x)`` with ``x in [-1, 1]`` and ``y <= y_at_most``, minimising ``-x``."""
    builder = QueryBuilder()
    x = builder.add_vars(1, -1.0, 1.0)
    y = builder.add_vars(1, -10.0, 10.0)
    builder.add_relu(y, x)
    builder.add_rows(np.array([[1.0]]), y, -np.inf, y_at_most)
    return builder.build()


@pytest.mark.parametrize("name", SOLVERS)
def test_solve_takes_relu_pairs_into_account(name: str) -> None:
    """``y = relu(x), y <= -0.5`` has no solution: MILP solvers once answered ``optimal``,
    ignoring the pair, when called through ``solve`` rather than the engines' entry."""
    solver = default_registry().solver(name)
    assert solver.solve(relu_query(-0.5)).status == "infeasible"


@pytest.mark.parametrize("name", SOLVERS)
def test_a_feasible_relu_query_gives_values_that_satisfy_the_relu(name: str) -> None:
    builder = QueryBuilder()
    x = builder.add_vars(1, -1.0, 1.0)
    y = builder.add_vars(1, -10.0, 10.0)
    builder.add_relu(y, x)
    builder.add_rows(np.array([[1.0]]), y, 0.25, 0.5)  # 0.25 <= y <= 0.5: x = y
    query = builder.build()
    solution = default_registry().solver(name).solve(query)
    assert solution.found, solution
    assert solution.values is not None and solution.values.shape == (2,)  # no big-M binaries
    assert solution.values[y[0]] == pytest.approx(max(solution.values[x[0]], 0.0), abs=1e-9)
    assert 0.25 - 1e-9 <= solution.values[y[0]] <= 0.5 + 1e-9
    assert query.check_values(solution.values, tol=1e-9) == []


class _Recording(Solver):
    """A MILP solver that implements only the hook: it records what reaches it and hands
    it to highs."""

    name = "recording"
    capabilities = frozenset({"linear", "integer"})

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Query] = []

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        self.seen.append(query)
        return default_registry().solver("highs").solve(query, timeout)


def test_a_plugin_that_implements_only_the_hook_gets_the_reductions() -> None:
    solver = _Recording()
    assert solver.solve(relu_query(-0.5)).status == "infeasible"
    feasible = solver.solve(relu_query(0.5))
    assert feasible.found and feasible.values is not None and feasible.values.shape == (2,)
    for seen in solver.seen:
        assert seen.relu.shape[0] == 0 and seen.features() <= {"linear", "integer"}
    assert solver.seen[0].n_vars == 3  # x, y and the binary of the unstable ReLU


class _Liar(Solver):
    """Answers every query with the point it was told to, whatever the query says."""

    name = "liar"
    capabilities = frozenset({"linear", "integer", "relu", "optimize"})

    def __init__(self, values: list[float], status: str = "optimal") -> None:
        super().__init__()
        self.values, self.status = np.array(values), status

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        return Solution(self.status, values=self.values, objective=1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["optimal", "feasible"])
def test_a_point_that_breaks_the_query_is_not_trusted(status: str) -> None:
    """x = 1, y = 0 breaks y = relu(x): ``unknown``, with no values and the reason."""
    solution = _Liar([1.0, 0.0], status).solve(relu_query(0.5))
    assert solution.status == "unknown" and solution.values is None
    assert solution.objective is None and not solution.found
    assert "breaks the problem: relu (off by 1)" in solution.message


def test_a_point_within_tolerance_is_trusted() -> None:
    solution = _Liar([0.25, 0.25 + 1e-9]).solve(relu_query(0.5))
    assert solution.status == "optimal" and solution.values is not None


def test_a_point_of_the_wrong_length_is_an_error() -> None:
    solution = _Liar([0.25]).solve(relu_query(0.5))
    assert solution.status == "error" and "1 values for 2 variables" in solution.message


def test_overriding_solve_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="implement _solve"):

        class _Bypass(Solver):  # noqa: F841 - the definition itself must fail
            name = "bypass"
            capabilities = frozenset({"linear"})

            def solve(self, query: Query, timeout: float | None = None) -> Solution:  # type: ignore[misc]
                return Solution("infeasible")

            def _solve(self, query: Query, timeout: float | None) -> Solution:
                return Solution("infeasible")


# -- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TunedOptions:
    depth: int = 3
    gap: float | None = None
    verbose: bool = False


class _Tuned(Solver):
    name = "tuned"
    capabilities = frozenset({"linear"})
    Options = _TunedOptions

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        return Solution("unknown")


def test_declared_options_are_checked_and_filled_in() -> None:
    assert _Tuned(gap=1).options == {"depth": 3, "gap": 1, "verbose": False}
    with pytest.raises(InputError, match=re.escape("has no option 'dpeth' (known: depth, gap")):
        _Tuned(dpeth=2)
    with pytest.raises(InputError, match=re.escape("option 'depth' takes an integer, not 'x'")):
        _Tuned(depth="x")
    with pytest.raises(InputError, match=re.escape("takes a number or None, not True")):
        _Tuned(gap=True)


class _Plain(Solver):
    name = "plain"
    capabilities = frozenset({"linear"})

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        return Solution("unknown")


def test_a_solver_that_declares_no_options_takes_none() -> None:
    assert _Plain().options == {}
    with pytest.raises(InputError, match=re.escape("no option 'colour' (known: none)")):
        _Plain(colour="blue")


ROOT = Path(__file__).resolve().parent.parent
XOR = (str(ROOT / "examples/xor/network.onnx"), str(ROOT / "examples/xor/robust_violated.vnnlib"))


@pytest.mark.parametrize(
    ("solver", "option", "fragment"),
    [
        ("z3", "nosuch=1", "solver 'z3' has no option 'nosuch'"),
        ("highs", "threads=abc", "solver 'highs': option 'threads' takes an integer, not 'abc'"),
        ("cvc5", "nosuch=1", "solver 'cvc5' has no option 'nosuch'"),
        ("pyomo", "threads=abc", "option 'threads' takes an integer"),
    ],
)
def test_a_bad_solver_option_is_one_line_even_when_falsification_answers_first(
    solver: str, option: str, fragment: str
) -> None:
    """robust_violated's counterexample is found by sampling, before any solver call."""
    assert_bad_input(nnv("verify", *XOR, "--solver", solver, "-o", option), fragment)


def test_the_same_command_with_good_options_answers() -> None:
    done = nnv("verify", *XOR, "--solver", "highs", "-o", "threads=1")
    assert done.returncode == 0 and done.stdout.startswith("sat"), done.stderr


# -- the check itself ------------------------------------------------------------------------


def _indicator_query(threshold: int | None = None) -> Query:
    """z binary, 0 <= x <= 5, and z = 1 -> x <= 1 (z soft, with an optional threshold)."""
    builder = QueryBuilder()
    x = builder.add_vars(1, 0.0, 5.0)
    z = builder.add_binaries(1)
    builder.add_indicators(z, np.ones((1, 1)), x, -np.inf, 1.0)
    return builder.build(soft=z, soft_threshold=threshold)


@pytest.mark.parametrize(
    ("values", "threshold", "broken"),
    [
        ([2.0, 0.0], None, []),  # the indicator is off
        ([2.0, 1.0], None, ["indicator rows (off by 1)"]),
        ([0.5, 0.5], None, ["integrality (off by 0.5)"]),
        ([0.5, 0.0], 1, ["soft threshold (off by 1)"]),
        ([0.5, 1.0], 1, []),
        ([6.0, 0.0], None, ["variable bounds (off by 1)"]),
    ],
)
def test_check_values_covers_indicators_integers_and_soft_thresholds(
    values: list[float], threshold: int | None, broken: list[str]
) -> None:
    assert _indicator_query(threshold).check_values(np.array(values)) == broken


def test_the_check_tolerance_is_relative_to_the_size_of_the_terms() -> None:
    builder = QueryBuilder()
    builder.add_vars(2)
    builder.add_rows(np.array([[1000.0, 0.0], [0.0, 1.0]]), None, [1000.0, 1.0], [1000.0, 1.0])
    query = builder.build()
    assert query.check_values(np.array([1.0 + 1e-7, 1.0])) == []  # off by 1e-4 of 1000
    assert query.check_values(np.array([1.0, 1.0 + 1e-5])) == ["linear rows (off by 1e-05)"]
