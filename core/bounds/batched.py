"""Linear-relaxation bounds for a batch of input boxes at once, arrays shaped ``(batch, ...)``.

Branch and bound over the input region evaluates thousands of small boxes; one numpy call per
layer for the whole batch is what makes that fast in Python. Per box and layer:

1. *forward* symbolic propagation: every neuron carries a lower and an upper linear function
   of the input, concretised over the box and intersected with interval arithmetic. It costs
   ``O(n_inputs)`` per neuron and settles most neurons as always on or always off;
2. *back-substitution* (DeepPoly / CROWN) for the neurons still unstable after that, as flat
   rows (only those neurons, of every box): their bounds are pushed back through the relaxed
   earlier layers to the input box, which keeps the correlations that forward propagation
   loses;
3. the rows of ``C y - d`` (the unsafe disjuncts' inequalities) get the same backward pass.

ReLUs are relaxed by the chord above and a line of slope 0 or 1 below (CROWN's adaptive
choice: 1 when the neuron is more often positive). Every concretised bound is widened outward
by a margin proportional to the magnitude of the terms summed, so float rounding can never make
a bound cut off a reachable value. Both are :mod:`nnv.core.bounds.relaxation`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnv.core.bounds.relaxation import Relaxation, relu_relaxation, rounding_margin
from nnv.core.model.network import Layer, Network


@dataclass(frozen=True)
class BatchBounds:
    """Bounds over a batch of boxes.

    ``lower[k]``/``upper[k]`` bound the pre-activations of layer ``k`` (the last entry: the
    outputs), each shaped ``(batch, n_k)``. ``rows`` bounds ``C y - d`` from below,
    ``(batch, m)``. Each row also has a linear lower bound over its box,
    ``row(x) >= centre + slopes . (x - box centre)`` (``centre`` ``(batch, m)``, ``slopes``
    ``(batch, m, n_inputs)``): its minimiser over the box is a likely counterexample, and
    combinations of the rows of one conjunction bound it jointly. ``blame``
    (``(batch, m, n_inputs)``) shares out each row's relaxation slack among the inputs, by
    how much each drives the unstable neurons' ranges: where a split should pay most.
    """

    lower: tuple[np.ndarray, ...]
    upper: tuple[np.ndarray, ...]
    rows: np.ndarray
    slopes: np.ndarray
    centre: np.ndarray
    blame: np.ndarray

    def take(self, index: Any) -> BatchBounds:
        """The bounds of the boxes ``index`` (an index array or a mask)."""
        return BatchBounds(
            tuple(layer[index] for layer in self.lower),
            tuple(layer[index] for layer in self.upper),
            self.rows[index],
            self.slopes[index],
            self.centre[index],
            self.blame[index],
        )

    @staticmethod
    def concatenate(parts: Sequence[BatchBounds]) -> BatchBounds:
        """The bounds of several batches as one."""
        return BatchBounds(
            tuple(np.concatenate(layers) for layers in zip(*(p.lower for p in parts), strict=True)),
            tuple(np.concatenate(layers) for layers in zip(*(p.upper for p in parts), strict=True)),
            np.concatenate([p.rows for p in parts]),
            np.concatenate([p.slopes for p in parts]),
            np.concatenate([p.centre for p in parts]),
            np.concatenate([p.blame for p in parts]),
        )

    def unstable(self) -> np.ndarray:
        """How many hidden ReLUs of each box are neither always on nor always off."""
        count = np.zeros(self.rows.shape[0], dtype=np.int64)
        for low, high in zip(self.lower[:-1], self.upper[:-1], strict=True):
            count += np.count_nonzero((low < 0) & (high > 0), axis=1)
        return count


@dataclass(frozen=True)
class _Geometry:
    """A batch of boxes as centre and radius, plus the largest absolute input value."""

    center: np.ndarray
    radius: np.ndarray
    magnitude: np.ndarray

    @classmethod
    def of(cls, lower: np.ndarray, upper: np.ndarray) -> _Geometry:
        return cls(
            (lower + upper) / 2, (upper - lower) / 2, np.maximum(np.abs(lower), np.abs(upper))
        )

    def minimum(
        self, coefficients: np.ndarray, constant: np.ndarray, size: np.ndarray, owner: np.ndarray
    ) -> np.ndarray:
        """A lower bound of each row's ``coefficients . x + constant`` over its box ``owner``.

        ``coefficients`` is ``(r, n_in)``; ``size`` bounds the absolute values of the terms
        already summed into ``constant``, for the rounding margin.
        """
        absolute = np.abs(coefficients)
        middle = constant + np.einsum("rd,rd->r", coefficients, self.center[owner])
        spread = np.einsum("rd,rd->r", absolute, self.radius[owner])
        scale = np.einsum("rd,rd->r", absolute, self.magnitude[owner])
        return middle - spread - rounding_margin(size, np.abs(constant), scale)


def _times(stacked: np.ndarray, matrix: Any) -> np.ndarray:
    """``stacked @ matrix`` for a ``(batch, r, n)`` stack as one matrix product (one BLAS call);
    ``matrix`` may be sparse."""
    batch, rows, n = stacked.shape
    return (stacked.reshape(batch * rows, n) @ matrix).reshape(batch, rows, matrix.shape[1])


def _back_substitute(
    network: Network,
    relaxations: list[Relaxation],
    lam: np.ndarray,
    constant: np.ndarray,
    boxes: _Geometry,
    owner: np.ndarray | None = None,
    shares: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Lower bounds of ``lam . a + constant``, ``a`` the input of layer ``len(relaxations)``.

    ``lam`` is either flat rows ``(r, n)``, row ``i`` belonging to box ``owner[i]`` (so only
    the rows that need it are computed), or ``(batch, m, n)``: ``m`` rows for every box.
    Returns the bounds, the input coefficients and, when ``shares`` (per layer, how much each
    input drives each neuron's range, ``(batch, n_inputs, n)``) is given, how much of each
    row's relaxation slack each input is to blame for.
    """

    def aligned(part: np.ndarray) -> np.ndarray:
        """A per-box ``(batch, n)`` array lined up with the rows of ``lam``."""
        return part[owner] if owner is not None else part[:, None, :]

    size = np.abs(constant)
    constant = constant.copy()
    blame = None if shares is None else np.zeros((*lam.shape[:-1], boxes.center.shape[1]))
    for j in range(len(relaxations) - 1, -1, -1):
        s_up, t_up, s_low = (aligned(part) for part in relaxations[j])
        negative = np.minimum(lam, 0.0)
        if blame is not None and shares is not None:  # (batch, m, n) rows only
            blame += np.matmul(np.abs(lam) * t_up, np.swapaxes(shares[j], 1, 2))
        offset = (negative * t_up).sum(axis=-1)
        lam = lam * s_low + negative * (s_up - s_low)
        bias = network.layers[j].bias
        constant += offset + lam @ bias
        size += np.abs(offset) + np.abs(lam) @ np.abs(bias)
        lam = network.layers[j].pull_back(lam)
    if owner is not None:
        return boxes.minimum(lam, constant, size, owner), lam, blame
    absolute = np.abs(lam)
    middle = constant + np.einsum("bmd,bd->bm", lam, boxes.center)
    spread = np.einsum("bmd,bd->bm", absolute, boxes.radius)
    scale = np.einsum("bmd,bd->bm", absolute, boxes.magnitude)
    return middle - spread - rounding_margin(size, np.abs(constant), scale), lam, blame


def _refine(
    network: Network,
    index: int,
    relaxations: list[Relaxation],
    z_low: np.ndarray,
    z_high: np.ndarray,
    boxes: _Geometry,
) -> None:
    """Tighten, in place, the bounds of layer ``index``'s unstable neurons by back-substitution."""
    owner, neuron = np.nonzero((z_low < 0) & (z_high > 0))
    if not owner.size:
        return
    layer = network.layers[index]
    rows = layer.rows(neuron)
    low, _, _ = _back_substitute(
        network,
        relaxations,
        np.concatenate([rows, -rows]),
        np.concatenate([layer.bias[neuron], -layer.bias[neuron]]),
        boxes,
        np.concatenate([owner, owner]),
    )
    count = owner.size
    z_low[owner, neuron] = np.maximum(z_low[owner, neuron], low[:count])
    z_high[owner, neuron] = np.minimum(z_high[owner, neuron], -low[count:])


def batch_bounds(
    network: Network,
    lower: np.ndarray,
    upper: np.ndarray,
    C: np.ndarray,
    d: np.ndarray,
    prior: BatchBounds | None = None,
) -> BatchBounds:
    """Bounds of every layer and of ``C y - d`` over each box ``lower[i] <= x <= upper[i]``.

    ``prior`` holds bounds known for a box around each box (its parent in branch and bound);
    every bound is intersected with them, so that splitting never loosens a bound (the
    relaxation alone does not guarantee that) and neurons the parent settled stay settled.
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    boxes = _Geometry.of(lower, upper)
    layers = _Layers.of(network, lower, upper, boxes, prior)
    output = network.layers[-1]
    m = C.shape[0]
    batch = lower.shape[0]
    lam = np.broadcast_to(output.pull_back(C), (batch, m, output.n_in))
    constant = np.broadcast_to(C @ output.bias - d, (batch, m))
    rows, slopes, blame = _back_substitute(
        network, layers.relaxations, lam, constant, boxes, shares=layers.shares
    )
    assert blame is not None
    centre = rows + np.einsum("bmd,bd->bm", np.abs(slopes), boxes.radius)
    # the bounds of the outputs give a second bound of each row; keep the better one
    lows, highs = layers.lows, layers.highs
    c_pos, c_neg = np.maximum(C, 0.0), np.minimum(C, 0.0)
    interval = lows[-1] @ c_pos.T + highs[-1] @ c_neg.T - d
    interval -= rounding_margin(
        np.maximum(np.abs(lows[-1]), np.abs(highs[-1])) @ np.abs(C.T), np.abs(d)
    )
    best = np.maximum(rows, interval)
    if prior is not None:
        best = np.maximum(best, prior.rows)
    return BatchBounds(tuple(lows), tuple(highs), best, slopes, centre, blame)


@dataclass
class _Layers:
    """Every layer's pre-activation bounds over each box, and the ReLU relaxations and input
    shares (see :func:`_shares`) of the hidden layers, from one forward pass."""

    lows: list[np.ndarray]
    highs: list[np.ndarray]
    relaxations: list[Relaxation]
    shares: list[np.ndarray]

    @classmethod
    def of(
        cls,
        network: Network,
        lower: np.ndarray,
        upper: np.ndarray,
        boxes: _Geometry,
        prior: BatchBounds | None,
    ) -> _Layers:
        """Forward symbolic propagation, intersected with interval arithmetic and ``prior``;
        the unstable neurons of the middle layers refined by back-substitution."""
        batch, n_in = lower.shape
        # linear functions of the input as (batch, n_in + 1, n): the last row is the constant
        identity = np.zeros((batch, n_in + 1, n_in))
        identity[:, np.arange(n_in), np.arange(n_in)] = 1.0
        low_fn, high_fn = identity, identity
        a_low, a_high = lower, upper
        layers = cls([], [], [], [])
        last = len(network.layers) - 1
        for index, layer in enumerate(network.layers):
            z_low_fn, z_high_fn, z_low, z_high = _pre_activations(
                layer, low_fn, high_fn, a_low, a_high, boxes
            )
            if prior is not None:
                z_low = np.maximum(z_low, prior.lower[index])
                z_high = np.minimum(z_high, prior.upper[index])
            if 0 < index < last:
                _refine(network, index, layers.relaxations, z_low, z_high, boxes)
            layers.lows.append(z_low)
            layers.highs.append(z_high)
            if index == last:
                break
            relaxation = relu_relaxation(z_low, z_high)
            layers.relaxations.append(relaxation)
            layers.shares.append(_shares(z_low_fn, z_high_fn, boxes.radius))
            s_up, t_up, s_low = relaxation
            high_fn = z_high_fn * s_up[:, None, :]
            high_fn[:, -1, :] += t_up
            low_fn = z_low_fn * s_low[:, None, :]
            a_low, a_high = np.maximum(z_low, 0.0), np.maximum(z_high, 0.0)
        return layers


def _pre_activations(
    layer: Layer,
    low_fn: np.ndarray,
    high_fn: np.ndarray,
    a_low: np.ndarray,
    a_high: np.ndarray,
    boxes: _Geometry,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``layer``'s pre-activations as lower and upper linear functions of the input, and
    their bounds over each box: the functions concretised, intersected with interval
    arithmetic on the activations' bounds ``a_low``/``a_high``."""
    positive, negative = layer.signed()
    w_pos, w_neg = positive.T, negative.T
    z_low_fn = _times(low_fn, w_pos) + _times(high_fn, w_neg)
    z_high_fn = _times(high_fn, w_pos) + _times(low_fn, w_neg)
    z_low_fn[:, -1, :] += layer.bias
    z_high_fn[:, -1, :] += layer.bias
    z_low, z_high = _forward_bounds(z_low_fn, z_high_fn, boxes)
    interval_error = rounding_margin(
        np.maximum(np.abs(a_low), np.abs(a_high)) @ layer.absolute().T,
        np.abs(layer.bias),
    )
    z_low = np.maximum(z_low, a_low @ w_pos + a_high @ w_neg + layer.bias - interval_error)
    z_high = np.minimum(z_high, a_high @ w_pos + a_low @ w_neg + layer.bias + interval_error)
    return z_low_fn, z_high_fn, z_low, z_high


def _shares(low_fn: np.ndarray, high_fn: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Per neuron, each input's share of its range: coefficient size times the box's radius,
    normalised to sum to 1, ``(batch, n_in, n)``."""
    drive = (np.abs(low_fn[:, :-1, :]) + np.abs(high_fn[:, :-1, :])) * radius[:, :, None]
    return drive / np.maximum(drive.sum(axis=1, keepdims=True), 1e-300)


def _forward_bounds(
    low_fn: np.ndarray, high_fn: np.ndarray, boxes: _Geometry
) -> tuple[np.ndarray, np.ndarray]:
    """Concretise forward linear functions ``(batch, n_in + 1, n)`` over their boxes."""
    low = _box_minimum(low_fn[:, :-1, :], low_fn[:, -1, :], boxes)
    high = -_box_minimum(-high_fn[:, :-1, :], -high_fn[:, -1, :], boxes)
    return low, high


def _box_minimum(coefficients: np.ndarray, constant: np.ndarray, boxes: _Geometry) -> np.ndarray:
    """The minimum over each box of ``n`` functions stored as ``(batch, n_in, n)``, widened."""
    absolute = np.abs(coefficients)
    middle = constant + np.einsum("bdn,bd->bn", coefficients, boxes.center)
    spread = np.einsum("bdn,bd->bn", absolute, boxes.radius)
    scale = np.einsum("bdn,bd->bn", absolute, boxes.magnitude)
    return middle - spread - rounding_margin(np.abs(constant), scale)
