"""Solvers and modes side by side on the same repair trials (XOR-B property 1).

Run from the repository root::

    pytest benchmarks/test_bench_repair.py --benchmark-group-by=param:trial

Each benchmark is one ``Repairer.trial(free)`` with the paper's Samples heuristic on the
first 200 training points (z3's and cvc5's exact maximisation over all 1562 takes minutes):
the counterexample-guided mode with each solver doing synthesis, and the paper's quantified
mode (z3, cvc5) at threshold 150. Every result must be a certified repair.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from nnv.core import Dataset
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.registry import default_registry
from nnv.core.repair.loop import Repairer
from nnv.core.repair.settings import RepairSettings
from nnv.core.verify.certifier import Certifier

# (solver, mode) pairings, and the free sets each is timed on
PAIRINGS = [
    ("highs", "cegis"),
    ("pyomo", "cegis"),
    ("z3", "cegis"),
    ("cvc5", "cegis"),
    ("z3", "quantified"),
    ("cvc5", "quantified"),
]
SAMPLES = 200
TRIALS = {"b2.2": ("b2.2",), "w1.1.1+w1.2.1": ("w1.1.1", "w1.2.1")}
# the paper's formula with two first-layer weights is nonlinear and quantified: too slow here
SKIP = {("quantified", "w1.1.1+w1.2.1"), ("cegis-smt", "w1.1.1+w1.2.1")}


@functools.cache
def engine(nnsynth: Path, solver: str, mode: str) -> Repairer:
    registry = default_registry()
    base = nnsynth / "xor_b"
    net = registry.load_network(base / "model.onnx")
    prop = registry.load_property(base / "properties" / "prop_1.vnnlib")
    data = Dataset.load(base / "data.npz")
    X = data.splits["train"][0][:SAMPLES]
    return Repairer(
        net,
        [prop],
        SoftConstraints(X, net.predict(X)),
        data,
        solver=registry.solver(solver),
        verifier=registry.solver("highs"),
        certifier=Certifier(registry.solver("highs"), registry.solver("z3")),
        settings=RepairSettings(
            mode=mode,
            threshold=150 if mode == "quantified" else None,  # type: ignore[arg-type]
            trial_timeout=300,
        ),
    )


@pytest.mark.parametrize("trial", list(TRIALS))
@pytest.mark.parametrize(("solver", "mode"), PAIRINGS)
def test_repair_trial(
    benchmark: BenchmarkFixture, nnsynth: Path, solver: str, mode: str, trial: str
) -> None:
    kind = "cegis-smt" if mode == "cegis" and solver in ("z3", "cvc5") else mode
    if (kind, trial) in SKIP:
        pytest.skip(f"{mode} with {solver} on {trial} takes minutes; see the docstring")
    benchmark.group = trial
    repairer = engine(nnsynth, solver, mode)
    result = benchmark.pedantic(repairer.trial, args=(TRIALS[trial],), rounds=2, iterations=1)
    assert result.status == "repaired", result.message
    assert result.certified_by is not None
    benchmark.extra_info.update(accuracy=result.accuracy, kept=result.kept, rounds=result.rounds)
