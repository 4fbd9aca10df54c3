"""Lowerings of the sliding-window operators: Conv, AveragePool and MaxPool, in any number of
spatial dimensions, with strides, dilations, explicit or automatic padding.

Conv and AveragePool are affine: sparse maps with one row per output value. MaxPool is
exact through ReLUs: ``max(a, b) = relu(a - b) + b``, where ``b`` crosses the ReLU layer as
``relu(b)`` when it is known to be >= 0 (a ReLU output, say) and as ``relu(b) - relu(-b)``
otherwise. A window is a tree of pairwise maxima, one ReLU layer per level: a 2 x 2 window
adds two layers, a 4 x 4 one four.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nnv.plugins.loaders.onnx_tensors import Affine

if TYPE_CHECKING:
    import onnx
    import scipy.sparse as sp

    from nnv.plugins.loaders.onnx_graph import Handler, Lowering


@dataclass(frozen=True)
class Windows:
    """Where each output of a sliding window reads, over the flat spatial positions.

    ``index[o, k]`` is the input position under kernel offset ``k`` at output ``o``, or -1 in
    the padding; ``inside[o, k]`` says whether that offset lies in the padded input at all
    (AveragePool's ``count_include_pad`` counts those).
    """

    out_shape: tuple[int, ...]
    index: np.ndarray
    inside: np.ndarray


def _sizes(
    lowering: Lowering, node: onnx.NodeProto, size: int, kernel: int, axis: int, ceil: bool
) -> tuple[int, int, int, int, int]:
    """(output size, padding before, stride, dilation, padding after) along one axis."""
    strides = lowering.attribute(node, "strides", None)
    dilations = lowering.attribute(node, "dilations", None)
    stride = int(strides[axis]) if strides else 1
    dilation = int(dilations[axis]) if dilations else 1
    span = (kernel - 1) * dilation + 1
    auto_pad = lowering.attribute(node, "auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = -(-size // stride)
        total = max((out - 1) * stride + span - size, 0)
        before = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        return out, before, stride, dilation, total - before
    if auto_pad == "VALID":
        return (size - span) // stride + 1, 0, stride, dilation, 0
    if auto_pad != "NOTSET":
        raise lowering.fail(node, f"auto_pad {auto_pad!r} is not supported")
    pads = lowering.attribute(node, "pads", None)
    before, after = (int(pads[axis]), int(pads[axis + len(pads) // 2])) if pads else (0, 0)
    room = size + before + after - span
    out = (-(-room // stride) if ceil else room // stride) + 1
    if ceil and (out - 1) * stride >= size + before:  # no window may start in the end padding
        out -= 1
    return out, before, stride, dilation, after


def windows(
    lowering: Lowering,
    node: onnx.NodeProto,
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    ceil: bool = False,
) -> Windows:
    rank = len(spatial)
    for name in ("strides", "dilations"):
        given = lowering.attribute(node, name, None)
        if given is not None and len(given) != rank:
            raise lowering.malformed(node, f"has {len(given)} {name} for {rank} spatial axes")
    pads = lowering.attribute(node, "pads", None)
    if pads is not None and len(pads) != 2 * rank:
        raise lowering.malformed(node, f"has {len(pads)} pads for {rank} spatial axes")
    grid = (*(1,) * rank, *(1,) * rank)
    position, valid, inside = (
        np.zeros(grid, dtype=np.int64),
        np.ones(grid, bool),
        np.ones(grid, bool),
    )
    out_shape = []
    for axis, (size, width) in enumerate(zip(spatial, kernel, strict=True)):
        out, before, stride, dilation, after = _sizes(lowering, node, size, width, axis, ceil)
        if out < 1 or min(stride, dilation) < 1:
            raise lowering.malformed(node, f"leaves no output along spatial axis {axis + 1}")
        out_shape.append(out)
        shape = [1] * (2 * rank)
        shape[axis], shape[rank + axis] = out, width
        at = np.arange(out)[:, None] * stride - before + np.arange(width)[None, :] * dilation
        at = at.reshape(shape)
        valid = valid & (at >= 0) & (at < size)
        inside = inside & (at >= -before) & (at < size + after)
        position = position * size + at
    full = (*out_shape, *kernel)
    index = np.where(valid, position, -1)
    flat = (math.prod(out_shape), math.prod(kernel))
    return Windows(
        tuple(out_shape),
        np.broadcast_to(index, full).reshape(flat),
        np.broadcast_to(inside, full).reshape(flat),
    )


def _image(lowering: Lowering, node: onnx.NodeProto) -> Affine:
    """The input, shaped (1, channels, spatial...)."""
    x = lowering.value(node)
    if len(x.shape) < 3 or x.shape[0] != 1:
        raise lowering.fail(
            node, f"needs an input of shape (1, channels, spatial...), not {x.shape}"
        )
    return x


def conv(lowering: Lowering, node: onnx.NodeProto) -> None:
    x = _image(lowering, node)
    weight = lowering.floats(node, 1)
    channels, spatial = x.shape[1], x.shape[2:]
    group = int(lowering.attribute(node, "group", 1))
    if (
        weight.ndim != len(x.shape)
        or group < 1
        or weight.shape[1] * group != channels
        or weight.shape[0] % group
    ):
        raise lowering.malformed(
            node, f"weights {weight.shape} (group {group}) do not fit an input {x.shape}"
        )
    kernel = tuple(weight.shape[2:])
    given = lowering.attribute(node, "kernel_shape", None)
    if given is not None and tuple(given) != kernel:
        raise lowering.malformed(
            node, f"kernel_shape {list(given)} does not fit weights {weight.shape}"
        )
    filters, per_group = weight.shape[0], weight.shape[1]
    bias = (
        lowering.floats(node, 2).reshape(-1) if lowering.has_input(node, 2) else np.zeros(filters)
    )
    if bias.size != filters:
        raise lowering.malformed(node, f"has {bias.size} biases for {filters} filters")
    win = windows(lowering, node, spatial, kernel)
    n_out, n_in = win.index.shape[0], math.prod(spatial)
    out, offset = np.nonzero(win.index >= 0)
    f = np.arange(filters)[:, None, None]
    c = np.arange(per_group)[None, :, None]
    source = (f // (filters // group)) * per_group + c  # the input channel of (filter, c)
    entries = (filters, per_group, out.size)
    rows = np.broadcast_to(f * n_out + out, entries)
    columns = np.broadcast_to(source * n_in + win.index[out, offset], entries)
    values = weight.reshape(filters, per_group, -1)[:, :, offset]
    import scipy.sparse as sp

    matrix = sp.csr_array(
        (values.reshape(-1), (rows.reshape(-1), columns.reshape(-1))),
        shape=(filters * n_out, channels * n_in),
    )
    matrix.eliminate_zeros()
    result = x.mapped(matrix, (1, filters, *win.out_shape))
    lowering.set(node, result.shifted(np.repeat(bias, n_out)))


def _pool_windows(lowering: Lowering, node: onnx.NodeProto, x: Affine) -> Windows:
    kernel = tuple(int(k) for k in lowering.attribute(node, "kernel_shape", []))
    if len(kernel) != len(x.shape) - 2:
        raise lowering.malformed(
            node, f"kernel_shape {list(kernel)} does not fit an input {x.shape}"
        )
    ceil = bool(lowering.attribute(node, "ceil_mode", 0))
    win = windows(lowering, node, x.shape[2:], kernel, ceil)
    if not (win.index >= 0).any(axis=1).all():
        raise lowering.fail(node, "a window lies entirely in the padding")
    return win


def average_pool(lowering: Lowering, node: onnx.NodeProto) -> None:
    x = _image(lowering, node)
    win = _pool_windows(lowering, node, x)
    counted = win.inside if lowering.attribute(node, "count_include_pad", 0) else win.index >= 0
    share = 1.0 / counted.sum(axis=1)
    channels, (n_out, _), n_in = x.shape[1], win.index.shape, math.prod(x.shape[2:])
    out, offset = np.nonzero(win.index >= 0)
    c = np.arange(channels)[:, None]
    entries = (channels, out.size)
    import scipy.sparse as sp

    matrix = sp.csr_array(
        (
            np.broadcast_to(share[out], entries).reshape(-1),
            (
                np.broadcast_to(c * n_out + out, entries).reshape(-1),
                np.broadcast_to(c * n_in + win.index[out, offset], entries).reshape(-1),
            ),
        ),
        shape=(channels * n_out, channels * n_in),
    )
    lowering.set(node, x.mapped(matrix, (1, channels, *win.out_shape)))


def max_pool(lowering: Lowering, node: onnx.NodeProto) -> None:
    x = _image(lowering, node)
    win = _pool_windows(lowering, node, x)
    channels, n_in = x.shape[1], math.prod(x.shape[2:])
    # candidates[c * n_out + o]: the positions in x of window o of channel c, padding last
    shifted = win.index[None, :, :] + (np.arange(channels) * n_in)[:, None, None]
    candidates = np.where(win.index[None] >= 0, shifted, -1).reshape(-1, win.index.shape[1])
    candidates = -np.sort(-candidates, axis=1, kind="stable")  # valid positions first
    current = x
    while candidates.shape[1] > 1:
        current, candidates = _max_level(lowering, current, candidates)
    lowering.set(node, current.gather(candidates[:, 0], (1, channels, *win.out_shape)))


def _max_level(
    lowering: Lowering, current: Affine, candidates: np.ndarray
) -> tuple[Affine, np.ndarray]:
    """One level of pairwise maxima: a new ReLU layer, and the candidates it leaves.

    Slot ``j`` of each row takes candidates ``2j`` and ``2j + 1``: for a pair ``(a, b)`` the
    layer has a neuron ``a - b`` and ``b`` passed through, and the slot's value is
    ``relu(a - b) + b``; a lone candidate is only passed through.
    """
    nonnegative = current.nonnegative()
    if candidates.shape[1] % 2:
        candidates = np.hstack([candidates, np.full((candidates.shape[0], 1), -1)])
    a, b = candidates[:, 0::2], candidates[:, 1::2]

    def known(where: np.ndarray) -> np.ndarray:
        return (where >= 0) & nonnegative[np.maximum(where, 0)]

    swap = known(a) & (b >= 0) & ~known(b)  # pass through the value known to be >= 0
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    paired = b >= 0
    passed = np.where(paired, b, a)  # -1 where the slot is empty
    pairs, pair_of = np.unique(
        np.stack([a[paired], b[paired]], axis=1).reshape(-1, 2), axis=0, return_inverse=True
    )
    through = np.unique(passed[passed >= 0])
    neurons = _Neurons(pairs, through, through[~nonnegative[through]])
    generation = lowering.new_layer(current.mapped(neurons.layer(current.size), (neurons.count,)))
    slots = np.flatnonzero(passed.reshape(-1) >= 0)
    values = neurons.sums(pair_of.reshape(-1), passed.reshape(-1)[slots], paired.reshape(-1)[slots])
    numbered = np.full(passed.size, -1)
    numbered[slots] = np.arange(slots.size)
    following = Affine((slots.size,), values, np.zeros(slots.size), generation)
    return following, numbered.reshape(passed.shape)


@dataclass(frozen=True)
class _Neurons:
    """The neurons of one MaxPool level, in this order: ``a - b`` for each pair, ``+v`` for
    each value passed through, then ``-v`` for those of them not known to be >= 0."""

    pairs: np.ndarray  # (n, 2) positions (a, b)
    through: np.ndarray  # sorted positions
    negative: np.ndarray  # sorted, a subset of ``through``

    @property
    def count(self) -> int:
        return len(self.pairs) + self.through.size + self.negative.size

    def layer(self, size: int) -> sp.csr_array:
        """The layer's rows over the ``size`` values of the level's input."""
        n_pairs, n_through, n_negative = len(self.pairs), self.through.size, self.negative.size
        rows = np.concatenate(
            [np.arange(n_pairs), np.arange(n_pairs), n_pairs + np.arange(n_through + n_negative)]
        )
        columns = np.concatenate([self.pairs[:, 0], self.pairs[:, 1], self.through, self.negative])
        signs = np.concatenate(
            [np.ones(n_pairs), -np.ones(n_pairs), np.ones(n_through), -np.ones(n_negative)]
        )
        import scipy.sparse as sp

        return sp.csr_array((signs, (rows, columns)), shape=(self.count, size))

    def sums(self, pair_of: np.ndarray, passed: np.ndarray, paired: np.ndarray) -> sp.csr_array:
        """Each slot's maximum from the layer's outputs: ``relu(a - b)`` (for a pair, whose
        neuron is ``pair_of``) plus the value ``passed`` through."""
        slots = np.arange(passed.size)
        first, second = len(self.pairs), len(self.pairs) + self.through.size
        crossing = np.isin(passed, self.negative)
        rows = np.concatenate([slots[paired], slots, slots[crossing]])
        columns = np.concatenate(
            [
                pair_of,
                first + np.searchsorted(self.through, passed),
                second + np.searchsorted(self.negative, passed[crossing]),
            ]
        )
        signs = np.concatenate([np.ones(pair_of.size + passed.size), -np.ones(int(crossing.sum()))])
        import scipy.sparse as sp

        return sp.csr_array((signs, (rows, columns)), shape=(passed.size, self.count))


HANDLERS: dict[str, Handler] = {
    "Conv": conv,
    "AveragePool": average_pool,
    "MaxPool": max_pool,
}
