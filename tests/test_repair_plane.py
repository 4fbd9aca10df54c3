"""Exact synthesis for two parameters of one neuron (the plane of their offsets): no point of
a dense grid over the box keeps more soft points, and what it counts replays on the network."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_network
from test_repair_line import flip_properties, kept_by_replay, moved, safe_by

from nnv.core.model.network import ParameterAddress
from nnv.core.repair.synthesis.plane import NeuronPairSynthesis, one_neuron

SOFT_MARGIN, SYNTHESIS_MARGIN = 1e-6, 1e-2
PAIRS = {
    "two first-layer weights": (ParameterAddress(0, 1, 0), ParameterAddress(0, 1, 1)),
    "a hidden weight and its bias": (ParameterAddress(1, 2, 3), ParameterAddress(1, 2, None)),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("pair", sorted(PAIRS))
@pytest.mark.parametrize("constrained", [False, True])
def test_no_grid_point_keeps_more(seed: int, pair: str, constrained: bool) -> None:
    rng = np.random.default_rng(seed)
    net = random_network(rng, (2, 5, 4, 3))
    X = rng.normal(size=(60, 2))
    labels = net.predict(X)
    first, second = PAIRS[pair]
    assert one_neuron((first, second))
    limits = np.array([1.0, 2.0])
    counterexamples = flip_properties(net, X, labels) if constrained else []
    plane = NeuronPairSynthesis(net, (first, second), limits, X, labels, SOFT_MARGIN)
    offsets, kept = plane.solve(counterexamples, SYNTHESIS_MARGIN)

    def replay(da: float, db: float) -> int:
        candidate = moved(moved(net, first, da), second, db)
        # an optimum sits on a strip's edge: safe by the margin up to rounding
        if counterexamples and safe_by(candidate, counterexamples) < SYNTHESIS_MARGIN - 1e-12:
            return -1
        return kept_by_replay(candidate, X, labels, SOFT_MARGIN)

    grid = max(
        replay(da, db) for da in np.linspace(-1.0, 1.0, 41) for db in np.linspace(-2.0, 2.0, 81)
    )
    if offsets is None:
        assert grid < 0
        return
    da, db = offsets
    assert abs(da) <= 1.0 * (1 + 1e-9) and abs(db) <= 2.0 * (1 + 1e-9)
    assert replay(da, db) == kept  # what was counted replays in float64
    assert kept >= grid
