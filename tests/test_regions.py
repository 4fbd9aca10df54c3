"""--partition (boxes, violating ones, held out, generalisation), drawdown, and the localise
search's ranking."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_bad_input, nnv
from conftest import ROOT, random_network

from nnv.core import InputError, Network
from nnv.core.model.property import InputPiece, OutputConjunction, Property
from nnv.core.plugin.registry import default_registry
from nnv.core.run.regions import generalisation, partition
from nnv.plugins.search.localise import _parameter_gradients, rank_parameters

XOR = ROOT / "examples" / "xor"


def _class_property(lower: list[float], upper: list[float], forbidden: int) -> Property:
    """Two outputs: the region must not reach ``y[forbidden] >= y[other]``."""
    row = np.zeros((1, 2))
    row[0, forbidden], row[0, 1 - forbidden] = -1.0, 1.0
    piece = InputPiece(np.array(lower, float), np.array(upper, float))
    return Property((piece,), (OutputConjunction(row, np.zeros(1)),), 2, 2, name="p")


def _threshold_network(cut: float) -> Network:
    """Class 1 exactly when x0 > cut (a 2-2-2 ReLU network)."""
    hidden = (np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([-cut, cut]))
    return Network([hidden, (np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros(2))])


def test_partition_finds_exactly_the_violating_boxes_and_holds_the_rest_out() -> None:
    network = _threshold_network(0.62)
    prop = _class_property([0.0, 0.0], [1.0, 1.0], forbidden=1)  # class 1 is forbidden
    parts = partition(network, [prop], side=0.1, repair_boxes=2, samples=200, seed=0)
    assert parts.boxes == 100
    # x0 > 0.62: columns [0.6, 0.7] (some samples) and 0.7 .. 1.0 (all): 4 columns of 10 boxes
    assert parts.violating == 40
    assert len(parts.repair) == 2 and len(parts.held_out) == 38
    for box in parts.repair + parts.held_out:
        (piece,) = box.pieces
        assert piece.upper[0] > 0.62 and np.all(piece.upper - piece.lower <= 0.1 + 1e-12)
    for box, points in zip(parts.held_out, parts.held_out_points, strict=True):
        assert len(points) and box.in_region(points).all()
        assert box.is_unsafe(network.forward(points)).all()
    again = partition(network, [prop], side=0.1, repair_boxes=2, samples=200, seed=0)
    assert [b.name for b in again.repair] == [b.name for b in parts.repair]  # seeded


def test_generalisation_counts_boxes_proved_on_the_repaired_network() -> None:
    network = _threshold_network(0.62)
    prop = _class_property([0.0, 0.0], [1.0, 1.0], forbidden=1)
    parts = partition(network, [prop], side=0.1, repair_boxes=5, samples=50, seed=1)
    registry = default_registry()
    moved = _threshold_network(0.85)  # fixes the boxes below 0.8, not those above
    found = generalisation(parts, moved, registry, "highs", {}, deadline=None)
    below = sum(1 for box in parts.held_out if box.pieces[0].upper[0] <= 0.8 + 1e-9)
    assert found.proved == below and found.violated == found.held_out - below
    assert found.unknown == 0
    fixed = sum(
        int(np.sum(moved.forward(p)[:, 1] < moved.forward(p)[:, 0])) for p in parts.held_out_points
    )
    assert found.points_fixed == fixed and 0 < fixed < found.points
    side_by_side = generalisation(parts, moved, registry, "highs", {}, deadline=None, workers=2)
    assert replace(side_by_side, seconds=0.0) == replace(found, seconds=0.0)


def test_partition_refuses_a_polytope_and_a_region_with_no_violation() -> None:
    network = _threshold_network(0.62)
    safe = _class_property([0.0, 0.0], [0.5, 1.0], forbidden=1)
    with pytest.raises(InputError, match="nothing to repair"):
        partition(network, [safe], side=0.1, repair_boxes=None, samples=20, seed=0)
    cut = Property(
        (InputPiece(np.zeros(2), np.ones(2), np.ones((1, 2)), np.ones(1)),),
        safe.unsafe_outputs,
        2,
        2,
    )
    with pytest.raises(InputError, match="cuts boxes"):
        partition(network, [cut], side=0.1, repair_boxes=None, samples=20, seed=0)


def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(3)
    network = random_network(rng, (3, 5, 4, 2))
    points = rng.normal(size=(4, 3))
    rows = rng.normal(size=(4, 2))
    gradients = _parameter_gradients(network, points, rows)
    addresses = network.parameter_addresses()
    assert gradients.shape == (4, len(addresses))
    step = 1e-6
    for column in rng.choice(len(addresses), 12, replace=False):
        address = addresses[column]
        value = network.parameter(address)
        plus = network.with_parameters({address: value + step}).forward(points)
        minus = network.with_parameters({address: value - step}).forward(points)
        numeric = np.sum(rows * (plus - minus), axis=1) / (2 * step)
        np.testing.assert_allclose(gradients[:, column], numeric, atol=1e-5)


def test_localise_ranks_parameters_the_violations_do_not_reach_last() -> None:
    network = _threshold_network(0.62)
    prop = _class_property([0.7, 0.0], [1.0, 1.0], forbidden=1)
    ranked = rank_parameters(network, [prop], samples=200, seed=0)
    assert sorted(ranked) == sorted(str(a) for a in network.parameter_addresses())
    # on x0 >= 0.7 the second hidden neuron is off: nothing feeding it or read from it moves
    # the outputs there, while every other parameter does, with one sign at every sample
    dead = {
        str(a)
        for a in network.parameter_addresses()
        if (a.layer == 0 and a.neuron == 1) or (a.layer == 1 and a.source == 1)
    }
    assert set(ranked[-len(dead) :]) == dead
    best = ranked[0]
    assert best not in dead
    # moving the best one far enough (the right way) makes the region safe
    grid = np.column_stack([np.linspace(0.7, 1.0, 200), np.linspace(0.0, 1.0, 200)])
    fixed = [
        delta
        for delta in np.linspace(-5, 5, 201)
        if not prop.is_unsafe(
            network.with_parameters({best: network.parameter(best) + delta}).forward(grid)
        ).any()
    ]
    assert fixed, f"{best} ranked first, but no change of it in [-5, 5] fixes the region"


def test_cli_partition_reports_regions_generalisation_and_drawdown(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = nnv(
        "run", "--network", str(XOR / "network.onnx"),
        "--property", str(XOR / "robust_violated.vnnlib"), "--data", str(XOR / "data.npz"),
        "--free", "w2.1.8,w2.2.8", "--partition", "0.05", "--repair-boxes", "2",
        "--out", str(out), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    regions = result["regions"]
    assert regions["side"] == 0.05 and len(regions["repaired_boxes"]) == 2
    assert regions["held_out_boxes"] == regions["violating"] - 2
    found = regions["generalisation"]
    assert found["held_out"] == regions["held_out_boxes"]
    assert found["proved"] + found["violated"] + found["unknown"] == found["held_out"]
    for split, lost in result["drawdown"].items():
        before, after = result["accuracy_before"][split], result["accuracy_after"][split]
        assert lost == pytest.approx(before - after)
    assert "generalisation" in done.stdout and "drawdown" in done.stdout


def test_cli_refuses_repair_boxes_without_partition(tmp_path: Path) -> None:
    done = nnv(
        "run", "--network", str(XOR / "network.onnx"),
        "--property", str(XOR / "robust_violated.vnnlib"), "--data", str(XOR / "data.npz"),
        "--repair-boxes", "2", "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert_bad_input(done, "repair_boxes needs partition")
    done = nnv(
        "run", "--network", str(XOR / "network.onnx"),
        "--property", str(XOR / "robust_holds.vnnlib"), "--data", str(XOR / "data.npz"),
        "--partition", "0.05", "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert_bad_input(done, "nothing to repair")
    assert not (tmp_path / "run").exists()


def test_closest_to_unsafe_is_in_the_region_and_nearer_than_any_sample() -> None:
    from nnv.core.verify.falsify import closest_to_unsafe, unsafe_margin

    network = _threshold_network(0.62)
    safe = _class_property([0.0, 0.0], [0.55, 1.0], forbidden=1)  # safe: x0 <= 0.55 < 0.62
    point = closest_to_unsafe(network, safe, samples=300, seed=0)
    assert point is not None and safe.in_region(point)[0]
    (conjunction,) = safe.unsafe_outputs
    grid = np.column_stack([np.linspace(0.0, 0.55, 500), np.full(500, 0.5)])
    nearest = unsafe_margin(network.forward(point[None, :]), conjunction)[0]
    assert nearest > 0  # not unsafe: the property holds
    assert nearest <= unsafe_margin(network.forward(grid), conjunction).min() + 1e-9
    assert point[0] == pytest.approx(0.55)  # the edge nearest the class boundary
