"""Localise: try first the parameters that the violations point at (as CARE, VeRe and
Arachne rank neurons), then grow the best repairs as the greedy search does.

Ranking, before any trial:

1. Counterexamples: ``samples`` points drawn uniformly in each box of each property's region
   (and the boxes' centres); the ones the network gets wrong. With ``--partition`` the
   properties are the violating boxes, so there are always some.
2. Each counterexample's *depth* in the unsafe set: for each unsafe conjunction ``C y <= d``
   its outputs satisfy, ``min_i (d_i - C_i y)``, the least any row must move to leave it.
   Its gradient with respect to every weight and bias is one backward pass (ReLU masks).
3. To first order, changing a parameter by ``delta`` fixes a counterexample when
   ``delta * g <= -depth``. One change fixes them all only if their gradients ``g`` have one
   sign; then the change it needs is ``max(depth / |g|)``. Parameters are ranked by that
   change (smallest first; on a tie the one nearer the output, whose effect the first order
   states exactly; a parameter whose gradients disagree in sign, or vanish, ranks after all
   the others, by the size of its summed gradient).

Level 1 is the ``width`` best-ranked single parameters (of the chosen layers); levels 2 and
up, the stopping rules and the deadline are the greedy search's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnv.core import Network, Property, hookimpl
from nnv.core.repair.trial import FreeSet
from nnv.plugins.search.exhaustive import candidates, positive_int
from nnv.plugins.search.greedy import GreedySearch

_MAX_POINTS = 1024  # counterexamples the ranking uses (a sample of them when more)
_CHUNK = 32  # counterexamples per backward pass (their gradients are points x parameters)


class LocaliseSearch(GreedySearch):
    """Greedy search whose first level is the parameters the violations point at, best first."""

    name = "localise"
    description = "rank parameters by the change the counterexamples ask of them; then greedy"

    def __init__(
        self,
        max_free: int = 1,
        layers: Sequence[int] | None = None,
        width: int = 32,
        samples: int = 2000,
        seed: int = 0,
        **greedy: Any,
    ) -> None:
        super().__init__(max_free, layers, **greedy)
        self.width = positive_int("width", width)
        self.samples = positive_int("samples", samples)
        self.seed = seed

    def first_level(self, network: Network) -> list[FreeSet]:
        allowed = candidates(network, self.layers)
        ranked = rank_parameters(network, self.properties, self.samples, self.seed)
        wanted = set(allowed)
        order = [name for name in ranked if name in wanted] or allowed
        return [(name,) for name in order[: self.width]]


def rank_parameters(
    network: Network, properties: Sequence[Property], samples: int, seed: int
) -> list[str]:
    """Every parameter's address, the ones the counterexamples point at first (see the
    module's docstring); the network's own order when no sample violates a property."""
    addresses = [str(a) for a in network.parameter_addresses()]
    points, rows, depths = _counterexamples(network, properties, samples, seed)
    if not len(points):
        return addresses
    size = len(addresses)
    positive, negative = np.ones(size, dtype=bool), np.ones(size, dtype=bool)
    needed, total = np.zeros(size), np.zeros(size)
    for start in range(0, len(points), _CHUNK):
        part = slice(start, start + _CHUNK)
        gradients = _parameter_gradients(network, points[part], rows[part])
        positive &= np.all(gradients > 0, axis=0)
        negative &= np.all(gradients < 0, axis=0)
        with np.errstate(divide="ignore"):
            needed = np.maximum(needed, np.max(depths[part, None] / np.abs(gradients), axis=0))
        total += gradients.sum(axis=0)
    needed = np.where((positive | negative) & np.isfinite(needed), needed, np.inf)
    layer = np.array([a.layer for a in network.parameter_addresses()])
    # by the change needed; then nearer the output (where the first order is exact: the
    # outputs are affine in the last layer's parameters); then by the gradient's size
    order = np.lexsort((-np.abs(total), -layer, needed))
    return [addresses[i] for i in order]


def _counterexamples(
    network: Network, properties: Sequence[Property], samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Violating sample points, the row of ``C`` each must move (as a vector over the
    outputs, ``-C_i``: the gradient of its depth), and each one's depth."""
    rng = np.random.default_rng(seed)
    points, rows, depths = [], [], []
    for prop in properties:
        for piece in prop.pieces:
            unit = rng.random((samples, piece.dimension))
            unit[0] = 0.5
            drawn = piece.lower + (piece.upper - piece.lower) * unit
            drawn = drawn[piece.contains(drawn)]
            outputs = network.forward(drawn)
            for conjunction in prop.unsafe_outputs:
                slack = conjunction.d - outputs @ conjunction.C.T  # >= 0 everywhere: unsafe
                inside = np.all(slack >= 0, axis=1)
                if not inside.any():
                    continue
                tightest = np.argmin(slack[inside], axis=1)
                points.append(drawn[inside])
                rows.append(-conjunction.C[tightest])
                depths.append(slack[inside].min(axis=1))
    if not points:
        return np.zeros((0, network.n_inputs)), np.zeros((0, network.n_outputs)), np.zeros(0)
    all_points, all_rows, all_depths = np.vstack(points), np.vstack(rows), np.concatenate(depths)
    if len(all_points) > _MAX_POINTS:
        keep = rng.choice(len(all_points), _MAX_POINTS, replace=False)
        all_points, all_rows, all_depths = all_points[keep], all_rows[keep], all_depths[keep]
    return all_points, all_rows, all_depths


def _parameter_gradients(network: Network, points: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``d(rows[k] . y(points[k])) / d(parameter)`` for every point and parameter, in the
    order of :meth:`Network.parameter_addresses` (per layer: weights row by row, biases)."""
    layers = network.layers
    pre = network.activations(points)
    inputs = [points] + [np.maximum(z, 0.0) for z in pre[:-1]]
    delta = rows  # d/dz of the last layer
    blocks: list[np.ndarray] = []
    for index in range(len(layers) - 1, -1, -1):
        weights = np.einsum("ki,kj->kij", delta, inputs[index]).reshape(len(points), -1)
        blocks.append(np.hstack([weights, delta]))
        if index:
            delta = layers[index].pull_back(delta) * (pre[index - 1] > 0)
    return np.hstack(blocks[::-1])


@hookimpl
def nnv_search_strategies() -> dict[str, type]:
    return {"localise": LocaliseSearch}
