"""Similarity heuristics on the repair paper's XOR-B: what they keep, and that regions are exact."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import random_network

from nnv.core import Dataset, InputError, InputPiece, Network
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.registry import default_registry
from nnv.plugins.heuristics.grid import GridHeuristic
from nnv.plugins.heuristics.samples import SamplesHeuristic
from nnv.plugins.heuristics.voronoi import VoronoiHeuristic


@pytest.fixture(scope="module")
def xor_b(nnsynth: Path) -> tuple[Network, Dataset]:
    folder = nnsynth / "xor_b"
    return default_registry().load_network(folder / "model.onnx"), Dataset.load(folder / "data.npz")


def data_box(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    inputs = np.concatenate([X for X, _ in data.splits.values()])
    return inputs.min(axis=0), inputs.max(axis=0)


def containing(regions: tuple[InputPiece, ...], points: np.ndarray, tol: float) -> np.ndarray:
    """``(regions, points)``: which region holds which point."""
    return np.array([piece.contains(points, tol) for piece in regions])


# -- samples --------------------------------------------------------------------------------


def test_samples_default_is_every_training_point_with_the_networks_class(xor_b):
    network, data = xor_b
    X, _ = data.splits["train"]
    kept = SamplesHeuristic().constraints(network, data)
    np.testing.assert_array_equal(kept.points, X)
    np.testing.assert_array_equal(kept.labels, network.predict(X))
    assert kept.regions == () and kept.count == X.shape[0]


def test_samples_first_n_with_original_or_true_labels(xor_b):
    network, data = xor_b
    X, y = data.splits["test"]
    original = SamplesHeuristic(count=100, split="test").constraints(network, data)
    true = SamplesHeuristic(count=100, split="test", label="true").constraints(network, data)
    np.testing.assert_array_equal(original.points, X[:100])
    np.testing.assert_array_equal(true.points, X[:100])
    np.testing.assert_array_equal(original.labels, network.predict(X[:100]))
    np.testing.assert_array_equal(true.labels, y[:100])
    assert np.any(network.predict(X) != y)  # XOR-B's test accuracy is below 1: labels differ


def test_samples_random_subset_is_seeded_and_distinct(xor_b):
    network, data = xor_b
    X, _ = data.splits["train"]
    first = SamplesHeuristic(count=50, select="random", seed=3).constraints(network, data)
    again = SamplesHeuristic(count=50, select="random", seed=3).constraints(network, data)
    other = SamplesHeuristic(count=50, select="random", seed=4).constraints(network, data)
    np.testing.assert_array_equal(first.points, again.points)
    assert not np.array_equal(first.points, other.points)
    rows = [np.flatnonzero(np.all(X == point, axis=1)) for point in first.points]
    assert all(row.size >= 1 for row in rows)
    assert len({int(row[0]) for row in rows}) == 50
    np.testing.assert_array_equal(first.labels, network.predict(first.points))


def test_samples_refuses_a_missing_split_or_too_many(xor_b):
    network, data = xor_b
    with pytest.raises(InputError, match="sampled, test, train"):
        SamplesHeuristic(split="validation").constraints(network, data)
    with pytest.raises(InputError, match="1562"):
        SamplesHeuristic(count=5000).constraints(network, data)


def test_samples_refuses_true_labels_the_network_cannot_output():
    network = random_network(np.random.default_rng(0), (2, 3, 2))
    data = Dataset({"train": (np.zeros((2, 2)), np.array([0, 5]))})
    with pytest.raises(InputError, match="classes"):
        SamplesHeuristic(label="true").constraints(network, data)


# -- grid -----------------------------------------------------------------------------------


def test_grid_cells_tile_the_data_box(xor_b):
    network, data = xor_b
    kept = GridHeuristic(cells=10).constraints(network, data)
    low, high = data_box(data)
    assert len(kept.regions) == 100 and kept.points.shape == (0, 2)
    assert all(piece.is_box for piece in kept.regions)
    lower = np.array([piece.lower for piece in kept.regions])
    upper = np.array([piece.upper for piece in kept.regions])
    np.testing.assert_array_equal(lower.min(axis=0), low)
    np.testing.assert_array_equal(upper.max(axis=0), high)
    area = np.prod(upper - lower, axis=1).sum()
    assert area == pytest.approx(np.prod(high - low), rel=1e-12)
    X = np.concatenate([X for X, _ in data.splits.values()])
    assert np.all(containing(kept.regions, X, 0.0).sum(axis=0) >= 1)
    assert np.all(containing(kept.regions, X, -1e-9).sum(axis=0) <= 1)


def test_grid_labels_are_the_networks_majority_on_the_vote_points(xor_b):
    network, data = xor_b
    heuristic = GridHeuristic(cells=10, votes=5, seed=7)
    kept = heuristic.constraints(network, data)
    lower = np.array([piece.lower for piece in kept.regions])
    upper = np.array([piece.upper for piece in kept.regions])
    voters = heuristic.vote_points(lower, upper)
    assert voters.shape == (100, 5, 2)
    np.testing.assert_allclose(voters[:, 0], (lower + upper) / 2)
    assert np.all((voters >= lower[:, None]) & (voters <= upper[:, None]))
    for cell, points in enumerate(voters):
        votes = Counter(network.predict(points).tolist())
        best = max(votes.values())
        winners = sorted(c for c, n in votes.items() if n == best)
        centre = int(network.predict(points[0])[0])
        expected = centre if centre in winners else winners[0]
        assert kept.region_labels[cell] == expected
    assert len(set(kept.region_labels.tolist())) == 2  # XOR-B: both classes somewhere


def test_grid_ties_go_to_the_centre(xor_b):
    network, data = xor_b
    kept = GridHeuristic(cells=10, votes=2).constraints(network, data)
    centres = np.array([(piece.lower + piece.upper) / 2 for piece in kept.regions])
    np.testing.assert_array_equal(kept.region_labels, network.predict(centres))


def test_grid_margin_widens_the_box(xor_b):
    network, data = xor_b
    kept = GridHeuristic(cells=4, margin=0.5).constraints(network, data)
    low, high = data_box(data)
    np.testing.assert_allclose(np.min([p.lower for p in kept.regions], axis=0), low - 0.5)
    np.testing.assert_allclose(np.max([p.upper for p in kept.regions], axis=0), high + 0.5)


def test_grid_refuses_too_many_cells(xor_b):
    network, data = xor_b
    with pytest.raises(InputError, match="cells"):
        GridHeuristic(cells=400).constraints(network, data)


# -- voronoi --------------------------------------------------------------------------------


def assert_exact_tessellation(kept: SoftConstraints, seeds: np.ndarray, low, high) -> None:
    """Each seed lies in its own cell, and random points of the box in their nearest seed's."""
    assert len(kept.regions) == seeds.shape[0]
    for index, piece in enumerate(kept.regions):
        assert piece.contains(seeds[index])[0]
        assert np.all(piece.lower >= low) and np.all(piece.upper <= high)
    rng = np.random.default_rng(1)
    probes = rng.uniform(low, high, (2000, seeds.shape[1]))
    nearest = np.argmin(((probes[:, None] - seeds[None]) ** 2).sum(axis=2), axis=1)
    inside = containing(kept.regions, probes, 1e-9)
    assert np.all(inside[nearest, np.arange(probes.shape[0])])
    assert np.all(containing(kept.regions, probes, -1e-9).sum(axis=0) <= 1)


def test_voronoi_cells_are_exact_on_sampled_points(xor_b):
    network, data = xor_b
    heuristic = VoronoiHeuristic(points=50)
    kept = heuristic.constraints(network, data)
    low, high = data.bounding_box(0.0)
    seeds = heuristic.seeds(data, low, high)
    sampled = data.splits["sampled"][0]
    assert seeds.shape == (50, 2)
    assert all(np.any(np.all(sampled == seed, axis=1)) for seed in seeds)
    assert_exact_tessellation(kept, seeds, low, high)
    np.testing.assert_array_equal(kept.region_labels, network.predict(seeds))
    assert kept.points.shape == (0, 2)
    assert any(piece.A is not None for piece in kept.regions)


def test_voronoi_cell_bounds_are_tight(xor_b):
    network, data = xor_b
    kept = VoronoiHeuristic(points=30, seed=2).constraints(network, data)
    rng = np.random.default_rng(5)
    for piece in kept.regions:
        probes = rng.uniform(piece.lower, piece.upper, (4000, 2))
        held = probes[piece.contains(probes)]
        assert held.size and np.all(
            held.min(axis=0) - piece.lower < 0.1 * (piece.upper - piece.lower)
        )


def test_voronoi_uniform_seeds_with_margin(xor_b):
    network, data = xor_b
    heuristic = VoronoiHeuristic(points=200, split="uniform", seed=4, margin=0.5)
    kept = heuristic.constraints(network, data)
    low, high = data.bounding_box(0.5)
    np.testing.assert_array_equal(low, data_box(data)[0] - 0.5)
    seeds = heuristic.seeds(data, low, high)
    assert_exact_tessellation(kept, seeds, low, high)
    np.testing.assert_array_equal(kept.region_labels, network.predict(seeds))


def test_voronoi_in_three_dimensions_by_linear_programming():
    rng = np.random.default_rng(0)
    network = random_network(rng, (3, 8, 3))
    data = Dataset({"train": (rng.normal(size=(100, 3)), np.zeros(100, dtype=np.int64))})
    heuristic = VoronoiHeuristic(points=25)
    kept = heuristic.constraints(network, data)
    low, high = data.bounding_box(0.0)
    seeds = heuristic.seeds(data, low, high)
    assert_exact_tessellation(kept, seeds, low, high)
    np.testing.assert_array_equal(kept.region_labels, network.predict(seeds))


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), id="collinear"),
        pytest.param(np.array([[0.0, 0.0], [1.0, 2.0]]), id="two-points"),
        pytest.param(
            np.stack(np.meshgrid(range(5), range(4)), -1).reshape(-1, 2) * 1.0, id="lattice"
        ),
        pytest.param(
            np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), id="duplicates"
        ),
        pytest.param(np.linspace(0, 1, 7)[:, None] ** 2, id="one-dimension"),
    ],
)
def test_voronoi_survives_degenerate_seeds(inputs):
    network = random_network(np.random.default_rng(1), (inputs.shape[1], 4, 2))
    data = Dataset({"train": (inputs, np.zeros(inputs.shape[0], dtype=np.int64))})
    heuristic = VoronoiHeuristic(points=inputs.shape[0])
    kept = heuristic.constraints(network, data)
    low, high = data.bounding_box(0.0)
    seeds = heuristic.seeds(data, low, high)
    assert seeds.shape[0] == np.unique(inputs, axis=0).shape[0]
    assert_exact_tessellation(kept, seeds, low, high)


def test_voronoi_single_seed_is_the_whole_box():
    network = random_network(np.random.default_rng(2), (2, 4, 2))
    data = Dataset({"train": (np.array([[0.0, 0.0], [2.0, 1.0]]), np.zeros(2, dtype=np.int64))})
    (piece,) = VoronoiHeuristic(points=1).constraints(network, data).regions
    assert piece.is_box
    np.testing.assert_array_equal(piece.lower, [0.0, 0.0])
    np.testing.assert_array_equal(piece.upper, [2.0, 1.0])


def test_voronoi_skips_slivers_between_near_duplicates():
    network = random_network(np.random.default_rng(3), (2, 4, 2))
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    ring = 0.5 + 1e-11 * np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    inputs = np.concatenate([corners, ring])
    data = Dataset({"train": (inputs, np.zeros(9, dtype=np.int64))})
    kept = VoronoiHeuristic(points=9).constraints(network, data)
    assert len(kept.regions) == 8 == kept.region_labels.shape[0]
    assert not any(piece.contains(np.array([0.5, 0.5]), -1e-9)[0] for piece in kept.regions)


def test_voronoi_split_falls_back_to_train_or_refuses(xor_b):
    network, data = xor_b
    only_train = Dataset({"train": data.splits["train"]})
    kept = VoronoiHeuristic(points=20).constraints(network, only_train)
    assert len(kept.regions) == 20
    with pytest.raises(InputError, match="sampled, test, train"):
        VoronoiHeuristic(split="validation").constraints(network, data)
    with pytest.raises(InputError, match="500"):
        VoronoiHeuristic(points=501).constraints(network, data)


# -- options and the registry ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "options"),
    [
        (SamplesHeuristic, {"count": 0}),
        (SamplesHeuristic, {"count": 2.5}),
        (SamplesHeuristic, {"count": True}),
        (SamplesHeuristic, {"select": "last"}),
        (SamplesHeuristic, {"label": "predicted"}),
        (SamplesHeuristic, {"seed": -1}),
        (GridHeuristic, {"cells": 0}),
        (GridHeuristic, {"cells": "10"}),
        (GridHeuristic, {"votes": 0}),
        (GridHeuristic, {"margin": -1.0}),
        (GridHeuristic, {"margin": float("nan")}),
        (GridHeuristic, {"margin": float("inf")}),
        (VoronoiHeuristic, {"points": 0}),
        (VoronoiHeuristic, {"seed": 1.5}),
        (VoronoiHeuristic, {"margin": -0.1}),
    ],
)
def test_bad_options_are_refused_in_one_line(factory, options):
    with pytest.raises(InputError) as error:
        factory(**options)
    assert "\n" not in str(error.value)
    assert next(iter(options)) in str(error.value)


@pytest.mark.parametrize(
    ("name", "options", "count"),
    [("samples", {"count": 10}, 10), ("grid", {"cells": 5}, 25), ("voronoi", {"points": 12}, 12)],
)
def test_heuristics_come_through_the_registry(xor_b, name, options, count):
    network, data = xor_b
    info = default_registry().get("heuristic", name)
    assert info.description
    heuristic = info.factory(**options)
    assert heuristic.name == name and heuristic.options == {**heuristic.options, **options}
    assert heuristic.constraints(network, data).count == count
