"""One free parameter's line: the network at fixed points as a piecewise affine function of
the parameter's offset ``delta`` (the ExactLine idea), and where its outputs reach a level.

The changed neuron's pre-activation moves along a line, and each later ReLU splits that line
where its input crosses zero; between consecutive breakpoints every output is affine. On the
whole real line, the rays beyond the last breakpoints are affine too (no ReLU switches any
more). :mod:`.line` builds the synthesis on these pieces.

Everything is vectorised over points: each point's breakpoints are one row of a padded array
(padding repeats the last breakpoint, giving empty segments that change nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnv.core.model.network import Network, ParameterAddress


@dataclass(frozen=True)
class Pieces:
    """The network at each of m points as a piecewise affine function of the offset ``delta``.

    ``outputs`` (m, K, n_outputs) are the values at each point's sorted ``breaks`` (m, K),
    padded by repeating the last breakpoint (empty segments that change nothing), and affine
    between consecutive ones. A bounded line ends at its first and last breakpoint; on the whole
    line, ``below`` and ``above`` (m, n_outputs) are the outputs' slopes on the two rays beyond
    them, where no ReLU switches any more.
    """

    breaks: np.ndarray
    outputs: np.ndarray
    below: np.ndarray | None = None
    above: np.ndarray | None = None

    @property
    def bounded(self) -> bool:
        return self.below is None

    def row(self, index: int) -> Pieces:
        """The pieces of one point."""
        pick = slice(index, index + 1)
        if self.below is None or self.above is None:
            return Pieces(self.breaks[pick], self.outputs[pick])
        return Pieces(self.breaks[pick], self.outputs[pick], self.below[pick], self.above[pick])

    def extents(self) -> tuple[np.ndarray, np.ndarray]:
        """Each piece's ends (m, P), in order along the line: (the ray below,) the segments
        between breakpoints(, the ray above)."""
        lo, hi = self.breaks[:, :-1], self.breaks[:, 1:]
        if self.bounded:
            return lo, hi
        first, last = self.breaks[:, :1], self.breaks[:, -1:]
        infinite = np.full_like(first, np.inf)
        return np.hstack([-infinite, lo, last]), np.hstack([first, hi, infinite])

    def at_least(
        self, values: np.ndarray, below: np.ndarray | None, above: np.ndarray | None, bound: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where an affine function on each piece is ``>= bound``: closed intervals (m, P, c),
        empty ones ``lo = inf, hi = -inf``, in the order of :meth:`extents`.

        ``values`` (m, K, c) are the function at the breakpoints; ``below`` and ``above`` (m, c)
        its slopes on the rays (unused on a bounded line). ``bound`` broadcasts against (m, c).
        """
        t0, t1 = self.breaks[:, :-1, None], self.breaks[:, 1:, None]
        lo, hi = at_least(t0, t1, values[:, :-1], values[:, 1:], bound)
        if self.bounded or below is None or above is None:
            return lo, hi
        first, last = self.breaks[:, :1], self.breaks[:, -1:]
        low_lo, low_hi = _ray_at_least(first, values[:, 0], below, bound, downwards=True)
        up_lo, up_hi = _ray_at_least(last, values[:, -1], above, bound, downwards=False)
        return (
            np.concatenate([low_lo[:, None], lo, up_lo[:, None]], axis=1),
            np.concatenate([low_hi[:, None], hi, up_hi[:, None]], axis=1),
        )


def segments(
    network: Network, address: ParameterAddress, X: np.ndarray, limit: float = math.inf
) -> Pieces:
    """The network at each row of ``X`` as a piecewise affine function of the offset ``delta``:
    over ``[-limit, limit]`` (both ends are breakpoints), or the whole real line when ``limit``
    is infinite.

    Each ReLU layer from the changed one on may split every piece where a pre-activation
    changes sign: inside a segment at the root of its linear interpolation, on a ray at the
    root of its slope's line. Beyond the last breakpoint every output is affine.
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    activations = network.activations(X)
    layer = address.layer
    reads = X if layer == 0 else np.maximum(activations[layer - 1], 0.0)
    # the changed neuron's pre-activation is base + delta * slope; the layers before are fixed
    slope = np.ones(X.shape[0]) if address.source is None else reads[:, address.source]
    line = _Line(network, address, activations[layer], slope)
    bounded = math.isfinite(limit)
    start = np.array([-limit, limit] if bounded else [0.0], dtype=np.float64)
    breaks = np.tile(start, (X.shape[0], 1))
    last = len(network.layers) - 1
    # the layers from the changed one up to the last are ReLUs; each may split every piece
    for index in range(layer, last):
        z = line.pre_activations(breaks, index)
        roots = None if bounded else _ray_roots(breaks, z, *line.ray_slopes(breaks, index))
        breaks = _split(breaks, z, roots)
    outputs = line.pre_activations(breaks, last)
    if bounded:
        return Pieces(breaks, outputs)
    return Pieces(breaks, outputs, *line.ray_slopes(breaks, last))


@dataclass
class _Line:
    """The network at fixed points with one parameter moved: the changed layer's original
    pre-activations ``base`` (m, n) and how fast the changed neuron moves with the offset."""

    network: Network
    address: ParameterAddress
    base: np.ndarray
    slope: np.ndarray

    def pre_activations(self, deltas: np.ndarray, upto: int) -> np.ndarray:
        """Pre-activations of layer ``upto`` at every point and offset ``deltas`` (m, K).

        A forward pass from the changed layer rather than interpolation, so that values at
        breakpoints agree with replaying the changed network up to rounding.
        """
        values = np.repeat(self.base[:, None, :], deltas.shape[1], axis=1)
        values[:, :, self.address.neuron] += deltas * self.slope[:, None]
        for index in range(self.address.layer + 1, upto + 1):
            layer = self.network.layers[index]
            values = np.maximum(values, 0.0) @ layer.weight.T + layer.bias
        return values

    def ray_slopes(self, breaks: np.ndarray, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """Slopes of layer ``upto``'s pre-activations on the rays below the first and above
        the last breakpoint: no earlier layer switches there, so the derivative through the
        ReLUs active at one point of each ray (forward mode) holds on all of it, exactly zero
        where no path from the changed neuron is active."""
        first, last = breaks[:, :1], breaks[:, -1:]
        probes = np.hstack(
            [first - np.maximum(1.0, np.abs(first)), last + np.maximum(1.0, np.abs(last))]
        )
        values = np.repeat(self.base[:, None, :], 2, axis=1)
        values[:, :, self.address.neuron] += probes * self.slope[:, None]
        slopes = np.zeros_like(values)
        slopes[:, :, self.address.neuron] = self.slope[:, None]
        for index in range(self.address.layer + 1, upto + 1):
            layer = self.network.layers[index]
            active = values > 0
            values = np.where(active, values, 0.0) @ layer.weight.T + layer.bias
            slopes = np.where(active, slopes, 0.0) @ layer.weight.T
        return slopes[:, 0], slopes[:, 1]


def _ray_roots(
    breaks: np.ndarray, z: np.ndarray, below: np.ndarray, above: np.ndarray
) -> np.ndarray:
    """(m, 2n): where each pre-activation, affine on the rays with slopes ``below``/``above``,
    reaches zero beyond the first or last breakpoint; NaN where it does not."""
    z_first, z_last = z[:, 0], z[:, -1]
    first, last = breaks[:, :1], breaks[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        down = first - z_first / below
        up = last - z_last / above
    falls = ((z_first > 0) & (below > 0)) | ((z_first < 0) & (below < 0))  # zero lies below
    rises = ((z_last > 0) & (above < 0)) | ((z_last < 0) & (above > 0))  # zero lies above
    return np.hstack([np.where(falls, down, np.nan), np.where(rises, up, np.nan)])


def _split(breaks: np.ndarray, z: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Add the offsets where some neuron's pre-activation ``z`` (m, K, n) changes sign.

    ``z`` is affine between consecutive breakpoints, so a sign change inside a segment is at
    the linear interpolation's root. A zero already at a breakpoint needs no new breakpoint.
    ``extra`` (m, j) are more breakpoints (NaN: none), the roots on the rays.
    """
    z0, z1 = z[:, :-1], z[:, 1:]
    t0, t1 = breaks[:, :-1, None], breaks[:, 1:, None]
    crossing = ((z0 < 0) & (z1 > 0)) | ((z0 > 0) & (z1 < 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.clip(t0 + (t1 - t0) * z0 / (z0 - z1), t0, t1)
    found = [breaks, np.where(crossing, roots, np.nan).reshape(breaks.shape[0], -1)]
    if extra is not None:
        found.append(extra)
    merged = np.sort(np.concatenate(found, axis=1), axis=1)  # NaN sorts last
    width = int(np.max(np.sum(~np.isnan(merged), axis=1), initial=breaks.shape[1]))
    merged = merged[:, :width]
    return np.where(np.isnan(merged), np.nanmax(merged, axis=1, keepdims=True), merged)


def at_least(
    t0: np.ndarray, t1: np.ndarray, f0: np.ndarray, f1: np.ndarray, bound: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Where an affine ``f`` on ``[t0, t1]`` (``f0`` at t0, ``f1`` at t1) is ``>= bound``.

    Elementwise, a closed interval ``[lo, hi]``; an empty one is ``lo = inf, hi = -inf``. The
    end inside the segment is the root of ``f - bound``, found from the endpoint values.
    """
    holds0, holds1 = f0 >= bound, f1 >= bound
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.clip(t0 + (t1 - t0) * (bound - f0) / (f1 - f0), t0, t1)
    empty = ~holds0 & ~holds1
    lo = np.where(empty, np.inf, np.where(holds0, t0, root))
    hi = np.where(empty, -np.inf, np.where(holds1, t1, root))
    return lo, hi


def _ray_at_least(
    end: np.ndarray, f_end: np.ndarray, slope: np.ndarray, bound: Any, downwards: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Where ``f(t) = f_end + slope (t - end)`` is ``>= bound`` on the ray ``t <= end``
    (``downwards``) or ``t >= end``: a closed interval per element, possibly unbounded."""
    holds = f_end >= bound
    with np.errstate(divide="ignore", invalid="ignore"):
        root = end + (bound - f_end) / slope
    gains = slope < 0 if downwards else slope > 0  # f grows along the ray
    loses = slope > 0 if downwards else slope < 0
    far = -np.inf if downwards else np.inf
    # grows: from the root (or the end) to infinity; shrinks: from the end to the root, if
    # it holds at the end; flat: all of it or nothing
    near = np.where(holds, end, np.where(gains, root, np.inf if downwards else -np.inf))
    reach = np.where(gains | (holds & ~loses), far, np.where(holds, root, -far))
    lo, hi = (reach, near) if downwards else (near, reach)
    empty = ~holds & ~gains
    return np.where(empty, np.inf, lo), np.where(empty, -np.inf, hi)
