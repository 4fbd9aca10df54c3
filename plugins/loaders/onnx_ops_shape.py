"""Lowerings of the operators that only move values: reshapes, transposes, concatenation,
padding, and the identities (Identity, Dropout at inference).

Reshapes keep the values in C order and change only the shape; every other move is an index
map (value ``i`` of the result is value ``index[i]`` of the input, or a constant), computed
by applying the numpy counterpart of the operator to an array of indices.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from nnv.plugins.loaders.onnx_proto import attribute_value, proto
from nnv.plugins.loaders.onnx_tensors import Affine, Matrix, stack

if TYPE_CHECKING:
    import onnx

    from nnv.plugins.loaders.onnx_graph import Handler, Lowering

_CONSTANT_ATTRIBUTES = ("value", "value_float", "value_floats", "value_int", "value_ints")


def constant(lowering: Lowering, node: onnx.NodeProto) -> None:
    if len(node.attribute) != 1 or node.attribute[0].name not in _CONSTANT_ATTRIBUTES:
        raise lowering.fail(node, "only numeric constants are supported")
    value = attribute_value(node.attribute[0])
    is_tensor = isinstance(value, proto().TensorProto)
    array = lowering.array(value) if is_tensor else np.asarray(value)
    lowering.constants[node.output[0]] = array


def identity(lowering: Lowering, node: onnx.NodeProto) -> None:
    lowering.set(node, lowering.value(node))


def dropout(lowering: Lowering, node: onnx.NodeProto) -> None:
    """The identity at inference; training mode (opset 12's third input) is refused."""
    if lowering.has_input(node, 2) and any(lowering.ints(node, 2)):
        raise lowering.fail(node, "training mode is not supported")
    identity(lowering, node)


def shape(lowering: Lowering, node: onnx.NodeProto) -> None:
    """The input's shape (batch size 1) is a constant, even for a tensor made before the
    last ReLU layer."""
    source = lowering.values.get(node.input[0])
    sizes = source.shape if source is not None else lowering.value(node).shape
    start, end = lowering.attribute(node, "start", 0), lowering.attribute(node, "end", None)
    lowering.constants[node.output[0]] = np.array(sizes[start:end], dtype=np.int64)


# -- reshapes ------------------------------------------------------------------------------


def flatten(lowering: Lowering, node: onnx.NodeProto) -> None:
    x = lowering.value(node)
    axis = _axis(lowering, node, lowering.attribute(node, "axis", 1), len(x.shape) + 1)
    lowering.set(node, x.reshaped((math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))))


def reshape(lowering: Lowering, node: onnx.NodeProto) -> None:
    x = lowering.value(node)
    target = lowering.ints(node, 1)
    copy_zeros = not lowering.attribute(node, "allowzero", 0)
    sizes = [
        x.shape[index] if size == 0 and copy_zeros and index < len(x.shape) else size
        for index, size in enumerate(target)
    ]
    if sizes.count(-1) == 1:
        known = math.prod(size for size in sizes if size != -1)
        sizes[sizes.index(-1)] = x.size // known if known > 0 else 0
    if min(sizes, default=1) < 1 or math.prod(sizes) != x.size:
        raise lowering.malformed(node, f"cannot reshape {x.shape} to {target}")
    lowering.set(node, x.reshaped(sizes))


def _axes(lowering: Lowering, node: onnx.NodeProto) -> list[int] | None:
    """The ``axes`` of Squeeze/Unsqueeze: an attribute before opset 13, then an input."""
    if lowering.has_input(node, 1):
        return lowering.ints(node, 1)
    axes = lowering.attribute(node, "axes", None)
    return None if axes is None else [int(axis) for axis in axes]


def squeeze(lowering: Lowering, node: onnx.NodeProto) -> None:
    x = lowering.value(node)
    axes = _axes(lowering, node)
    if axes is None:
        drop = {index for index, size in enumerate(x.shape) if size == 1}
    else:
        drop = {_axis(lowering, node, axis, len(x.shape)) for axis in axes}
    if any(x.shape[axis] != 1 for axis in drop):
        raise lowering.fail(node, f"cannot squeeze axes {sorted(drop)} of shape {x.shape}")
    lowering.set(
        node, x.reshaped([size for index, size in enumerate(x.shape) if index not in drop])
    )


def unsqueeze(lowering: Lowering, node: onnx.NodeProto) -> None:
    x = lowering.value(node)
    axes = _axes(lowering, node)
    if not axes:
        raise lowering.fail(node, "no axes given")
    rank = len(x.shape) + len(axes)
    inserted = {_axis(lowering, node, axis, rank) for axis in axes}
    sizes = iter(x.shape)
    lowering.set(
        node, x.reshaped([1 if index in inserted else next(sizes) for index in range(rank)])
    )


def _axis(lowering: Lowering, node: onnx.NodeProto, axis: int, rank: int) -> int:
    """A possibly negative axis of a tensor of ``rank`` axes, checked."""
    if not -rank <= axis < rank:
        raise lowering.fail(node, f"axis {axis} is out of range for rank {rank}")
    return axis % rank


# -- index maps ----------------------------------------------------------------------------


def _indices(x: Affine) -> np.ndarray:
    return np.arange(x.size).reshape(x.shape)


def transpose(lowering: Lowering, node: onnx.NodeProto) -> None:
    x = lowering.value(node)
    perm = lowering.attribute(node, "perm", None)
    perm = list(reversed(range(len(x.shape)))) if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(len(x.shape))):
        raise lowering.fail(node, f"perm {perm} does not fit shape {x.shape}")
    index = _indices(x).transpose(perm)
    lowering.set(node, x.gather(index.reshape(-1), index.shape))


def concat(lowering: Lowering, node: onnx.NodeProto) -> None:
    """Tensors and constants side by side: their maps stacked, then an index map."""
    parts = [lowering.operand(node, position) for position in range(len(node.input))]
    rank = len(np.shape(parts[0]) if not isinstance(parts[0], Affine) else parts[0].shape)
    axis = _axis(lowering, node, int(lowering.attribute(node, "axis", 0)), max(rank, 1))
    hidden = next(part.n_hidden for part in parts if isinstance(part, Affine))
    import scipy.sparse as sp  # the constants' zero blocks

    blocks: list[Matrix] = []
    biases, indices, offset = [], [], 0
    for position, part in enumerate(parts):
        if isinstance(part, Affine):
            blocks.append(part.matrix())
            biases.append(part.bias)
            shape = part.shape
        else:
            values = lowering.floats(node, position)
            blocks.append(sp.csr_array((values.size, hidden)))
            biases.append(values.reshape(-1))
            shape = values.shape
        indices.append(offset + np.arange(math.prod(shape)).reshape(shape))
        offset += math.prod(shape)
    try:
        index = np.concatenate(indices, axis=axis)
    except ValueError:
        shapes = ", ".join(str(part.shape) for part in indices)
        raise lowering.fail(node, f"shapes {shapes} do not fit along axis {axis}") from None
    first = next(part for part in parts if isinstance(part, Affine))
    stacked = Affine((offset,), stack(blocks), np.concatenate(biases), first.generation)
    lowering.set(node, stacked.gather(index.reshape(-1), index.shape))


_PAD_MODES = ("constant", "reflect", "edge", "wrap")  # numpy's np.pad modes of the same names


def pad(lowering: Lowering, node: onnx.NodeProto) -> None:
    """Constant, reflect, edge and wrap padding; negative pads crop."""
    x = lowering.value(node)
    mode = lowering.attribute(node, "mode", "constant")
    if mode not in _PAD_MODES:
        raise lowering.fail(node, f"padding mode {mode!r} is not supported")
    rank = len(x.shape)
    if lowering.opset < 11:
        pads = [int(p) for p in lowering.attribute(node, "pads", [])]
        value = float(lowering.attribute(node, "value", 0.0))
    else:
        pads = lowering.ints(node, 1)
        value = (
            float(lowering.floats(node, 2).reshape(-1)[0]) if lowering.has_input(node, 2) else 0.0
        )
    axes = list(range(rank))
    if lowering.has_input(node, 3):
        axes = [_axis(lowering, node, axis, rank) for axis in lowering.ints(node, 3)]
    if len(pads) != 2 * len(axes):
        raise lowering.fail(node, f"{len(pads)} pads do not fit {len(axes)} axes")
    begin, end = [0] * rank, [0] * rank
    for position, axis in enumerate(axes):
        begin[axis], end[axis] = pads[position], pads[position + len(axes)]
    crop = tuple(
        slice(max(-b, 0), size - max(-e, 0)) for b, e, size in zip(begin, end, x.shape, strict=True)
    )
    index = _indices(x)[crop]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end, strict=True)]
    if mode == "constant":
        index = np.pad(index, widths, mode="constant", constant_values=-1)
    elif index.size:
        index = np.pad(index, widths, mode=mode)
    if not index.size:
        raise lowering.fail(node, f"pads {pads} leave nothing of shape {x.shape}")
    lowering.set(node, x.gather(index.reshape(-1), index.shape, fill=value))


HANDLERS: dict[str, Handler] = {
    "Constant": constant,
    "Identity": identity,
    "Dropout": dropout,
    "Shape": shape,
    "Flatten": flatten,
    "Reshape": reshape,
    "Squeeze": squeeze,
    "Unsqueeze": unsqueeze,
    "Transpose": transpose,
    "Concat": concat,
    "Pad": pad,
}
