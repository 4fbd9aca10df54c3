"""Branch and bound (the default ``bab`` strategy): sound bounds, answers that agree with the
exact solvers and with the plain MILP path, every sat replayed, ACAS Xu instances right."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import nnv
from conftest import random_network

from nnv.core import InputPiece, Network, OutputConjunction, Property
from nnv.core.bounds.batched import batch_bounds
from nnv.core.errors import InputError
from nnv.core.plugin.registry import default_registry
from nnv.core.runtime.blas import blas_threads
from nnv.core.verify.input_bab import BabSettings, pair_bound
from nnv.core.verify.verifier import Verifier

ROOT = Path(__file__).resolve().parent.parent


def replays(net: Network, prop: Property, point: np.ndarray) -> bool:
    """An independent replay: the point is in the region and its float64 output is unsafe."""
    return bool(prop.in_region(point)[0] and prop.is_unsafe(net.forward(point))[0])


def random_property(rng: np.random.Generator, net: Network, kind: str) -> Property:
    """One of four shapes: robustness (one row per disjunct), "the label is not minimal"
    (one conjunction of several rows, like ACAS Xu's property 3), a random two-row
    conjunction, and a region of two boxes."""
    n_in, n_out = net.n_inputs, net.n_outputs
    center = rng.uniform(-1, 1, n_in)
    radius = float(rng.choice([0.2, 0.5, 1.0]))
    piece = InputPiece(center - radius, center + radius)
    label = int(net.predict(center)[0])
    if kind == "robust":
        return Property.classification(piece, label, n_out)
    if kind == "minimal":  # unsafe: y_k <= y_j for every j, i.e. output k is the minimum
        label = int(np.argsort(net.forward(center))[1])  # the second smallest at the centre
        rows = np.eye(n_out)[[j for j in range(n_out) if j != label]]
        C = np.eye(n_out)[label] - rows
        return Property((piece,), (OutputConjunction(C, np.zeros(n_out - 1)),), n_in, n_out)
    if kind == "linear":
        C = rng.normal(size=(2, n_out))
        # each row alone holds on a small part of the box: the two together, maybe nowhere
        slack = net.forward(rng.uniform(piece.lower, piece.upper, (200, n_in))) @ C.T
        d = np.quantile(slack, rng.uniform(0.02, 0.2), axis=0)
        return Property((piece,), (OutputConjunction(C, d),), n_in, n_out)
    other = InputPiece(center + 2 * radius, center + 3 * radius)
    unsafe = Property.classification(piece, label, n_out).unsafe_outputs
    return Property((piece, other), unsafe, n_in, n_out)


def instances(count: int, seed: int, shape: tuple[int, ...]) -> list[tuple[Network, Property]]:
    rng = np.random.default_rng(seed)
    kinds = itertools.cycle(["robust", "minimal", "linear", "two boxes"])
    return [
        (net, random_property(rng, net, next(kinds)))
        for net in (random_network(rng, shape) for _ in range(count))
    ]


def test_batch_bounds_contain_every_sampled_value_and_never_loosen_on_a_sub_box() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        net = random_network(rng, (3, 12, 12, 12, 4))
        lower = rng.uniform(-1, 0, (16, 3))
        upper = lower + rng.uniform(0.05, 1.0, (16, 3))
        C, d = rng.normal(size=(3, 4)), rng.normal(size=3)
        bounds = batch_bounds(net, lower, upper, C, d)
        # a sub-box of each box, bounded with its parent's bounds as a floor
        sub_lower = lower + (upper - lower) * 0.25
        sub_upper = upper - (upper - lower) * 0.25
        sub = batch_bounds(net, sub_lower, sub_upper, C, d, prior=bounds)
        assert np.all(sub.rows >= bounds.rows)
        for parent, child in zip(bounds.lower, sub.lower, strict=True):
            assert np.all(child >= parent)
        for low, high, b in ((lower, upper, bounds), (sub_lower, sub_upper, sub)):
            for i in range(low.shape[0]):
                points = rng.uniform(low[i], high[i], (1000, 3))
                for k, values in enumerate(net.activations(points)):
                    assert np.all(values >= b.lower[k][i]) and np.all(values <= b.upper[k][i])
                slack = net.forward(points) @ C.T - d
                assert np.all(slack >= b.rows[i])
                # the linear lower bound of each row holds at every point
                linear = b.centre[i] + (points - (low[i] + high[i]) / 2) @ b.slopes[i].T
                assert np.all(slack >= linear - 1e-9)
                mix = pair_bound(b, 0, 1, (high - low) / 2)[i]
                assert np.all(np.maximum(slack[:, 0], slack[:, 1]) >= mix)


def test_pair_bound_proves_a_conjunction_no_single_row_can() -> None:
    # y = (x, -x) on [-1, 1] (through a ReLU that is always on): x <= -0.2 and -x <= -0.2 are
    # each reachable, both at once are not
    net = Network([([[1.0]], [2.0]), ([[1.0], [-1.0]], [-2.0, 2.0])])
    C, d = np.eye(2), np.array([-0.2, -0.2])
    bounds = batch_bounds(net, np.array([[-1.0]]), np.array([[1.0]]), C, d)
    assert np.all(bounds.rows <= 0)
    assert pair_bound(bounds, 0, 1, np.array([[1.0]]))[0] > 0


@pytest.mark.parametrize("exact", ["z3", "cvc5"])
def test_bab_agrees_with_an_exact_solver_and_every_sat_replays(exact: str) -> None:
    registry = default_registry()
    verdicts = {"sat": 0, "unsat": 0}
    for net, prop in instances(16, seed=3, shape=(2, 6, 6, 3)):
        bab = Verifier(registry.solver("highs"), timeout=60, falsify_samples=0).verify(net, prop)
        proof = Verifier(registry.solver(exact), timeout=60, falsify_samples=0).verify(net, prop)
        assert proof.exact or proof.status == "sat"
        assert bab.status == proof.status, (bab.to_dict(), proof.to_dict())
        verdicts[bab.status] += 1
        if bab.status == "sat":
            assert bab.counterexample is not None and replays(net, prop, bab.counterexample)
            assert np.array_equal(bab.output, net.forward(bab.counterexample))
    assert verdicts["sat"] >= 3 and verdicts["unsat"] >= 3, verdicts


def test_bab_and_the_plain_milp_agree_also_when_boxes_go_to_the_solver() -> None:
    highs = default_registry().solver("highs")
    verdicts = {"sat": 0, "unsat": 0}
    by_solver = 0
    for net, prop in instances(24, seed=7, shape=(3, 10, 10, 10, 4)):
        milp = Verifier(highs, timeout=60, falsify_samples=0, strategy="milp").verify(net, prop)
        bab = Verifier(highs, timeout=60, falsify_samples=0).verify(net, prop)
        # every box that needs a split goes to the MILP instead: the fallback path
        shallow = Verifier(highs, timeout=60, falsify_samples=0, bab=BabSettings(max_depth=1))
        fallback = shallow.verify(net, prop)
        assert milp.status == bab.status == fallback.status, (milp.to_dict(), bab.to_dict())
        verdicts[bab.status] += 1
        by_solver += fallback.proved_by_solver > 0 or fallback.found_by == "solver"
        for result in (bab, fallback):
            if result.status == "sat":
                assert result.counterexample is not None
                assert replays(net, prop, result.counterexample)
    assert verdicts["sat"] >= 4 and verdicts["unsat"] >= 4, verdicts
    assert by_solver >= 3


def test_polytope_pieces_keep_the_plain_path() -> None:
    net = random_network(np.random.default_rng(2), (2, 8, 8, 2))
    # |x0| + |x1| <= 0.3 as four half-planes; y0 - y1 must stay below its value at 0 plus 5
    A_in = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    y0 = net.forward(np.zeros(2))
    prop = Property.linear(A_in, np.full(4, 0.3), [[1.0, -1.0]], [y0[0] - y0[1] + 5.0])
    result = Verifier(default_registry().solver("highs"), falsify_samples=0).verify(net, prop)
    assert result.status == "unsat"
    assert result.extra["strategy"] == "milp"


def split_unsat_instance() -> tuple[Network, Property]:
    """An instance that holds but that the bounds of the whole box cannot prove."""
    highs = default_registry().solver("highs")
    for net, prop in instances(40, seed=1, shape=(3, 16, 16, 3)):
        result = Verifier(highs, falsify_samples=0).verify(net, prop)
        if result.status == "unsat" and result.extra["boxes"] > 1:
            return net, prop
    raise AssertionError("no instance needed splitting")


def test_a_spent_deadline_gives_timeout_never_unsat() -> None:
    net, prop = split_unsat_instance()
    highs = default_registry().solver("highs")
    result = Verifier(highs, timeout=0.0, falsify_samples=0).verify(net, prop)
    assert result.status == "timeout"


def test_a_solver_point_that_does_not_replay_on_a_fallback_box_is_never_sat() -> None:
    from nnv.core.plugin.solver import Solution, Solver

    class Liar(Solver):
        """Claims the upper corner of every variable box is a solution."""

        name = "liar"
        capabilities = frozenset({"linear", "integer", "relu", "optimize"})

        def _solve(self, query, timeout):  # type: ignore[no-untyped-def]
            return Solution("feasible", values=np.where(np.isfinite(query.ub), query.ub, 0.0))

    net, prop = split_unsat_instance()  # no point is unsafe, so no claimed point can replay
    result = Verifier(Liar(), falsify_samples=0, bab=BabSettings(max_depth=0)).verify(net, prop)
    assert result.status == "unknown"
    assert "breaks the problem" in result.message  # Solver.solve checks it before replay


def test_exact_solvers_ignore_the_strategy_and_stay_exact() -> None:
    z3 = default_registry().solver("z3")
    for net, prop in instances(12, seed=5, shape=(2, 5, 5, 3)):
        result = Verifier(z3, falsify_samples=0, strategy="bab").verify(net, prop)
        if result.status == "unsat":
            assert result.exact and result.extra["strategy"] == "milp"
            return
    pytest.fail("no instance was unsat")


def test_a_conjunction_without_rows_is_unsafe_everywhere() -> None:
    net = random_network(np.random.default_rng(8), (2, 4, 2))
    everywhere = OutputConjunction(np.zeros((0, 2)), np.zeros(0))
    prop = Property((InputPiece(np.zeros(2), np.ones(2)),), (everywhere,), 2, 2)
    result = Verifier(default_registry().solver("highs"), falsify_samples=0).verify(net, prop)
    assert result.status == "sat" and replays(net, prop, result.counterexample)


def test_wide_input_boxes_take_the_plain_path_under_input_splitting() -> None:
    """``input`` (and its old name ``bab``) never splits a wide box; ``auto`` splits its
    activations instead (tests/test_activation_bab.py)."""
    net = random_network(np.random.default_rng(9), (40, 8, 2))
    prop = Property.robustness(np.zeros(40), 0.01, int(net.predict(np.zeros(40))[0]), 2)
    highs = default_registry().solver("highs")
    for strategy in ("input", "bab"):
        result = Verifier(highs, falsify_samples=0, strategy=strategy).verify(net, prop)
        assert result.status == "unsat" and result.extra["strategy"] == "milp"


def test_an_unknown_strategy_is_bad_input() -> None:
    with pytest.raises(InputError, match="unknown strategy"):
        Verifier(default_registry().solver("highs"), strategy="dfs")


def test_blas_threads_restores_the_count() -> None:
    with blas_threads(1):
        inside = np.ones((64, 64)) @ np.ones((64, 64))
    assert inside[0, 0] == 64


def test_cli_strategy_option(tmp_path: Path) -> None:
    example = ROOT / "examples" / "xor"

    network, holds = str(example / "network.onnx"), str(example / "robust_holds.vnnlib")
    for strategy in ("bab", "milp"):
        done = nnv("verify", network, holds, "--strategy", strategy)
        assert done.returncode == 0 and done.stdout.splitlines()[0] == "unsat", done.stderr
    bad = nnv("verify", network, holds, "--strategy", "dfs")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown strategy" in lines[0]


@pytest.mark.parametrize(
    ("network", "prop", "expected"),
    [
        ("1_1", "prop_1", "unsat"),  # the plain MILP times out here
        ("1_1", "prop_3", "unsat"),  # a conjunction of four rows
        ("1_9", "prop_7", "sat"),  # two disjuncts of three rows each
        ("1_4", "prop_2", "sat"),
    ],
)
def test_acasxu_instances(acasxu: Path, network: str, prop: str, expected: str) -> None:
    registry = default_registry()
    net = registry.load_network(acasxu / f"ACASXU_run2a_{network}_batch_2000.onnx")
    spec = registry.load_property(acasxu / f"{prop}.vnnlib")
    # no falsification: branch and bound itself must find or refute the violation
    result = Verifier(registry.solver("highs"), timeout=300, falsify_samples=0).verify(net, spec)
    assert result.status == expected, result.to_dict()
    if expected == "sat":
        assert result.counterexample is not None and replays(net, spec, result.counterexample)


def test_vnncomp_scripts_write_the_result_file(tmp_path: Path) -> None:
    """The competition's interface: prepare exits 0, run writes the verdict (and for sat the
    assignment) into the result file, and a broken input gives `error`, never a crash."""
    command = Path(sys.executable).parent / "nnv"
    if not command.is_file():
        pytest.skip("the nnv command is not installed next to this Python")
    scripts = ROOT / "benchmarks" / "vnncomp"
    example = ROOT / "examples" / "xor"
    env = {"NNV": str(command), "PATH": "/usr/bin:/bin"}
    network = str(example / "network.onnx")

    def script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(scripts / name), "v1", "xor", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    violated = str(example / "robust_violated.vnnlib")
    assert script("prepare_instance.sh", network, violated).returncode == 0
    for prop, first in ((violated, "sat"), (str(example / "robust_holds.vnnlib"), "unsat")):
        result = tmp_path / "result.txt"
        assert script("run_instance.sh", network, prop, str(result), "60").returncode == 0
        text = result.read_text()
        assert text.splitlines()[0] == first
        if first == "sat":
            assert "(X_0 " in text and "(Y_1 " in text
    broken = tmp_path / "broken.txt"
    script("run_instance.sh", str(tmp_path / "missing.onnx"), violated, str(broken), "60")
    assert broken.read_text().strip() == "error"


def test_a_timeout_says_how_much_of_the_region_was_proved(acasxu: Path) -> None:
    registry = default_registry()
    network = registry.load_network(acasxu / "ACASXU_run2a_4_2_batch_2000.onnx")
    prop = registry.load_property(acasxu / "prop_2.vnnlib")  # holds, after many boxes
    fractions = []
    for seconds in (0.5, 6.0):
        result = Verifier(registry.solver("highs"), timeout=seconds, strategy="input").verify(
            network, prop
        )
        assert result.status == "timeout"
        fractions.append(result.extra["proved_fraction"])
    assert 0.0 <= fractions[0] <= fractions[1] < 1.0  # depth first: proofs only accumulate
    assert fractions[1] > 0.0
    done = Verifier(registry.solver("highs"), strategy="input").verify(
        network, registry.load_property(acasxu / "prop_1.vnnlib")
    )
    assert done.status == "unsat" and "proved_fraction" not in done.extra
