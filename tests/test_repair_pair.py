"""Synthesis for two free parameters that multiply: the inner parameter is solved exactly at
each outer value tried, so no pair on those outer values keeps more soft points."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_network
from test_repair_line import flip_properties, kept_by_replay, moved, safe_by

from nnv.core.model.network import ParameterAddress
from nnv.core.repair.free import FreeParameters, is_bilinear
from nnv.core.repair.synthesis.pair import PairSynthesis

SOFT_MARGIN, SYNTHESIS_MARGIN = 1e-6, 1e-2


def problem(seed: int) -> tuple[object, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    net = random_network(rng, (2, 5, 4, 3))
    X = rng.normal(size=(60, 2))
    return net, X, net.predict(X)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("constrained", [False, True])
def test_no_pair_on_the_outer_grid_keeps_more(seed: int, constrained: bool) -> None:
    net, X, labels = problem(seed)
    outer, inner = ParameterAddress(0, 1, 0), ParameterAddress(1, 2, 1)  # inner reads neuron 2
    assert is_bilinear(net, FreeParameters.of(net, (str(outer), str(inner))))
    limits = np.array([1.0, 2.0])
    counterexamples = flip_properties(net, X, labels) if constrained else []
    pair = PairSynthesis(net, (outer, inner), limits, X, labels, SOFT_MARGIN, grid=16)
    answer = pair.solve(counterexamples, SYNTHESIS_MARGIN)
    assert pair.outer == 0 and answer.tried >= 17

    def kept(da: float, db: float) -> int:
        candidate = moved(moved(net, outer, da), inner, db)
        if counterexamples and safe_by(candidate, counterexamples) < SYNTHESIS_MARGIN:
            return -1
        return kept_by_replay(candidate, X, labels, SOFT_MARGIN)

    brute = max(
        kept(da, db) for da in np.linspace(-1.0, 1.0, 17) for db in np.linspace(-2.0, 2.0, 201)
    )
    if answer.offsets is None:
        assert brute < 0
        return
    da, db = answer.offsets
    assert abs(da) <= 1.0 and abs(db) <= 2.0
    assert kept(da, db) == answer.kept  # what was counted replays in float64
    assert answer.kept >= brute


def test_the_outer_parameter_is_the_earlier_one_in_either_order() -> None:
    net, X, labels = problem(0)
    outer, inner = ParameterAddress(0, 1, 0), ParameterAddress(1, 2, 1)
    forward = PairSynthesis(net, (outer, inner), np.array([1.0, 2.0]), X, labels, SOFT_MARGIN)
    backward = PairSynthesis(net, (inner, outer), np.array([2.0, 1.0]), X, labels, SOFT_MARGIN)
    assert (forward.outer, backward.outer) == (0, 1)
    a, b = forward.solve([], SYNTHESIS_MARGIN), backward.solve([], SYNTHESIS_MARGIN)
    assert a.kept == b.kept and a.offsets is not None and b.offsets is not None
    assert a.offsets == pytest.approx(b.offsets[::-1])
