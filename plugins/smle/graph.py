"""Reading an exported SMLE graph back: the head, the box, the region switch and the level.

The certificate checks the file, not the Python object, so it reads what it proves from the
graph's nodes (:mod:`.export` names them and gives the shapes). Anything that does not have
exactly that structure is :class:`NotSmle`: no proof, only the sample check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from nnv.core import InputError

from .embedding import Box
from .grounding import Head

GEMM_DEFAULTS = {"transA": 0, "transB": 0, "alpha": 1.0, "beta": 1.0}


class NotSmle(InputError):
    """The ONNX graph does not have the structure the proof relies on."""


@dataclass(frozen=True)
class Exported:
    """What the proof needs from the file."""

    head: Head
    box: Box
    region: tuple[np.ndarray, np.ndarray] | None  # (A, b) of the switch; None: no switch
    level: int | None = None  # the input column added to every output; None: no level
    precision: str = "float64"  # the type of the graph's input, which a runtime computes in


def read_exported(model: onnx.ModelProto) -> Exported:
    """The head, box, region switch and level of an SMLE graph; :class:`NotSmle` if it has
    none."""
    graph = model.graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    constants = {name: array.astype(np.float64) for name, array in arrays.items()}
    producers = {output: node for node in graph.node for output in node.output}
    n_inputs = _input_width(graph)
    source = _input_of(producers, "Y", "Identity")
    level = None
    node = producers.get(source)
    if node is not None and node.op_type == "Add":
        level, source = _level(producers, arrays, node, n_inputs)
    region = None
    node = producers.get(source)
    if node is not None and node.op_type == "Where":
        region = _region(producers, constants, node.input[0])
        source = node.input[1]
    head_node = _producer(producers, source, "Gemm")
    W, w = _affine(head_node, constants)
    clip = _producer(producers, head_node.input[0], "Max")
    lower = _bound(producers, constants, clip.input[1])
    below = _producer(producers, clip.input[0], "Min")
    upper = _bound(producers, constants, below.input[1])
    size = W.shape[1]
    (L, l0), (U, u0) = (_as_map(part, size, n_inputs) for part in (lower, upper))
    return Exported(Head(W, w), Box(L, l0, U, u0), region, level, file_precision(model))


def file_precision(model: onnx.ModelProto) -> str:
    """``float32`` or ``float64``: the element type of the graph's input ``X``."""
    element = model.graph.input[0].type.tensor_type.elem_type
    if element == onnx.TensorProto.FLOAT:
        return "float32"
    if element == onnx.TensorProto.DOUBLE:
        return "float64"
    raise NotSmle(f"not an SMLE graph: its input is of ONNX type {element}, not a float")


def _producer(producers: dict[str, onnx.NodeProto], tensor: str, op: str) -> onnx.NodeProto:
    node = producers.get(tensor)
    if node is None or node.op_type != op:
        found = "a graph input or constant" if node is None else node.op_type
        raise NotSmle(f"not an SMLE graph: expected {op} to make {tensor!r}, found {found}")
    return node


def _input_of(producers: dict[str, onnx.NodeProto], tensor: str, op: str) -> str:
    return _producer(producers, tensor, op).input[0]


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _level(
    producers: dict[str, onnx.NodeProto],
    arrays: dict[str, np.ndarray],
    add: onnx.NodeProto,
    n_inputs: int,
) -> tuple[int, str]:
    """The column ``c`` and the other input of ``Add(core, Gather(X, [c], axis=1))`` (either
    order): ``X[:, [c]]``, shape [N, 1], added to every output."""
    gathers = [i for i, name in enumerate(add.input)
               if (node := producers.get(name)) is not None and node.op_type == "Gather"]
    if len(add.input) != 2 or not gathers:
        raise NotSmle("not an SMLE graph: the final Add does not add an input column")
    gather = producers[add.input[gathers[-1]]]
    index = arrays.get(gather.input[1]) if len(gather.input) == 2 else None
    if (
        gather.input[0] != "X"
        or _attributes(gather) != {"axis": 1}
        or index is None
        or index.dtype.kind not in "iu"
        or index.shape != (1,)
        or not -n_inputs <= int(index[0]) < n_inputs
    ):
        raise NotSmle("not an SMLE graph: the level is not Gather(X, [c], axis=1) with a "
                      "constant column c")
    return int(index[0]) % n_inputs, add.input[1 - gathers[-1]]


def _affine(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """``(W, w)`` of a Gemm ``A @ W' + w`` with constant W and w (and no other attribute)."""
    attributes = {**GEMM_DEFAULTS, **_attributes(node)}
    if attributes != {**GEMM_DEFAULTS, "transB": 1} or len(node.input) != 3:
        raise NotSmle(f"not an SMLE graph: Gemm {node.name!r} is not x @ W' + w")
    missing = [name for name in node.input[1:] if name not in constants]
    if missing:
        raise NotSmle(f"not an SMLE graph: Gemm {node.name!r} has non-constant weights")
    return constants[node.input[1]], constants[node.input[2]]


def _bound(
    producers: dict[str, onnx.NodeProto], constants: dict[str, np.ndarray], tensor: str
) -> tuple[np.ndarray | None, np.ndarray]:
    """A clip bound: a constant vector, or ``Gemm(X, M, c)``; returns ``(M or None, c)``."""
    if tensor in constants:
        return None, constants[tensor].reshape(-1)
    node = _producer(producers, tensor, "Gemm")
    if node.input[0] != "X":
        raise NotSmle("not an SMLE graph: a clip bound is not a linear map of the input")
    M, c = _affine(node, constants)
    return M, c


def _as_map(
    part: tuple[np.ndarray | None, np.ndarray], size: int, n_inputs: int
) -> tuple[np.ndarray, np.ndarray]:
    M, c = part
    c = np.broadcast_to(c, (size,)).copy()
    return (np.zeros((size, n_inputs)) if M is None else M), c


def _region(
    producers: dict[str, onnx.NodeProto], constants: dict[str, np.ndarray], tensor: str
) -> tuple[np.ndarray, np.ndarray]:
    """The switch's ``A x <= b`` from ``LessOrEqual(ReduceMax(Gemm(X, A, c)), t)``."""
    test = _producer(producers, tensor, "LessOrEqual")
    worst = _producer(producers, test.input[0], "ReduceMax")
    attributes = _attributes(worst)
    if list(attributes.get("axes", [])) != [1] or len(worst.input) != 1:
        raise NotSmle("not an SMLE graph: the region test does not reduce over constraints")
    excess = _producer(producers, worst.input[0], "Gemm")
    if excess.input[0] != "X" or test.input[1] not in constants:
        raise NotSmle("not an SMLE graph: the region test is not A x + c <= t")
    A, c = _affine(excess, constants)
    threshold = constants[test.input[1]].reshape(-1)
    if threshold.size != 1:
        raise NotSmle("not an SMLE graph: the region threshold is not a scalar")
    return A, threshold[0] - c


def _input_width(graph: onnx.GraphProto) -> int:
    shape = graph.input[0].type.tensor_type.shape.dim
    return int(shape[1].dim_value)
