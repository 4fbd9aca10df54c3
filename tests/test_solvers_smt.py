"""The exact SMT solvers (z3, cvc5) against answers known by hand or by brute force."""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from conftest import random_network

from nnv.core import CapabilityError, InputError, Query, QueryBuilder, Solver
from nnv.core.plugin.registry import default_registry
from nnv.plugins.solvers.cvc5 import Cvc5Solver, smt_logic
from nnv.plugins.solvers.z3 import Z3Solver

INF = np.inf


@pytest.fixture(params=["z3", "cvc5"])
def solver(request: pytest.FixtureRequest) -> Solver:
    return {"z3": Z3Solver, "cvc5": Cvc5Solver}[request.param]()


def feasible(solver: Solver, query: Query) -> np.ndarray:
    """Solve, insist on a model that is exact and replays in float64, and return it."""
    solution = solver.solve(query, timeout=30)
    assert solution.status in ("feasible", "optimal"), solution
    assert solution.exact
    assert query.check_values(solution.values, tol=1e-9) == []
    exact = solution.extra["exact_values"]
    assert all(isinstance(v, Fraction) for v in exact)
    assert np.array_equal(solution.values, [float(v) for v in exact])
    return solution.values


def infeasible(solver: Solver, query: Query) -> None:
    solution = solver.solve(query, timeout=30)
    assert solution.status == "infeasible", solution
    assert solution.exact is True
    assert solution.values is None


# -- linear ----------------------------------------------------------------------------------


def small_lp(extra_lb: float, extra_ub: float) -> Query:
    """x, y >= 0, x + y <= 1, x - y >= 0.5, plus extra_lb <= x + 2 y <= extra_ub."""
    b = QueryBuilder()
    b.add_vars(2, lb=0.0)
    b.add_rows(
        np.array([[1.0, 1.0], [1.0, -1.0], [1.0, 2.0]]),
        None,
        [-INF, 0.5, extra_lb],
        [1.0, INF, extra_ub],
    )
    return b.build()


def test_lp_feasible(solver: Solver) -> None:
    # the largest x + 2y is at (0.75, 0.25): 1.25
    x, y = feasible(solver, small_lp(1.25, INF))
    assert x == pytest.approx(0.75) and y == pytest.approx(0.25)


def test_lp_infeasible(solver: Solver) -> None:
    infeasible(solver, small_lp(1.2500001, INF))


def test_empty_row_and_equal_bounds(solver: Solver) -> None:
    b = QueryBuilder()
    b.add_vars(1, lb=3.0, ub=3.0)
    b.add_rows(np.zeros((1, 1)), None, -1.0, 1.0)  # 0 in [-1, 1]: holds
    assert feasible(solver, b.build())[0] == 3.0
    b.add_rows(np.zeros((1, 1)), None, 0.5, INF)  # 0 >= 0.5: never
    infeasible(solver, b.build())


def test_exact_value_is_the_rational(solver: Solver) -> None:
    b = QueryBuilder()
    b.add_vars(1)
    b.add_rows(np.array([[3.0]]), None, 1.0, 1.0)
    solution = solver.solve(b.build())
    assert solution.extra["exact_values"] == [Fraction(1, 3)]


def test_float_coefficients_are_taken_exactly(solver: Solver) -> None:
    """0.1 v1 + 0.2 v2 = 0.3 at v1 = v2 = 1: float64 nearly agrees, but the float64 numbers
    0.1, 0.2 and 0.3 are rationals with 0.1 + 0.2 != 0.3, so the exact answer is infeasible."""
    assert abs(0.1 + 0.2 - 0.3) < 1e-15
    assert Fraction(0.1) + Fraction(0.2) != Fraction(0.3)
    b = QueryBuilder()
    b.add_vars(2, lb=1.0, ub=1.0)
    b.add_rows(np.array([[0.1, 0.2]]), None, 0.3, 0.3)
    infeasible(solver, b.build())


# -- ReLU ------------------------------------------------------------------------------------


def relu_query(x_lb: float, x_ub: float, y_lb: float, y_ub: float) -> Query:
    b = QueryBuilder()
    x = b.add_vars(1, x_lb, x_ub)
    y = b.add_vars(1)
    b.add_relu(y, x)
    b.add_rows(np.array([[1.0]]), y, y_lb, y_ub)
    return b.build()


def test_relu_active_branch(solver: Solver) -> None:
    x, y = feasible(solver, relu_query(-1.0, 2.0, 1.5, INF))
    assert x >= 1.5 and y == x


def test_relu_inactive_branch(solver: Solver) -> None:
    x, y = feasible(solver, relu_query(-1.0, 2.0, -INF, 0.0))
    assert x <= 0 and y == 0


@pytest.mark.parametrize(
    "bounds",
    [(-1.0, 2.0, -INF, -0.1), (-1.0, 2.0, 2.1, INF), (0.5, 2.0, -INF, 0.4), (-2.0, -0.5, 0.1, INF)],
    ids=["negative", "above-range", "stable-active", "stable-inactive"],
)
def test_relu_infeasible(solver: Solver, bounds: tuple[float, float, float, float]) -> None:
    infeasible(solver, relu_query(*bounds))


# a 2-3-1 network on the box [-1, 1]^2
W1 = np.array([[1.0, 1.0], [1.0, -1.0], [-0.5, 1.0]])
B1 = np.array([0.0, -0.5, 0.25])
W2 = np.array([[1.0, -2.0, 1.0]])
B2 = np.array([0.1])


def network_query(out_lb: float, **build: object) -> Query:
    """x in the box, out = W2 relu(W1 x + B1) + B2, out >= out_lb; variables x, z, h, out."""
    b = QueryBuilder()
    x = b.add_vars(2, -1.0, 1.0)
    z = b.add_vars(3)
    h = b.add_vars(3)
    out = b.add_vars(1)
    b.add_rows(np.hstack([np.eye(3), -W1]), np.concatenate([z, x]), B1, B1)
    b.add_relu(h, z)
    b.add_rows(np.hstack([np.eye(1), -W2]), np.concatenate([out, h]), B2, B2)
    b.add_rows(np.array([[1.0]]), out, out_lb, INF)
    return b.build(**build)


def network_maximum() -> float:
    """Brute force: one LP per activation pattern of the three hidden neurons."""
    best = -INF
    for pattern in itertools.product([0.0, 1.0], repeat=3):
        s = np.array(pattern)
        sign = np.where(s > 0, -1.0, 1.0)  # active: -(W1 x + b) <= 0; inactive: W1 x + b <= 0
        weights = W2[0] * s  # out = weights @ (W1 x + B1) + B2 under this pattern
        lp = scipy.optimize.linprog(
            -(weights @ W1), A_ub=sign[:, None] * W1, b_ub=-sign * B1, bounds=[(-1, 1)] * 2
        )
        if lp.status == 0:
            best = max(best, -lp.fun + weights @ B1 + B2[0])
    return best


def test_network_maximum(solver: Solver) -> None:
    top = network_maximum()
    assert top == pytest.approx(2.85)  # at x = (1, 1): h = (2, 0, 0.75)
    values = feasible(solver, network_query(top - 1e-9))
    assert W2 @ np.maximum(W1 @ values[:2] + B1, 0) + B2 == pytest.approx(values[-1:])
    infeasible(solver, network_query(top + 1e-6))


def test_z3_optimises_the_network() -> None:
    objective = np.zeros(9)
    objective[-1] = 1.0
    solution = Z3Solver().solve(network_query(-INF, objective=objective, maximize=True))
    assert solution.status == "optimal" and solution.exact
    assert solution.objective == pytest.approx(network_maximum())


def test_random_network_has_an_output(solver: Solver) -> None:
    """Some input of a 5-10-10-2 network exists: trivial, yet with ``y = If(x > 0, x, 0)``
    alone z3 took 8 s here (0.1 s with the implied faces ``y >= 0, y >= x``)."""
    network = random_network(np.random.default_rng(0), (5, 10, 10, 2))
    b = QueryBuilder()
    previous = b.add_vars(5, -1.0, 1.0)
    for index, layer in enumerate(network.layers):
        z = b.add_vars(layer.n_out)
        b.add_rows(
            np.hstack([np.eye(layer.n_out), -layer.weight]),
            np.concatenate([z, previous]),
            layer.bias,
            layer.bias,
        )
        if index < len(network.layers) - 1:
            previous = b.add_vars(layer.n_out)
            b.add_relu(previous, z)
    values = feasible(solver, b.build())
    assert network.forward(values[None, :5])[0] == pytest.approx(values[-2:])


# -- integers, bilinear, indicators, soft ----------------------------------------------------


def diophantine(rhs: float) -> Query:
    """3 a + 5 b = rhs over the integers 0..10."""
    b = QueryBuilder()
    b.add_vars(2, 0.0, 10.0, integer=True)
    b.add_rows(np.array([[3.0, 5.0]]), None, rhs, rhs)
    return b.build()


def test_integers(solver: Solver) -> None:
    a, b = feasible(solver, diophantine(8.0))
    assert (a, b) == (1.0, 1.0)
    infeasible(solver, diophantine(7.0))  # feasible over the reals


def test_logic_follows_the_features() -> None:
    assert smt_logic(small_lp(0.0, INF)) == "QF_LRA"
    assert smt_logic(diophantine(8.0)) == "QF_LIA"
    assert smt_logic(bilinear_query(-INF)) == "QF_NRA"
    b = QueryBuilder()
    b.add_vars(1, integer=True)
    b.add_rows(np.array([[0.5]]), None, 1.0, INF)
    assert smt_logic(b.build()) == "QF_LIRA"


def bilinear_query(x_ub: float) -> Query:
    """x * y = 2 with x in [1, min(3, x_ub)], y in [0, 1]: needs x >= 2."""
    b = QueryBuilder()
    x = b.add_vars(1, 1.0, min(3.0, x_ub))
    y = b.add_vars(1, 0.0, 1.0)
    k = b.add_vars(1, 2.0, 2.0)
    b.add_bilinear(k, x, y)
    return b.build()


def test_bilinear(solver: Solver) -> None:
    x, y, _ = feasible(solver, bilinear_query(INF))
    assert x >= 2.0 and x * y == pytest.approx(2.0)
    infeasible(solver, bilinear_query(1.9))


def test_irrational_model_value(solver: Solver) -> None:
    """x * x = 2, x >= 0: the model value is sqrt(2), reported as a close rational."""
    b = QueryBuilder()
    x = b.add_vars(1, 0.0, 2.0)
    k = b.add_vars(1, 2.0, 2.0)
    b.add_bilinear(k, x, x)
    solution = solver.solve(b.build())
    assert solution.status == "feasible" and solution.extra["irrational"] == [0]
    assert abs(solution.extra["exact_values"][0] ** 2 - 2) < Fraction(1, 10**15)
    assert solution.values[0] == pytest.approx(np.sqrt(2), rel=1e-15)


def soft_query(threshold: int | None) -> Query:
    """x in [-5, 5]; soft z1: x >= 1, z2: x <= 0, z3: x >= 2. At most z1 and z3 hold."""
    b = QueryBuilder()
    b.add_vars(1, -5.0, 5.0)
    z = b.add_binaries(3)
    b.add_indicators(
        z,
        np.array([[1.0], [1.0], [1.0]]),
        np.zeros(1, dtype=np.int64),
        [1.0, -INF, 2.0],
        [INF, 0.0, INF],
    )
    return b.build(soft=z, soft_threshold=threshold)


def test_soft_maximum(solver: Solver) -> None:
    solution = solver.solve(soft_query(None), timeout=30)
    assert solution.status == "optimal" and solution.exact
    assert solution.objective == 2.0 and solution.extra["soft_kept"] == 2
    x, z1, z2, z3 = solution.values
    assert (z1, z2, z3) == (1.0, 0.0, 1.0) and x >= 2.0


def test_soft_threshold(solver: Solver) -> None:
    values = feasible(solver, soft_query(2))
    assert values[1:].sum() >= 2
    infeasible(solver, soft_query(3))


def test_indicator_off_leaves_row_free(solver: Solver) -> None:
    """z = 0 lifts ``x >= 3``; fixing z = 1 makes it bind against x <= 2."""
    b = QueryBuilder()
    b.add_vars(1, 0.0, 2.0)
    z = b.add_binaries(1)
    b.add_indicators(z, np.array([[1.0]]), np.zeros(1, dtype=np.int64), 3.0, INF)
    assert feasible(solver, b.build())[1] == 0.0
    b.tighten(z, np.ones(1), np.ones(1))
    infeasible(solver, b.build())


def test_soft_with_nonlinear_arithmetic(solver: Solver) -> None:
    """The repair case: soft constraints over free weights that multiply each other."""
    b = QueryBuilder()
    x = b.add_vars(1, 1.0, 3.0)
    y = b.add_vars(1, 0.0, 1.0)
    k = b.add_vars(1, 2.0, 2.0)
    b.add_bilinear(k, x, y)
    z = b.add_binaries(2)  # x >= 2.5 and y >= 0.9 cannot both hold: 2.5 * 0.9 > 2
    b.add_indicators(z, np.eye(2), np.concatenate([x, y]), [2.5, 0.9], [INF, INF])
    solution = solver.solve(b.build(soft=z), timeout=30)
    assert solution.status == "optimal" and solution.objective == 1.0


# -- objective (z3 only), refusals, timeouts -------------------------------------------------


def test_z3_objective_and_unbounded() -> None:
    lp = replace(small_lp(-INF, INF), objective=np.array([1.0, 2.0]), maximize=True)
    solution = Z3Solver().solve(lp)
    assert solution.status == "optimal" and solution.objective == 1.25
    b = QueryBuilder()
    b.add_vars(1, lb=0.0)
    unbounded = Z3Solver().solve(b.build(objective=np.ones(1), maximize=True))
    assert unbounded.status == "feasible" and unbounded.objective == INF


def test_cvc5_refuses_an_objective() -> None:
    with pytest.raises(CapabilityError, match="optimize"):
        Cvc5Solver().solve(replace(small_lp(-INF, INF), objective=np.ones(2)))


def test_nan_is_an_input_error(solver: Solver) -> None:
    with pytest.raises(InputError, match="NaN"):
        solver.solve(small_lp(np.nan, INF))


@pytest.mark.parametrize(
    ("cls", "options", "fragment"),
    [
        (Z3Solver, {"no_such_option": 1}, "has no option 'no_such_option'"),
        (Z3Solver, {"random_sed": 1}, "closest: random_seed"),
        (Z3Solver, {"random_seed": "abc"}, "option 'random_seed' takes an integer, not 'abc'"),
        (Z3Solver, {"random_seed": -1}, "takes an integer >= 0"),
        (Z3Solver, {"elim_01": 1}, "option 'elim_01' takes true or false, not 1"),
        (Cvc5Solver, {"no_such_option": 1}, "has no option 'no_such_option'"),
        (Cvc5Solver, {"tlimit-per": "abc"}, "tlimit-per='abc'"),
    ],
)
def test_a_bad_option_is_refused_when_the_solver_is_built(
    cls: type[Solver], options: dict[str, object], fragment: str
) -> None:
    """Not at the first solve, which a run may never reach (falsification answers first)."""
    with pytest.raises(InputError, match=re.escape(fragment)):
        cls(**options)
    with pytest.raises(InputError, match=re.escape(fragment)):
        default_registry().solver(cls.name, **options)


def test_good_options_are_taken() -> None:
    assert Z3Solver(random_seed=3, elim_01=False).options == {"random_seed": 3, "elim_01": False}
    assert Cvc5Solver(**{"use-soi": True}).solve(small_lp(-INF, INF)).found


def test_z3_option_of_one_solver_kind() -> None:
    """``elim_01`` exists for z3.Optimize only: it applies there and is ignored elsewhere."""
    assert Z3Solver(elim_01=False).solve(soft_query(None)).status == "optimal"
    assert Z3Solver(elim_01=False).solve(small_lp(-INF, INF)).status == "feasible"


def pigeonhole(holes: int) -> Query:
    """holes + 1 pigeons, each in some hole, no two in one: unsat, and hard for SMT solvers
    (its LP relaxation is feasible, so no cheap bound refutes it)."""
    b = QueryBuilder()
    x = b.add_binaries((holes + 1) * holes).reshape(holes + 1, holes)
    b.add_rows(sp.block_diag([np.ones((1, holes))] * (holes + 1)), x.ravel(), 1.0, INF)
    pairs = np.array(
        [
            (x[p, h], x[q, h])
            for h in range(holes)
            for p, q in itertools.combinations(range(holes + 1), 2)
        ]
    )
    rows = np.repeat(np.arange(len(pairs)), 2)
    conflicts = sp.coo_matrix(
        (np.ones(rows.size), (rows, pairs.ravel())), shape=(len(pairs), b.n_vars)
    )
    b.add_rows(conflicts, None, -INF, 1.0)
    return b.build()


def test_timeout(solver: Solver) -> None:
    query = pigeonhole(12)
    start = time.perf_counter()
    solution = solver.solve(query, timeout=0.5)
    assert time.perf_counter() - start < 5
    assert solution.status == "timeout" and not solution.exact


@pytest.mark.parametrize("name, cls", [("z3", Z3Solver), ("cvc5", Cvc5Solver)])
def test_registered(name: str, cls: type) -> None:
    solver = default_registry().solver(name)
    assert isinstance(solver, cls) and solver.name == name
    assert "exact" in solver.capabilities
