"""Activation-splitting branch and bound: sound optimised bounds (alpha, beta), verdicts that
agree with an exact solver and with the MILP, every sat replayed, conjunctions and
disjunctions, sparse (convolution) layers, the deadline honoured (the whole process too), and
the strategy the verifier picks by input dimension."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from cli_helpers import nnv
from conftest import random_network

from nnv.core import InputPiece, Network, OutputConjunction, Property
from nnv.core.bounds import crown
from nnv.core.bounds.crown import (
    Box,
    Relaxation,
    Root,
    TorchNetwork,
    back_substitute,
    refine,
    root_bounds,
    stacked_rows,
)
from nnv.core.bounds.crown_optimise import Problem, optimise
from nnv.core.bounds.crown_root import optimise_root
from nnv.core.plugin.registry import default_registry
from nnv.core.verify.activation_bab import ActivationSettings
from nnv.core.verify.domains import Domains, split
from nnv.core.verify.pgd import pgd_attack
from nnv.core.verify.verifier import Verifier

# every domain bounded with few steps, so that small networks need real splits
SMALL = ActivationSettings(intermediate_iterations=0, root_iterations=2, iterations=4, batch=8)


@pytest.fixture(autouse=True)
def one_torch_thread() -> object:
    """The search runs torch on one thread (see ActivationSettings.threads); so do the direct
    calls here: on shared cores, tiny operations on two threads spend their time waiting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def replays(net: Network, prop: Property, point: np.ndarray) -> bool:
    """An independent replay: the point is in the region and its float64 output is unsafe."""
    return bool(prop.in_region(point)[0] and prop.is_unsafe(net.forward(point))[0])


def random_property(rng: np.random.Generator, net: Network, kind: str, scale: float) -> Property:
    """Robustness around a random point (one row per disjunct), or one conjunction of two
    random rows whose thresholds make each row alone hold on a small part of the box."""
    n_in, n_out = net.n_inputs, net.n_outputs
    center = rng.uniform(-1, 1, n_in)
    radius = scale * float(rng.choice([0.5, 1.0, 2.0]))
    piece = InputPiece(center - radius, center + radius)
    if kind == "robust":
        return Property.classification(piece, int(net.predict(center)[0]), n_out)
    C = rng.normal(size=(2, n_out))
    slack = net.forward(rng.uniform(piece.lower, piece.upper, (300, n_in))) @ C.T
    d = np.quantile(slack, rng.uniform(0.05, 0.3), axis=0)
    return Property((piece,), (OutputConjunction(C, d),), n_in, n_out)


def instances(
    count: int, seed: int, shape: tuple[int, ...], scale: float
) -> list[tuple[Network, Property]]:
    """Random networks and properties; ``scale`` sets the boxes' size (about half hold)."""
    rng = np.random.default_rng(seed)
    kinds = ["robust", "linear"]
    return [
        (net, random_property(rng, net, kinds[index % 2], scale))
        for index, net in enumerate(random_network(rng, shape) for _ in range(count))
    ]


def activation(settings: ActivationSettings = SMALL, **options: object) -> Verifier:
    highs = default_registry().solver("highs")
    return Verifier(highs, timeout=60, strategy="activation", activation=settings, **options)


def check_sat(net: Network, prop: Property, result: object) -> None:
    assert result.counterexample is not None and replays(net, prop, result.counterexample)
    assert np.array_equal(result.output, net.forward(result.counterexample))


def test_activation_bab_agrees_with_z3_and_every_sat_replays() -> None:
    """Every unsat is checked by z3 through the plain path, which gets no float bounds, so its
    unsat is exact (networks small enough for it); every sat replays, which is its own proof.
    Half of the runs send every domain that needs a split to the MILP."""
    z3 = default_registry().solver("z3")
    verdicts = {"sat": 0, "unsat": 0}
    branched = 0
    for index, (net, prop) in enumerate(instances(8, seed=4, shape=(10, 5, 5, 3), scale=0.5)):
        settings = SMALL if index % 2 else ActivationSettings(max_depth=0, root_iterations=2)
        result = activation(settings, falsify_samples=0).verify(net, prop)
        assert result.extra["strategy"] == "activation"
        verdicts[result.status] += 1
        branched += result.extra["domains"] > len(prop.unsafe_outputs)
        if result.status == "sat":
            check_sat(net, prop, result)
            continue
        proof = Verifier(z3, timeout=60, falsify_samples=0, strategy="milp").verify(net, prop)
        assert proof.exact and result.status == proof.status == "unsat", proof.to_dict()
    assert verdicts["sat"] >= 3 and verdicts["unsat"] >= 3, verdicts
    assert branched >= 2


@pytest.mark.parametrize(("shape", "scale"), [((4, 16, 16, 3), 0.5), ((6, 20, 20, 20, 4), 0.2)])
def test_activation_bab_agrees_with_input_splitting_on_larger_networks(
    shape: tuple[int, ...], scale: float
) -> None:
    """The input-splitting search (checked against z3 in test_bab) is an independent answer
    on these few inputs; z3 without bounds does not finish on networks this size."""
    highs = default_registry().solver("highs")
    verdicts = {"sat": 0, "unsat": 0}
    by_solver = branched = 0
    for index, (net, prop) in enumerate(instances(10, len(shape), shape, scale)):
        milp = Verifier(highs, timeout=60, falsify_samples=0, strategy="bab").verify(net, prop)
        settings = SMALL if index % 3 else ActivationSettings(max_depth=2, root_iterations=2)
        result = activation(settings, falsify_samples=index % 2 * 500).verify(net, prop)
        assert result.status == milp.status, (result.to_dict(), milp.to_dict())
        verdicts[result.status] += 1
        by_solver += result.proved_by_solver > 0 or result.found_by == "solver"
        branched += result.extra.get("domains", 0) > len(prop.unsafe_outputs)
        if result.status == "sat":
            check_sat(net, prop, result)
    assert verdicts["sat"] >= 2 and verdicts["unsat"] >= 2, verdicts
    assert branched >= 2 and by_solver >= 1


def crown_setup(
    net: Network, lower: np.ndarray, upper: np.ndarray
) -> tuple[TorchNetwork, Box, Root]:
    tn = TorchNetwork.of(net)
    box = Box.of(lower, upper)
    with torch.no_grad():
        return tn, box, root_bounds(tn, box)


def test_optimised_alpha_bounds_are_never_looser_than_crown_and_contain_samples() -> None:
    rng = np.random.default_rng(11)
    for _ in range(8):
        net = random_network(rng, (5, 16, 16, 16, 4))
        center = rng.uniform(-1, 1, 5)
        lower, upper = center - 0.4, center + 0.4
        tn, box, root = crown_setup(net, lower, upper)
        C = torch.tensor(rng.normal(size=(6, 1, 4)))  # six domains of one row each
        d = torch.tensor(rng.normal(size=(6, 1)))
        relaxations = [
            Relaxation.of(low[None], high[None])
            for low, high in zip(root.lower, root.upper, strict=True)
        ]
        plain = back_substitute(tn, 3, C, -d, relaxations, root.magnitude, box).bound
        tight = optimise_root(tn, box, (C, d), root, 10)  # checked against the samples below
        domains = Domains.roots(root, 6, 1)
        problem = Problem(tn, (C, d), relaxations, root, box)
        result = optimise(problem, domains.alphas, domains.betas, 30)
        assert torch.all(result.bound >= plain)
        points = rng.uniform(lower, upper, (10_000, 5))
        values = net.forward(points) @ C[:, 0, :].numpy().T - d[:, 0].numpy()
        assert np.all(values.min(axis=0) >= result.bound[:, 0].numpy())
        for index, pre in enumerate(net.activations(points)[:-1]):
            assert np.all(pre >= tight.lower[index].numpy())
            assert np.all(pre <= tight.upper[index].numpy())
        assert float((result.bound - plain).max()) > 0  # the optimisation does something


def test_beta_bounds_are_sound_on_split_domains() -> None:
    """Splits of random unstable neurons; the inputs that meet every split (sampled) keep their
    outputs above the beta-CROWN bound and their pre-activations inside the refined bounds."""
    rng = np.random.default_rng(12)
    checked = 0
    for _ in range(6):
        net = random_network(rng, (3, 12, 12, 12, 3))
        center = rng.uniform(-1, 1, 3)
        lower, upper = center - 0.5, center + 0.5
        tn, box, root = crown_setup(net, lower, upper)
        C = torch.tensor(rng.normal(size=(1, 2, 3)))
        d = torch.tensor(rng.normal(size=(1, 2)))
        domains = Domains.roots(root, 1, 2)
        points = rng.uniform(lower, upper, (40_000, 3))
        pre = net.activations(points)
        anchor = net.activations(rng.uniform(lower, upper, 3))
        anchor_signs = np.concatenate([np.sign(layer[0]) for layer in anchor[:-1]])
        for _ in range(4):  # four splits on random unstable neurons, as a random point has them
            unstable = torch.nonzero(
                torch.cat(
                    [
                        ((low < 0) & (high > 0))[0]
                        for low, high in zip(domains.lower, domains.upper, strict=True)
                    ]
                )
            ).flatten()
            if not unstable.numel():
                break
            flat = unstable[rng.integers(unstable.numel())].reshape(1)
            value = torch.tensor([1 if anchor_signs[int(flat)] >= 0 else -1], dtype=torch.int8)
            domains = split(root, domains, flat, value, torch.zeros((1, 3)))
        lows = [low.double() for low in domains.lower]
        highs = [high.double() for high in domains.upper]
        relaxations = refine(
            tn, box, root.magnitude, (lows, highs), domains.splits, torch.tensor([1]), tn.n_hidden
        )
        problem = Problem(tn, (C, d), relaxations, root, box)
        result = optimise(problem, domains.alphas, domains.betas, 30, mix=domains.mix)
        meets = np.ones(len(points), dtype=bool)
        for index, splits in enumerate(domains.splits):
            signs = splits[0].numpy()
            meets &= np.all((pre[index] >= 0) | (signs <= 0), axis=1)
            meets &= np.all((pre[index] <= 0) | (signs >= 0), axis=1)
        if meets.sum() < 20:
            continue
        checked += 1
        values = net.forward(points[meets]) @ C[0].numpy().T - d[0].numpy()
        assert np.all(values.min(axis=0) >= result.bound[0, :2].numpy())
        # the mixed row bounds the larger of the two rows (what closes a conjunction)
        assert values.max(axis=1).min() >= float(result.bound[0, 2])
        for index in range(tn.n_hidden):
            assert np.all(pre[index][meets] >= lows[index][0].numpy())
            assert np.all(pre[index][meets] <= highs[index][0].numpy())
    assert checked >= 3


def test_pgd_finds_a_violation_that_replays() -> None:
    rng = np.random.default_rng(5)
    net = random_network(rng, (40, 20, 20, 3))
    center = rng.uniform(-1, 1, 40)
    label = int(net.predict(center)[0])
    prop = Property.robustness(center, 0.3, label, 3)
    piece = prop.pieces[0]
    hits = pgd_attack(
        TorchNetwork.of(net),
        piece.lower,
        piece.upper,
        stacked_rows(prop.unsafe_outputs),
        restarts=8,
        steps=30,
    )
    assert len(hits) and all(replays(net, prop, point) for point in hits)
    result = Verifier(default_registry().solver("highs"), timeout=60).verify(net, prop)
    assert result.status == "sat" and result.extra["strategy"] == "activation"
    check_sat(net, prop, result)


def hard_instance() -> tuple[Network, Property]:
    """An instance that holds but needs splits: its root bounds cannot prove it."""
    for net, prop in instances(30, 21, (4, 16, 16, 3), 0.5):
        result = activation(falsify_samples=0).verify(net, prop)
        if result.status == "unsat" and result.extra["domains"] > 3 * len(prop.unsafe_outputs):
            return net, prop
    raise AssertionError("no instance needed splitting")


@pytest.mark.slow
def test_a_spent_deadline_gives_timeout_never_unsat() -> None:
    net, prop = hard_instance()
    highs = default_registry().solver("highs")
    for timeout in (0.0, 1e-3):
        verifier = Verifier(highs, timeout=timeout, strategy="activation", activation=SMALL)
        assert verifier.verify(net, prop).status == "timeout"


def test_auto_picks_the_search_by_input_dimension() -> None:
    highs = default_registry().solver("highs")
    rng = np.random.default_rng(3)
    narrow = random_network(rng, (3, 8, 2))
    wide = random_network(rng, (40, 8, 2))
    for net, expected in ((narrow, "bab"), (wide, "activation")):
        center = np.zeros(net.n_inputs)
        prop = Property.robustness(center, 0.01, int(net.predict(center)[0]), 2)
        result = Verifier(highs, falsify_samples=0).verify(net, prop)
        assert result.status == "unsat" and result.extra["strategy"] == expected
        bab = Verifier(highs, falsify_samples=0, strategy="bab").verify(net, prop)
        assert bab.extra["strategy"] == ("bab" if expected == "bab" else "milp")


def test_cli_says_which_search_proved_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    net = random_network(rng, (40, 10, 10, 2))
    center = rng.uniform(0, 1, 40)
    label = int(net.predict(center)[0])
    layers = [
        {"weight": layer.weight.tolist(), "bias": layer.bias.tolist()} for layer in net.layers
    ]
    network = tmp_path / "net.json"
    network.write_text(json.dumps({"format": "nnv-network", "version": 1, "layers": layers}))
    lines = [f"(declare-const X_{i} Real)" for i in range(40)]
    lines += ["(declare-const Y_0 Real)", "(declare-const Y_1 Real)"]
    for i, value in enumerate(center.tolist()):
        lines += [f"(assert (>= X_{i} {value - 0.01!r}))", f"(assert (<= X_{i} {value + 0.01!r}))"]
    lines.append(f"(assert (>= Y_{1 - label} Y_{label}))")
    prop = tmp_path / "prop.vnnlib"
    prop.write_text("\n".join(lines) + "\n")
    done = nnv("verify", str(network), str(prop), "--timeout", "60")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0] == "unsat"
    assert out[1].startswith("holds: ") and "activation-split domains by bounds" in out[1]
    assert (
        out[2]
        == "strategy: activation branch and bound (auto: 40 inputs, input splitting up to 32)"
    )


def test_disjunctions_of_conjunctions_agree_with_the_milp() -> None:
    """Two unsafe disjuncts of two rows each (a conjunction inside a disjunction), 40 inputs,
    the default ``auto`` strategy: the verdicts agree with the complete MILP path."""
    highs = default_registry().solver("highs")
    rng = np.random.default_rng(31)
    verdicts = {"sat": 0, "unsat": 0}
    for _ in range(6):
        net = random_network(rng, (40, 12, 12, 3))
        center = rng.uniform(-1, 1, 40)
        piece = InputPiece(center - 0.05, center + 0.05)
        outputs = net.forward(rng.uniform(piece.lower, piece.upper, (300, 40)))
        disjuncts = []
        for _ in range(2):
            C = rng.normal(size=(2, 3))
            values = outputs @ C.T  # thresholds near the sampled minimum: some reachable
            spread = values.max(axis=0) - values.min(axis=0)
            d = values.min(axis=0) - rng.uniform(0.5, 3.0) * spread
            disjuncts.append(OutputConjunction(C, d))
        prop = Property((piece,), tuple(disjuncts), 40, 3)
        result = Verifier(highs, timeout=60, falsify_samples=0).verify(net, prop)
        assert result.extra["strategy"] == "activation"
        milp = Verifier(highs, timeout=60, falsify_samples=0, strategy="milp").verify(net, prop)
        assert result.status == milp.status, (result.to_dict(), milp.to_dict())
        verdicts[result.status] += 1
        if result.status == "sat":
            check_sat(net, prop, result)
    assert verdicts["sat"] >= 1 and verdicts["unsat"] >= 1, verdicts


def convolution(size: int, channels: int, kernel: np.ndarray) -> sp.csr_array:
    """The sparse affine map of a 3x3 convolution (no padding) of a ``size`` x ``size`` image,
    ``kernel`` ``(channels, 3, 3)``, the outputs channel-major, as the ONNX loader lowers it."""
    out = size - 2
    rows, cols, values = [], [], []
    for c in range(channels):
        for i in range(out):
            for j in range(out):
                for a in range(3):
                    for b in range(3):
                        rows.append((c * out + i) * out + j)
                        cols.append((i + a) * size + j + b)
                        values.append(kernel[c, a, b])
    return sp.csr_array((values, (rows, cols)), shape=(channels * out * out, size * size))


@pytest.mark.slow
def test_a_convolution_network_stays_sparse_and_answers_as_the_dense_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 6x6 image through a 4-channel convolution: with every sparse layer kept sparse in
    torch (the limit lowered to zero), bounds and verdicts are those of the dense copy."""
    rng = np.random.default_rng(17)
    highs = default_registry().solver("highs")
    verdicts = set()
    for radius in (0.02, 0.3, 0.05, 1.0):
        kernel = rng.normal(size=(4, 3, 3)) / 2
        conv = convolution(6, 4, kernel)
        head = random_network(rng, (64, 10, 3))
        layers = [(conv, rng.normal(size=64) * 0.1), *((h.weight, h.bias) for h in head.layers)]
        sparse = Network(layers)
        dense = sparse.as_dense("the comparison")
        center = rng.uniform(0, 1, 36)
        prop = Property.robustness(center, radius, int(sparse.predict(center)[0]), 3)
        milp = Verifier(highs, timeout=60, falsify_samples=0, strategy="milp").verify(dense, prop)
        monkeypatch.setattr(crown, "DENSE_ENTRIES", 0)
        torch_net = TorchNetwork.of(sparse)
        assert torch_net.layers[0].sparse and torch_net.layers[0].weight.layout == torch.sparse_csr
        box = Box.of(prop.pieces[0].lower, prop.pieces[0].upper)
        with torch.no_grad():
            kept = root_bounds(torch_net, box)
        result = Verifier(highs, timeout=60, strategy="activation").verify(sparse, prop)
        monkeypatch.setattr(crown, "DENSE_ENTRIES", 2**20)
        assert not TorchNetwork.of(sparse).layers[0].sparse
        with torch.no_grad():
            made_dense = root_bounds(TorchNetwork.of(dense), box)
        for low, other in zip(kept.lower, made_dense.lower, strict=True):
            np.testing.assert_allclose(low.numpy(), other.numpy(), rtol=1e-9, atol=1e-9)
        assert result.status == milp.status, (result.to_dict(), milp.to_dict())
        verdicts.add(result.status)
        if result.status == "sat":
            check_sat(sparse, prop, result)
    assert verdicts == {"sat", "unsat"}, verdicts


def network_file(path: Path) -> Network:
    return default_registry().load_network(path)


def property_file(path: Path) -> Property:
    return default_registry().load_property(path)


def test_the_whole_process_ends_at_its_timeout(tmp_path: Path) -> None:
    """``nnv verify --timeout 4`` on a network too large to decide in 4 s (a wide box, an
    output threshold far beyond the sampled ones) says timeout, and the process ends within
    4 + 2 s of what a run with timeout 0 takes (start-up, loading, torch's import: on shared
    cores these alone vary by seconds). In process, the verifier's time is within 1 s of its
    timeout."""
    rng = np.random.default_rng(2)
    net = random_network(rng, (200, 300, 300, 300, 10))
    layers = [{"weight": w.weight.tolist(), "bias": w.bias.tolist()} for w in net.layers]
    network = tmp_path / "net.json"
    network.write_text(json.dumps({"format": "nnv-network", "version": 1, "layers": layers}))
    center = rng.uniform(-1, 1, 200)
    lines = [f"(declare-const X_{i} Real)" for i in range(200)]
    lines += [f"(declare-const Y_{i} Real)" for i in range(10)]
    for i, value in enumerate(center.tolist()):
        lines += [f"(assert (>= X_{i} {value - 0.3!r}))", f"(assert (<= X_{i} {value + 0.3!r}))"]
    samples = net.forward(rng.uniform(center - 0.3, center + 0.3, (2000, 200)))[:, 0]
    beyond = float(4 * samples.max() - 3 * samples.min())  # far beyond the samples
    lines.append(f"(assert (>= Y_0 {beyond!r}))")
    prop = tmp_path / "prop.vnnlib"
    prop.write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-c", "from nnv.cli.main import main; main()", "verify"]

    def run(timeout: str) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.perf_counter()
        done = subprocess.run(
            [*command, str(network), str(prop), "--timeout", timeout],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done, time.perf_counter() - started

    # what no timeout can save: Python and torch start-up and exit, under the machine's load
    fixed = run("0")[1]
    done, wall = run("4")
    assert done.stdout.splitlines()[0] == "timeout", done.stdout
    assert wall <= fixed + 4 + 2, (wall, fixed)
    verifier = Verifier(default_registry().solver("highs"), timeout=1.0)
    result = verifier.verify(network_file(network), property_file(prop))
    assert result.status == "timeout" and result.seconds <= 1.0 + 1.0, result.seconds


def test_a_sparse_layer_pulls_and_pushes_no_rows() -> None:
    """A large sparse layer kept as CSR: with nothing unstable there are no rows to pull,
    and the products keep their widths (a conv net of collins_rul_cnn hit this)."""
    weight = sp.random(1100, 1000, density=0.002, format="csr", random_state=0)
    layer = crown.Linear.of(Network([(weight, np.zeros(1100))]).layers[0])
    assert layer.sparse
    assert layer.pull(torch.zeros(1, 0, 1100, dtype=torch.float64)).shape == (1, 0, 1000)
    assert layer.push(torch.zeros(0, 1000, dtype=torch.float64)).shape == (0, 1100)
    lam = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 3, 1100)))
    assert torch.allclose(layer.pull(lam), lam @ torch.from_numpy(weight.toarray()))
