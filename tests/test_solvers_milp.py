"""The MILP/LP/QP solver plugins (highs, pyomo): known optima, brute force and agreement."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from nnv.core import CapabilityError, InputError, Query, QueryBuilder, Solver
from nnv.core.plugin.registry import default_registry
from nnv.plugins.solvers import highs as highs_plugin
from nnv.plugins.solvers.highs import HighsSolver
from nnv.plugins.solvers.pyomo import PyomoSolver

CLASSES: dict[str, type[Solver]] = {"highs": HighsSolver, "pyomo": PyomoSolver}
WAYS: dict[str, Callable[[str], Solver]] = {
    "class": lambda name: CLASSES[name](),
    "registry": lambda name: default_registry().solver(name),
}


@pytest.fixture(params=list(itertools.product(CLASSES, WAYS)), ids="-".join)
def solver(request: pytest.FixtureRequest) -> Solver:
    name, way = request.param
    return WAYS[way](name)


def _lp(maximize: bool) -> Query:
    """x + 2y over x + y >= 3, x - y <= 1, 0 <= x, y <= 10: min 4 at (2, 1), max 30 at (10, 10)."""
    builder = QueryBuilder()
    builder.add_vars(2, 0.0, 10.0)
    builder.add_rows(np.array([[1.0, 1.0], [1.0, -1.0]]), None, [3.0, -np.inf], [np.inf, 1.0])
    return builder.build(objective=np.array([1.0, 2.0]), maximize=maximize)


@pytest.mark.parametrize(
    ("maximize", "best", "point"), [(False, 4.0, [2, 1]), (True, 30.0, [10, 10])]
)
def test_lp_optimum(solver: Solver, maximize: bool, best: float, point: list[float]) -> None:
    for _ in range(3):  # the same instance solves again and again
        solution = solver.solve(_lp(maximize))
        assert solution.status == "optimal"
        assert solution.objective == pytest.approx(best, abs=1e-7)
        np.testing.assert_allclose(solution.values, point, atol=1e-7)
        assert solution.seconds > 0


def test_milp_knapsack_matches_brute_force(solver: Solver) -> None:
    weights, values, capacity = np.array([5.0, 7, 4, 3]), np.array([8.0, 11, 6, 4]), 14.0
    builder = QueryBuilder()
    builder.add_binaries(4)
    builder.add_rows(weights[None, :], None, -np.inf, capacity)
    query = builder.build(objective=values, maximize=True)
    choices = np.array(list(itertools.product([0, 1], repeat=4)), dtype=float)
    brute = (choices @ values)[choices @ weights <= capacity].max()

    solution = solver.solve(query)
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(brute) == 21.0  # the LP relaxation gives 22
    np.testing.assert_array_equal(solution.values, [0, 1, 1, 1])


def test_infeasible_lp(solver: Solver) -> None:
    builder = QueryBuilder()
    builder.add_vars(2, 0.0, 10.0)
    builder.add_rows(np.array([[1.0, 1.0], [1.0, 1.0]]), None, [3.0, -np.inf], [np.inf, 2.0])
    solution = solver.solve(builder.build(objective=np.array([1.0, 0.0])))
    assert solution.status == "infeasible"
    assert not solution.found


def test_integer_infeasible_while_lp_feasible(solver: Solver) -> None:
    builder = QueryBuilder()
    builder.add_vars(1, 0.0, 5.0, integer=True)
    builder.add_rows(np.array([[2.0]]), None, 1.0, 1.0)  # 2x = 1
    assert solver.solve(builder.build()).status == "infeasible"


def test_feasibility_without_objective(solver: Solver) -> None:
    builder = QueryBuilder()
    builder.add_vars(2, 0.0, 1.0, integer=True)
    builder.add_rows(np.array([[1.0, 1.0]]), None, 2.0, 2.0)
    solution = solver.solve(builder.build())
    assert solution.found and solution.objective is None
    np.testing.assert_array_equal(solution.values, [1, 1])


def test_bounds_only(solver: Solver) -> None:
    builder = QueryBuilder()
    builder.add_vars(3, -2.0, -1.0)
    solution = solver.solve(builder.build())
    assert solution.found
    assert np.all((solution.values >= -2.0) & (solution.values <= -1.0))


def test_unbounded_objective_still_gives_a_feasible_point(solver: Solver) -> None:
    builder = QueryBuilder()
    builder.add_vars(2)
    builder.add_rows(np.array([[1.0, 1.0]]), None, 1.0, np.inf)
    query = builder.build(objective=np.array([1.0, 0.0]))
    solution = solver.solve(query)
    assert solution.status == "feasible"
    assert query.check_values(solution.values) == []


def test_highs_settles_infeasible_or_unbounded_without_presolve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Presolve can only say "infeasible or unbounded"; the solver must ask simplex which."""
    real, presolve = highs_plugin._run, []

    def undecided_with_presolve(highs: Any) -> Any:
        status = real(highs)
        presolve.append(highs.getOptionValue("presolve")[1])
        return highs_plugin._Model.kUnboundedOrInfeasible if len(presolve) == 1 else status

    monkeypatch.setattr(highs_plugin, "_run", undecided_with_presolve)
    assert HighsSolver().solve(_lp(False)).status == "optimal"
    assert presolve == ["choose", "off"]


def test_nan_is_refused(solver: Solver) -> None:
    """HiGHS would silently ignore a NaN coefficient and answer "optimal"."""
    builder = QueryBuilder()
    builder.add_vars(1, 0.0, 1.0)
    builder.add_rows(np.array([[np.nan]]), None, 2.0, 3.0)
    with pytest.raises(InputError, match="NaN"):
        solver.solve(builder.build())


def test_zero_variables(solver: Solver) -> None:
    empty = QueryBuilder().build()
    solution = solver.solve(empty)
    assert solution.status == "optimal" and solution.values.shape == (0,)
    broken = Query(
        lb=np.zeros(0),
        ub=np.zeros(0),
        integer=np.zeros(0, dtype=bool),
        A=sp.csr_matrix((1, 0)),
        row_lb=np.array([1.0]),
        row_ub=np.array([np.inf]),
    )
    assert solver.solve(broken).status == "infeasible"


# -- reductions through Solver.run ---------------------------------------------------------


def _relu_query(seed: int) -> tuple[Query, np.ndarray, dict[str, np.ndarray]]:
    """max o = c . relu(W x + b) + d over x in [-1, 1]^2, with bounds on W x + b from intervals.

    One neuron is always active and one always inactive, so every branch of the big-M
    reduction is exercised, alongside the unstable ones.
    """
    rng = np.random.default_rng(seed)
    k = 5
    W, b = rng.normal(size=(k, 2)), rng.normal(size=k) * 0.3
    b[0], b[1] = 5.0, -5.0
    c, d = rng.normal(size=k), 0.1
    radius = np.abs(W).sum(axis=1)
    builder = QueryBuilder()
    x = builder.add_vars(2, -1.0, 1.0)
    h = builder.add_vars(k, b - radius, b + radius)
    y = builder.add_vars(k)
    o = builder.add_vars(1)
    builder.add_rows(np.hstack([W, -np.eye(k)]), np.concatenate([x, h]), -b, -b)
    builder.add_rows(np.concatenate([[1.0], -c])[None, :], np.concatenate([o, y]), d, d)
    builder.add_relu(y, h)
    objective = np.zeros(builder.n_vars)
    objective[o] = 1.0
    query = builder.build(objective=objective, maximize=True)
    return query, np.concatenate([x, h, y, o]), {"W": W, "b": b, "c": c, "d": np.array(d)}


def _relu_brute_force(net: dict[str, np.ndarray]) -> float:
    """The exact maximum: one LP over x per activation pattern."""
    W, b, c, d = net["W"], net["b"], net["c"], float(net["d"])
    best = -np.inf
    for pattern in itertools.product([0.0, 1.0], repeat=len(b)):
        on = np.array(pattern)
        sign = np.where(on > 0, -1.0, 1.0)  # active: W x + b >= 0; inactive: <= 0
        result = linprog(
            -(on * c) @ W,
            A_ub=sign[:, None] * W,
            b_ub=-sign * b,
            bounds=[(-1, 1)] * 2,
            method="highs",
        )
        if result.status == 0:
            best = max(best, -result.fun + (on * c) @ b + d)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relu_max_matches_brute_force(solver: Solver, seed: int) -> None:
    query, original, net = _relu_query(seed)
    solution = solver.solve(query)
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(_relu_brute_force(net), abs=1e-6)
    values = solution.values[original]
    assert query.check_values(values) == []
    x = values[:2]
    replay = net["c"] @ np.maximum(net["W"] @ x + net["b"], 0.0) + net["d"]
    assert values[-1] == pytest.approx(replay, abs=1e-6)


def test_relu_all_inactive(solver: Solver) -> None:
    builder = QueryBuilder()
    x = builder.add_vars(2, -2.0, -1.0)
    y = builder.add_vars(2)
    builder.add_relu(y, x)
    solution = solver.solve(builder.build())
    assert solution.found
    np.testing.assert_array_equal(solution.values[y], [0.0, 0.0])


def _soft_query(threshold: int | None) -> tuple[Query, np.ndarray, np.ndarray]:
    """Four wishes on x in [0, 10]: x <= 2, x >= 5, x >= 6, x <= 8; at most three can hold."""
    builder = QueryBuilder()
    x = builder.add_vars(1, 0.0, 10.0)
    keep = builder.add_binaries(4)
    builder.add_indicators(
        keep, np.ones((4, 1)), x, [-np.inf, 5.0, 6.0, -np.inf], [2.0, np.inf, np.inf, 8.0]
    )
    return builder.build(soft=keep, soft_threshold=threshold), x, keep


def test_soft_indicators_maximise_count(solver: Solver) -> None:
    query, x, keep = _soft_query(None)
    solution = solver.solve(query)
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(3.0)
    np.testing.assert_array_equal(solution.values[keep], [0, 1, 1, 1])
    assert 6.0 - 1e-7 <= solution.values[x[0]] <= 8.0 + 1e-7


@pytest.mark.parametrize(("threshold", "status"), [(3, "optimal"), (4, "infeasible")])
def test_soft_threshold(solver: Solver, threshold: int, status: str) -> None:
    query, _, keep = _soft_query(threshold)
    solution = solver.solve(query)
    assert solution.status == status
    if solution.found:
        assert solution.values[keep].sum() >= threshold


def test_bilinear_is_refused(solver: Solver) -> None:
    builder = QueryBuilder()
    v = builder.add_vars(3, -1.0, 1.0)
    builder.add_bilinear(v[2:], v[:1], v[1:2])
    with pytest.raises(CapabilityError, match="bilinear"):
        solver.solve(builder.build())


def test_timeout_is_respected(solver: Solver) -> None:
    rng = np.random.default_rng(0)
    n, m = 150, 50  # HiGHS 1.16 has no optimum after 15 s on one core
    weights = rng.integers(1, 100, size=(m, n)).astype(float)
    builder = QueryBuilder()
    builder.add_binaries(n)
    builder.add_rows(weights, None, -np.inf, weights.sum(axis=1) / 2)
    query = builder.build(objective=rng.integers(1, 100, size=n).astype(float), maximize=True)
    start = time.perf_counter()
    solution = solver.solve(query, timeout=0.2)
    assert time.perf_counter() - start < 5.0
    assert solution.status in ("timeout", "feasible")
    if solution.found:
        assert query.check_values(solution.values) == []


# -- quadratic -----------------------------------------------------------------------------


def _projection(integer: bool = False) -> Query:
    """min ||v - t||^2 over sum v = 1, as 0.5 v'(2I)v - 2t.v (dropping the constant t.t)."""
    t = np.array([1.0, 2.0, 3.0])
    builder = QueryBuilder()
    builder.add_vars(3, integer=integer)
    builder.add_rows(np.ones((1, 3)), None, 1.0, 1.0)
    return builder.build(objective=-2.0 * t, quadratic=sp.csr_matrix(2.0 * np.eye(3)))


@pytest.mark.parametrize(
    "make", [HighsSolver, lambda: PyomoSolver(solver="highs")], ids=["highs", "pyomo-highs"]
)
def test_quadratic_projection(make: Callable[[], Solver]) -> None:
    solution = make().solve(_projection())
    assert solution.status == "optimal"
    np.testing.assert_allclose(solution.values, [-2 / 3, 1 / 3, 4 / 3], atol=1e-5)
    assert solution.objective == pytest.approx(25 / 3 - 14, abs=1e-5)


@pytest.mark.parametrize(
    "make", [HighsSolver, lambda: PyomoSolver(solver="highs")], ids=["highs", "pyomo-highs"]
)
def test_no_miqp(make: Callable[[], Solver]) -> None:
    with pytest.raises(CapabilityError, match="MIQP"):
        make().solve(_projection(integer=True))


def test_appsi_highs_takes_no_quadratic() -> None:
    solver = PyomoSolver()
    assert "quadratic" not in solver.capabilities
    with pytest.raises(CapabilityError, match="quadratic"):
        solver.solve(_projection())


# -- options -------------------------------------------------------------------------------


def test_highs_options_pass_through() -> None:
    assert HighsSolver(mip_feasibility_tolerance=1e-9, presolve="off").solve(_lp(False)).found
    assert HighsSolver(mip_rel_gap=0).options == {"mip_rel_gap": 0}  # an int does for a number


@pytest.mark.parametrize("cls", [HighsSolver, PyomoSolver])
@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"no_such_option": 1}, "has no option 'no_such_option'"),
        ({"presolv": "off"}, "closest: presolve"),
        ({"threads": "abc"}, "option 'threads' takes an integer, not 'abc'"),
        ({"threads": 1.5}, "option 'threads' takes an integer, not 1.5"),
        ({"output_flag": 1}, "option 'output_flag' takes true or false, not 1"),
        ({"mip_rel_gap": "small"}, "option 'mip_rel_gap' takes a number"),
        ({"presolve": "sometimes"}, "HiGHS option 'presolve' does not take the value"),
    ],
)
def test_a_bad_option_is_refused_when_the_solver_is_built(
    cls: type[Solver], options: dict[str, object], fragment: str
) -> None:
    """HiGHS's own names, types and ranges, for highs and for pyomo's HiGHS backend alike."""
    with pytest.raises(InputError, match=re.escape(fragment)):
        cls(**options)
    with pytest.raises(InputError, match=re.escape(fragment)):
        default_registry().solver(cls.name, **options)


def test_highs_thread_counts_can_change() -> None:
    """HiGHS shares one scheduler per process; a new thread count must not break later solves."""
    for solver in (HighsSolver(threads=1), HighsSolver(), HighsSolver(threads=2), PyomoSolver()):
        assert solver.solve(_lp(False)).status == "optimal"


def test_unavailable_pyomo_backend() -> None:
    with pytest.raises(InputError, match="pyomo solver 'no_such_solver' is not available"):
        PyomoSolver(solver="no_such_solver")
    with pytest.raises(InputError, match="not available"):
        default_registry().solver("pyomo", solver="no_such_solver")


# -- agreement -----------------------------------------------------------------------------


def _random_milp(rng: np.random.Generator) -> Query:
    """Integer and continuous variables, rows that a known integer point satisfies."""
    n_int, n_real, m = 4, 2, 5
    builder = QueryBuilder()
    builder.add_vars(n_int, -3.0, 3.0, integer=True)
    builder.add_vars(n_real, -5.0, 5.0)
    A = rng.integers(-5, 6, size=(m, n_int + n_real)).astype(float)
    point = np.concatenate([rng.integers(-3, 4, n_int), rng.uniform(-5, 5, n_real)])
    builder.add_rows(A, None, -np.inf, A @ point + rng.uniform(0, 3, m))
    objective = rng.integers(-9, 10, n_int + n_real).astype(float)
    return builder.build(objective=objective, maximize=bool(rng.integers(2)))


def test_random_milps_agree() -> None:
    rng = np.random.default_rng(7)
    highs, pyomo = HighsSolver(mip_rel_gap=1e-9), PyomoSolver(mip_rel_gap=1e-9)
    for _ in range(20):
        query = _random_milp(rng)
        first, second = highs.solve(query), pyomo.solve(query)
        assert first.status == second.status == "optimal"
        assert first.objective == pytest.approx(second.objective, rel=1e-6, abs=1e-6)
        assert query.check_values(first.values) == query.check_values(second.values) == []


def test_a_forked_child_solves_after_the_parent_used_threads() -> None:
    """HiGHS's worker threads do not survive a fork, but its pool's record of them does: a
    MIP in a forked trial would wait for them for ever. The plugin drops the record in the
    child (os.register_at_fork), so the child solves."""
    import multiprocessing

    solver = default_registry().solver("highs", threads=2)
    query = _knapsack_query()
    assert solver.solve(query, timeout=60).status == "optimal"  # the parent's pool has workers
    child = multiprocessing.get_context("fork").Process(target=_solve_knapsack)
    child.start()
    child.join(60)
    hung = child.is_alive()
    if hung:
        child.kill()
        child.join()
    assert not hung and child.exitcode == 0


def _knapsack_query() -> Query:
    """A small integer program HiGHS branches on (40 integers, 30 rows)."""
    rng = np.random.default_rng(0)
    builder = QueryBuilder()
    builder.add_vars(40, 0.0, 10.0, integer=True)
    builder.add_rows(rng.uniform(0, 3, (30, 40)), None, -np.inf, rng.uniform(10, 20, 30))
    return builder.build(objective=-rng.uniform(1, 2, 40))


def _solve_knapsack() -> None:
    solution = default_registry().solver("highs").solve(_knapsack_query(), timeout=60)
    raise SystemExit(0 if solution.status == "optimal" else 1)
