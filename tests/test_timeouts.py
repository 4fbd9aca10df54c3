"""Every timeout honoured: a spent deadline stops the activation search before any further
work (no domain split, no bound tightened, no solver called), and the command line freezes
its objects out of the garbage collector before it exits (the interpreter's final collections
cost seconds after torch, counted in ``--timeout``). Wall time is measured by
benchmarks/mnist_fc.py, not here."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from conftest import random_network

from nnv.core import InputPiece, Network, OutputConjunction, Property
from nnv.core.bounds.crown import Box, Root, TorchNetwork, refine, root_bounds, stacked_rows
from nnv.core.bounds.crown_root import optimise_root
from nnv.core.verify.activation_bab import ActivationBranchAndBound, ActivationSettings
from nnv.core.verify.domains import Domains


def far_threshold_instance(seed: int, shape: tuple[int, ...]) -> tuple[Network, Property]:
    """A wide box and an output threshold far beyond the sampled outputs: it holds, but loose
    bounds cannot show it, so a search has work left when its deadline is spent."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, shape)
    n_in = shape[0]
    center = rng.uniform(-1, 1, n_in)
    piece = InputPiece(center - 0.3, center + 0.3)
    samples = net.forward(rng.uniform(piece.lower, piece.upper, (2000, n_in)))[:, 0]
    beyond = float(4 * samples.max() - 3 * samples.min())
    C = -np.eye(1, shape[-1])  # unsafe: Y_0 >= beyond
    return net, Property((piece,), (OutputConjunction(C, np.array([-beyond])),), n_in, shape[-1])


def test_a_spent_deadline_stops_the_activation_search_at_its_roots() -> None:
    """Given a deadline already past, the search ends with ``timeout`` after the root's bounds
    (which past the deadline skip their CROWN tightening): the one root domain is all it
    bounded, nothing is proved, and the exact solver is never called."""
    net, prop = far_threshold_instance(3, (60, 120, 120, 5))

    def no_solver(*_: object) -> tuple[str, None, str]:
        raise AssertionError("the solver was called after the deadline")

    def is_violation(points: np.ndarray) -> np.ndarray:
        return prop.violations(net.forward, points)

    search = ActivationBranchAndBound(
        TorchNetwork.of(net), prop.pieces[0], prop.unsafe_outputs, is_violation, no_solver
    )
    outcome = search.run(deadline=time.perf_counter())
    assert outcome.status == "timeout"
    assert outcome.boxes == 1  # the root domain only: nothing was split
    assert outcome.proved_by_bounds == 0 and outcome.proved_by_solver == 0
    # without a deadline the same search goes on past its root (it splits domains)
    search.settings = ActivationSettings(batch=4)
    later = search.run(time.perf_counter() + 3.0)
    assert later.boxes > 1, later


def root_of(seed: int) -> tuple[TorchNetwork, Box, Root, Property]:
    """A far-threshold instance's network, box and plain CROWN root bounds."""
    net, prop = far_threshold_instance(seed, (20, 40, 40, 40, 3))
    tn = TorchNetwork.of(net)
    piece = prop.pieces[0]
    box = Box.of(piece.lower, piece.upper)
    with torch.no_grad():
        return tn, box, root_bounds(tn, box), prop


def test_refine_past_its_deadline_keeps_the_bounds_it_was_given() -> None:
    """The children's re-bounding is checked per layer: past the deadline it tightens no layer
    (the parent's bounds stay, still sound); before it, it tightens some."""
    tn, box, root, _ = root_of(4)
    domains = Domains.roots(root, 1, 1)
    # looser than the root's, as a child's inherited bounds are before its split counts
    given = [low.double() - 1.0 for low in domains.lower]
    given += [high.double() + 1.0 for high in domains.upper]

    def refined(deadline: float | None) -> list[torch.Tensor]:
        bounds = [bound.clone() for bound in given]
        half = len(bounds) // 2
        refine(tn, box, root.magnitude, (bounds[:half], bounds[half:]), domains.splits,
               torch.tensor([1]), tn.n_hidden, deadline)  # fmt: skip
        return bounds

    late = refined(time.perf_counter() - 1.0)
    assert all(torch.equal(mine, old) for mine, old in zip(late, given, strict=True))
    on_time = refined(None)
    assert any(bool((mine != old).any()) for mine, old in zip(on_time, given, strict=True))


def test_the_root_stops_tightening_at_its_deadline() -> None:
    """The root's alpha optimisation of intermediate bounds is skipped once its share of the
    time is spent (the plain bounds stay, still sound), and tightens them when there is time."""
    tn, box, plain, prop = root_of(6)
    C, d = stacked_rows(prop.unsafe_outputs)
    late = optimise_root(tn, box, (C, d), plain, 10, deadline=time.perf_counter() - 1.0)
    assert late is plain
    on_time = optimise_root(tn, box, (C, d), plain, 10)
    gains = [(mine - old).max() for mine, old in zip(on_time.lower, plain.lower, strict=True)]
    assert max(float(gain) for gain in gains) > 0.0


def test_the_command_line_freezes_its_objects_before_it_exits(tmp_path: Path) -> None:
    """``nnv verify`` answers, then leaves its objects out of the interpreter's final garbage
    collections (gc.freeze): the answer is printed before, the frozen count is positive."""
    net, prop = far_threshold_instance(5, (4, 8, 3))
    layers = [{"weight": w.weight.tolist(), "bias": w.bias.tolist()} for w in net.layers]
    network = tmp_path / "net.json"
    network.write_text(json.dumps({"format": "nnv-network", "version": 1, "layers": layers}))
    piece = prop.pieces[0]
    lines = [f"(declare-const X_{i} Real)" for i in range(4)]
    lines += [f"(declare-const Y_{i} Real)" for i in range(3)]
    for i in range(4):
        lines += [f"(assert (>= X_{i} {float(piece.lower[i])!r}))",
                  f"(assert (<= X_{i} {float(piece.upper[i])!r}))"]  # fmt: skip
    lines.append(f"(assert (>= Y_0 {-float(prop.unsafe_outputs[0].d[0])!r}))")
    vnnlib = tmp_path / "prop.vnnlib"
    vnnlib.write_text("\n".join(lines) + "\n")
    probe = (
        "import gc, sys\n"
        f"sys.argv = ['nnv', 'verify', {str(network)!r}, {str(vnnlib)!r}, '--timeout', '30']\n"
        "from nnv.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print('frozen', gc.get_freeze_count(), code)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines_out = done.stdout.splitlines()
    assert lines_out[0] == "unsat", (done.stdout, done.stderr)
    _, frozen, code = lines_out[-1].split()
    assert int(frozen) > 1000 and code == "0", lines_out[-1]
