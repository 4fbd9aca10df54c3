"""Bounds on every neuron over an input box: interval arithmetic, then symbolic back-substitution.

Symbolic bounds follow DeepPoly / CROWN: each unstable ReLU is relaxed by a linear upper line
(the chord from ``(l, 0)`` to ``(u, u)``) and a lower line of slope 0 or 1, and a linear
function of a layer is pushed back through the network to the input box, where it is bounded
exactly. The result is intersected with interval bounds, so it is never looser than either.

Every bound is widened outward by a tiny relative amount, so that float rounding can never
make a bound cut off a real value: exact solvers rely on these bounds too. The relaxation and
the widening are :mod:`nnv.core.bounds.relaxation`'s, shared with the batched bounds.

Sparse layers (convolutions, pooling) are back-substituted with sparse coefficients, which
stay sparse while each neuron depends on a small window of the layer below; they turn dense
once that stops paying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnv.core.bounds.relaxation import relu_relaxation, rounding_margin, widen
from nnv.core.model.network import Layer, Network
from nnv.core.runtime.sparse import issparse

# Sparse coefficients denser than this are cheaper to carry as a dense array.
_DENSE_FROM = 0.25


@dataclass(frozen=True)
class Bounds:
    """Pre-activation bounds per layer; the last entry bounds the network's outputs."""

    lower: tuple[np.ndarray, ...]
    upper: tuple[np.ndarray, ...]

    @property
    def output_lower(self) -> np.ndarray:
        return self.lower[-1]

    @property
    def output_upper(self) -> np.ndarray:
        return self.upper[-1]


def _affine_interval(
    layer: Layer, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    positive, negative = layer.signed()
    return (
        positive @ lower + negative @ upper + layer.bias,
        positive @ upper + negative @ lower + layer.bias,
    )


def interval_bounds(network: Network, lower: np.ndarray, upper: np.ndarray) -> Bounds:
    """Interval arithmetic, layer by layer."""
    lows, highs = [], []
    a_low, a_high = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    for layer in network.layers:
        z_low, z_high = widen(*_affine_interval(layer, a_low, a_high))
        lows.append(z_low)
        highs.append(z_high)
        a_low, a_high = np.maximum(z_low, 0.0), np.maximum(z_high, 0.0)
    return Bounds(tuple(lows), tuple(highs))


def back_substitute_lower(
    network: Network,
    layer_index: int,
    coefficients: np.ndarray,
    hidden_lower: list[np.ndarray],
    hidden_upper: list[np.ndarray],
    lower: np.ndarray,
    upper: np.ndarray,
) -> np.ndarray:
    """Lower bounds of ``coefficients @ z`` where ``z`` is the pre-activation of ``layer_index``.

    ``hidden_lower/upper[j]`` bound the pre-activations of layers ``j < layer_index``.
    """
    layers = network.layers
    lam = coefficients if issparse(coefficients) else np.asarray(coefficients, np.float64)
    constant = lam @ layers[layer_index].bias
    lam = _compact(layers[layer_index].pull_back(lam))
    for j in range(layer_index - 1, -1, -1):
        s_up, t_up, s_low = relu_relaxation(hidden_lower[j], hidden_upper[j])
        positive, negative = _signed(lam)
        constant = constant + negative @ t_up
        lam = _scale_columns(positive, s_low) + _scale_columns(negative, s_up)
        constant = constant + lam @ layers[j].bias
        lam = _compact(layers[j].pull_back(lam))
    positive, negative = _signed(lam)
    return constant + positive @ lower + negative @ upper


def _signed(lam: Any) -> tuple[Any, Any]:
    """The positive and negative parts of dense or sparse coefficients."""
    if issparse(lam):
        return lam.maximum(0.0), lam.minimum(0.0)
    return np.maximum(lam, 0.0), np.minimum(lam, 0.0)


def _scale_columns(lam: Any, scale: np.ndarray) -> Any:
    if not issparse(lam):
        return lam * scale
    import scipy.sparse as sp  # loaded already: lam is one of its arrays

    return sp.csr_array(lam.multiply(scale[None, :]))


def _compact(lam: Any) -> Any:
    """Sparse coefficients that have filled in become dense."""
    if issparse(lam) and lam.nnz > _DENSE_FROM * lam.shape[0] * lam.shape[1]:
        return lam.toarray()
    return lam


def _sparse_identity(n: int) -> Any:
    import scipy.sparse as sp  # loaded already: the network has sparse layers

    return sp.identity(n, format="csr")


def symbolic_bounds(network: Network, lower: np.ndarray, upper: np.ndarray) -> Bounds:
    """Back-substitution bounds for every layer, intersected with interval bounds."""
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    a_low, a_high = lower, upper
    for index, layer in enumerate(network.layers):
        n = layer.n_out
        identity = _sparse_identity(n) if layer.is_sparse else np.eye(n)
        sym_low = back_substitute_lower(network, index, identity, lows, highs, lower, upper)
        sym_high = -back_substitute_lower(network, index, -identity, lows, highs, lower, upper)
        int_low, int_high = _affine_interval(layer, a_low, a_high)
        z_low, z_high = widen(np.maximum(sym_low, int_low), np.minimum(sym_high, int_high))
        lows.append(z_low)
        highs.append(z_high)
        a_low, a_high = np.maximum(z_low, 0.0), np.maximum(z_high, 0.0)
    return Bounds(tuple(lows), tuple(highs))


def output_lower_bounds(
    network: Network, bounds: Bounds, C: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Lower bounds of ``C y`` over the box, by back-substituting ``C`` itself.

    Tighter than bounding ``y`` first, because correlations between outputs are kept.
    """
    last = len(network.layers) - 1
    symbolic = back_substitute_lower(
        network, last, C, list(bounds.lower[:-1]), list(bounds.upper[:-1]), lower, upper
    )
    positive, negative = np.maximum(C, 0.0), np.minimum(C, 0.0)
    interval = positive @ bounds.output_lower + negative @ bounds.output_upper
    low = np.maximum(symbolic, interval)
    return low - rounding_margin(np.abs(low))
