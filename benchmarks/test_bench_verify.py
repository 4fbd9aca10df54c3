"""The four built-in solvers side by side, and the two strategies side by side.

Run from the repository root (``pytest`` alone runs only tests/)::

    pytest benchmarks/test_bench_verify.py --benchmark-group-by=group

``test_verify``: one ``Verifier(solver, timeout=60, falsify_samples=0, strategy="milp")
.verify(net, prop)`` per solver on the repair paper's verification instances: falsification is
off and every open case goes to the solver, so every ``sat`` comes from the solver and the
time is bounds plus the exact solve (plus the float64 replay). The verdicts are the paper's
Table 2: XOR-A p1 holds, the other four are violated.

``test_strategy``: HiGHS with the plain ``milp`` path against ``bab`` (branch and bound over
the input box, the default) on the paper's instances and a few quick ACAS Xu ones (the hard
ones take the plain path minutes; see benchmarks/acasxu_sample.py for the full set).
Three rounds of one call each keep the suite short.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from nnv.core import Network, Property
from nnv.core.plugin.registry import default_registry
from nnv.core.verify.verifier import VerificationResult, Verifier

SOLVERS = ["highs", "pyomo", "z3", "cvc5"]

# "<network>/p<K>" -> the expected verdict (VNN-LIB sense: sat = violated)
INSTANCES = {
    "xor_a/p1": "unsat",
    "xor_b/p1": "sat",
    "xor_b/p2": "sat",
    "blobs/p1": "sat",
    "blobs/p2": "sat",
}
# "acasxu/<i>_<j>/prop_<K>" -> the expected verdict (instances.csv)
ACASXU = {
    "acasxu/1_7/prop_3": "sat",
    "acasxu/2_7/prop_4": "unsat",
    "acasxu/5_4/prop_4": "unsat",
}


@functools.cache
def load(shared: Path, instance: str) -> tuple[Network, Property]:
    registry = default_registry()
    if instance.startswith("acasxu/"):
        _, net, prop = instance.split("/")
        network = registry.load_network(shared / "acasxu" / f"ACASXU_run2a_{net}_batch_2000.onnx")
        return network, registry.load_property(shared / "acasxu" / f"{prop}.vnnlib")
    name, prop = instance.split("/")
    network = registry.load_network(shared / "nnsynth" / name / "model.onnx")
    prop_file = shared / "nnsynth" / name / "properties" / f"prop_{prop.removeprefix('p')}.vnnlib"
    return network, registry.load_property(prop_file)


def record(benchmark: BenchmarkFixture, result: VerificationResult) -> None:
    benchmark.extra_info.update(
        status=result.status,
        found_by=result.found_by,
        exact=result.exact,
        subproblems=result.subproblems,
        proved_by_bounds=result.proved_by_bounds,
        proved_by_solver=result.proved_by_solver,
        **result.extra,
    )


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("instance", list(INSTANCES))
def test_verify(benchmark: BenchmarkFixture, shared: Path, instance: str, solver: str) -> None:
    network, prop = load(shared, instance)
    verifier = Verifier(
        default_registry().solver(solver), timeout=60, falsify_samples=0, strategy="milp"
    )
    benchmark.group = f"solvers: {instance}"
    result = benchmark.pedantic(
        verifier.verify, args=(network, prop), rounds=3, iterations=1, warmup_rounds=0
    )
    record(benchmark, result)
    assert result.status == INSTANCES[instance], result.message
    if result.status == "sat":
        assert result.found_by == "solver"
        assert result.counterexample is not None
        assert prop.in_region(result.counterexample)[0]
        assert prop.is_unsafe(network.forward(result.counterexample))[0]


@pytest.mark.parametrize("strategy", ["milp", "bab"])
@pytest.mark.parametrize("instance", [*INSTANCES, *ACASXU])
def test_strategy(benchmark: BenchmarkFixture, shared: Path, instance: str, strategy: str) -> None:
    network, prop = load(shared, instance)
    highs = default_registry().solver("highs")
    verifier = Verifier(highs, timeout=60, falsify_samples=0, strategy=strategy)
    benchmark.group = f"strategies: {instance}"
    result = benchmark.pedantic(
        verifier.verify, args=(network, prop), rounds=3, iterations=1, warmup_rounds=0
    )
    record(benchmark, result)
    assert result.status == {**INSTANCES, **ACASXU}[instance], result.message
    if result.status == "sat":
        assert result.counterexample is not None
        assert prop.in_region(result.counterexample)[0]
        assert prop.is_unsafe(network.forward(result.counterexample))[0]
