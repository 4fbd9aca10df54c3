"""The verify engine: all four solvers agree, every sat replays, the paper's five answers.

The solver comparisons use the plain ``milp`` strategy, so that every solver decides every
open case itself; tests/test_bab.py covers the default branch and bound.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import random_network

from nnv.core import Network, Property, Query, Solution, Solver
from nnv.core.plugin.registry import default_registry
from nnv.core.verify.verifier import Verifier, verify

SOLVERS = ["highs", "pyomo", "z3", "cvc5"]

# (network, property file, expected verdict): the repair paper's Table 2
PAPER_INSTANCES = [
    ("xor_a", "prop_1", "unsat"),
    ("xor_b", "prop_1", "sat"),
    ("xor_b", "prop_2", "sat"),
    ("blobs", "prop_1", "sat"),
    ("blobs", "prop_2", "sat"),
]


def replays(net: Network, prop: Property, point: np.ndarray) -> bool:
    """An independent replay: the point is in the region and its float64 output is unsafe."""
    return bool(prop.in_region(point)[0] and prop.is_unsafe(net.forward(point))[0])


def random_instances(count: int, seed: int) -> list[tuple[Network, Property]]:
    rng = np.random.default_rng(seed)
    instances = []
    for _ in range(count):
        net = random_network(rng, (2, 6, 6, 3))
        center = rng.uniform(-1, 1, 2)
        label = int(net.predict(center)[0])
        radius = float(rng.choice([0.05, 0.2, 0.6]))
        instances.append((net, Property.robustness(center, radius, label, n_outputs=3)))
    return instances


def test_all_solvers_agree_on_random_networks_and_every_sat_replays() -> None:
    registry = default_registry()
    verdicts: dict[str, int] = {"sat": 0, "unsat": 0}
    solved_by_solver = 0
    for net, prop in random_instances(24, seed=11):
        results = {
            name: Verifier(
                registry.solver(name), timeout=60, falsify_samples=0, strategy="milp"
            ).verify(net, prop)
            for name in SOLVERS
        }
        statuses = {name: result.status for name, result in results.items()}
        assert len(set(statuses.values())) == 1, statuses
        status = statuses["highs"]
        assert status in ("sat", "unsat")
        verdicts[status] += 1
        for result in results.values():
            if status == "sat":
                assert result.counterexample is not None
                assert replays(net, prop, result.counterexample)
                assert np.allclose(result.output, net.forward(result.counterexample))
        solved_by_solver += (
            results["highs"].found_by == "solver" or results["highs"].proved_by_solver > 0
        )
    # the instances exercise both verdicts and the solvers themselves, not only bounds
    assert verdicts["sat"] >= 3 and verdicts["unsat"] >= 3, verdicts
    assert solved_by_solver >= 6


def test_exact_solvers_mark_unsat_as_exact() -> None:
    registry = default_registry()
    for net, prop in random_instances(30, seed=5):
        result = verify(net, prop, registry.solver("z3"), falsify_samples=0)
        if result.status == "unsat" and result.proved_by_solver:
            assert result.exact
            assert not verify(net, prop, registry.solver("highs"), falsify_samples=0).exact
            return
    pytest.fail("no instance reached the exact solver with an unsat answer")


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(("name", "prop_name", "expected"), PAPER_INSTANCES)
def test_paper_properties_with_every_solver(
    nnsynth: Path, solver: str, name: str, prop_name: str, expected: str
) -> None:
    registry = default_registry()
    net = registry.load_network(nnsynth / name / "model.onnx")
    prop = registry.load_property(nnsynth / name / "properties" / f"{prop_name}.vnnlib")
    # no falsification: the solver itself must find (or refute) the violation
    verifier = Verifier(registry.solver(solver), timeout=120, falsify_samples=0, strategy="milp")
    result = verifier.verify(net, prop)
    assert result.status == expected
    if expected == "sat":
        assert result.found_by == "solver"
        assert replays(net, prop, result.counterexample)


@pytest.mark.parametrize(("name", "prop_name", "expected"), PAPER_INSTANCES)
def test_paper_properties_with_branch_and_bound(
    nnsynth: Path, name: str, prop_name: str, expected: str
) -> None:
    registry = default_registry()
    net = registry.load_network(nnsynth / name / "model.onnx")
    prop = registry.load_property(nnsynth / name / "properties" / f"{prop_name}.vnnlib")
    result = Verifier(registry.solver("highs"), timeout=120, falsify_samples=0).verify(net, prop)
    assert result.status == expected
    if expected == "sat":
        assert replays(net, prop, result.counterexample)


def test_counterexample_that_does_not_replay_is_never_sat() -> None:
    """A solver that returns a bogus point must not produce a sat verdict: the point breaks
    the Query, so ``Solver.solve`` already refuses to trust it."""

    class Liar(Solver):
        """Claims the upper corner of every variable box is a solution."""

        name = "liar"
        capabilities = frozenset({"linear", "integer", "relu", "optimize"})

        def _solve(self, query, timeout):  # type: ignore[no-untyped-def]
            return Solution("feasible", values=np.where(np.isfinite(query.ub), query.ub, 0.0))

    # violated for x0 <= 0.5, but not at the corner (1, 1)
    net, prop = _step_network()
    result = Verifier(Liar(), falsify_samples=0, strategy="milp").verify(net, prop)
    assert result.status == "unknown"
    assert "breaks the problem" in result.message
    honest = Verifier(default_registry().solver("highs"), falsify_samples=0)
    assert honest.verify(net, prop).status == "sat"


def _step_network() -> tuple[Network, Property]:
    """y0 = relu(x0) + 0.5, y1 = 1: violated (y0 <= y1) for x0 <= 0.5 only."""
    net = Network([([[1.0, 0.0]], [0.0]), ([[1.0], [0.0]], [0.5, 1.0])])
    return net, Property.robustness([0.0, 0.0], 1.0, label=0, n_outputs=2)


class _Nudger(Solver):
    """An honest MILP whose points miss the unsafe set by ``slack``, as float noise would:
    it relaxes the unsafe row by ``slack`` and pushes x0 to the boundary. The points satisfy
    the Query within the solution check's tolerance, so only replay can catch them."""

    name = "nudger"
    capabilities = frozenset({"linear", "integer", "relu", "optimize"})

    def __init__(self, slack: float) -> None:
        super().__init__()
        self.slack = slack

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        row_ub = query.row_ub.copy()
        row_ub[-1] += self.slack  # the unsafe conjunction's one row comes last
        objective = np.zeros(query.n_vars)
        objective[0] = 1.0  # x0
        nudged = replace(query, row_ub=row_ub, objective=objective, maximize=True)
        return default_registry().solver("highs").solve(nudged, timeout)


def test_a_point_off_by_float_noise_is_resolved_with_the_replay_margin() -> None:
    """x0 = 0.5 + 5e-7 does not replay; the re-solve with REPLAY_MARGIN gives x0 < 0.5."""
    net, prop = _step_network()
    result = Verifier(_Nudger(5e-7), falsify_samples=0, strategy="milp").verify(net, prop)
    assert result.status == "sat" and result.found_by == "solver", result.message
    assert replays(net, prop, result.counterexample)


def test_a_point_that_misses_by_more_than_the_replay_margin_is_unknown() -> None:
    """Off by 2e-6, more than the replay margin: neither solve replays, so ``unknown``."""
    net, prop = _step_network()
    result = Verifier(_Nudger(2e-6), falsify_samples=0, strategy="milp").verify(net, prop)
    assert result.status == "unknown"
    assert "did not replay" in result.message
