"""Bounds must contain every reachable value (soundness) and symbolic must beat interval."""

import numpy as np
from conftest import random_network

from nnv.core.bounds.symbolic import interval_bounds, output_lower_bounds, symbolic_bounds
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.verify.falsify import falsify


def test_bounds_contain_every_sampled_activation() -> None:
    rng = np.random.default_rng(0)
    tighter = 0
    for _ in range(50):
        net = random_network(rng, (3, 10, 10, 3))
        lower = rng.uniform(-1, 0, 3)
        upper = lower + rng.uniform(0.05, 1.0, 3)
        symbolic, interval = symbolic_bounds(net, lower, upper), interval_bounds(net, lower, upper)
        points = rng.uniform(lower, upper, (4000, 3))
        for k, values in enumerate(net.activations(points)):
            assert np.all(values >= symbolic.lower[k]) and np.all(values <= symbolic.upper[k])
            assert np.all(symbolic.lower[k] >= interval.lower[k] - 1e-12)
            assert np.all(symbolic.upper[k] <= interval.upper[k] + 1e-12)
        width = lambda b: np.sum(b.output_upper - b.output_lower)  # noqa: E731
        tighter += width(symbolic) < width(interval) - 1e-9
        C = rng.normal(size=(4, 3))
        assert np.all(
            net.forward(points) @ C.T >= output_lower_bounds(net, symbolic, C, lower, upper)
        )
    assert tighter > 25  # back-substitution pays on most random networks


def test_falsification_finds_a_violation_and_it_is_genuine() -> None:
    # y0 - y1 = 2 relu(x0 - 0.9) - 0.1: only inputs with x0 > 0.95 are classified as class 0
    net = Network([([[1.0, 0.0]], [-0.9]), ([[2.0], [0.0]], [0.0, 0.1])])
    prop = Property.robustness([0.0, 0.0], 1.0, label=0, n_outputs=2)
    point = falsify(net, prop)
    assert point is not None
    assert prop.in_region(point)[0] and prop.is_unsafe(net.forward(point))[0]
    safe = Property.robustness([0.99, 0.0], 0.01, label=0, n_outputs=2)
    assert falsify(net, safe) is None
