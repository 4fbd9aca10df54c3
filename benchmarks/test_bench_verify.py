"""The four built-in solvers side by side on the repair paper's verification instances.

Run from the repository root (``pytest`` alone runs only tests/)::

    pytest benchmarks/test_bench_verify.py --benchmark-group-by=param:instance

Each benchmark is one ``Verifier(solver, timeout=60, falsify_samples=0).verify(net, prop)``:
falsification is off, so every ``sat`` comes from the solver and the time is bounds plus the
exact solve (plus the float64 replay). Three rounds of one call each keep the suite short.
The verdicts are the paper's Table 2: XOR-A p1 holds, the other four are violated.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from nnv.core import Network, Property
from nnv.core.registry import default_registry
from nnv.core.verify import Verifier

SOLVERS = ["highs", "pyomo", "z3", "cvc5"]

# "<network>/p<K>" -> the expected verdict (VNN-LIB sense: sat = violated)
INSTANCES = {
    "xor_a/p1": "unsat",
    "xor_b/p1": "sat",
    "xor_b/p2": "sat",
    "blobs/p1": "sat",
    "blobs/p2": "sat",
}


@functools.cache
def load(nnsynth: Path, instance: str) -> tuple[Network, Property]:
    name, prop = instance.split("/")
    registry = default_registry()
    network = registry.load_network(nnsynth / name / "model.onnx")
    prop_file = nnsynth / name / "properties" / f"prop_{prop.removeprefix('p')}.vnnlib"
    return network, registry.load_property(prop_file)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("instance", list(INSTANCES))
def test_verify(benchmark: BenchmarkFixture, nnsynth: Path, instance: str, solver: str) -> None:
    network, prop = load(nnsynth, instance)
    verifier = Verifier(default_registry().solver(solver), timeout=60, falsify_samples=0)
    benchmark.group = instance
    result = benchmark.pedantic(
        verifier.verify, args=(network, prop), rounds=3, iterations=1, warmup_rounds=0
    )
    benchmark.extra_info.update(
        status=result.status,
        found_by=result.found_by,
        exact=result.exact,
        subproblems=result.subproblems,
        proved_by_bounds=result.proved_by_bounds,
        proved_by_solver=result.proved_by_solver,
    )
    assert result.status == INSTANCES[instance], result.message
    if result.status == "sat":
        assert result.found_by == "solver"
        assert result.counterexample is not None
        assert prop.in_region(result.counterexample)[0]
        assert prop.is_unsafe(network.forward(result.counterexample))[0]
