"""Reading an exported SMLE graph back: the head, the box, the region switch and the level.

The certificate checks the file, not the Python object, so it reads what it proves from the
graph's nodes (:mod:`.export` gives the structure): the head ``Gemm``, the clip's exact
``max2``/``min2`` (``MaxPool`` over a pair, negations by ``Mul(-1)``), its bounds
``Gemm(X, M, c)``, the continuous switch and the level's one-hot ``MatMul``. Anything that
does not have exactly that structure is :class:`NotSmle`: no proof, only the sample check.
The backbone is not read: the proof covers every embedding the box allows.
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
    nodes = _Nodes({output: node for node in graph.node for output in node.output}, constants)
    n_inputs = _input_width(graph)
    source = nodes.input_of("Y", "Identity")
    level = None
    node = nodes.producers.get(source)
    if node is not None and node.op_type == "Add":
        level, source = _level(nodes, node, n_inputs)
    region = None
    node = nodes.producers.get(source)
    if node is not None and node.op_type == "Flatten":  # the switch's final max2
        source, region = _switch(nodes, source)
    head_node = nodes.producer(source, "Gemm")
    W, w = _affine(head_node, constants)
    below, lower = nodes.max2(head_node.input[0])
    _, upper = nodes.min2(below)
    size = W.shape[1]
    (L, l0), (U, u0) = (_bound(nodes, bound, size, n_inputs) for bound in (lower, upper))
    return Exported(Head(W, w), Box(L, l0, U, u0), region, level, file_precision(model))


def file_precision(model: onnx.ModelProto) -> str:
    """``float32`` or ``float64``: the element type of the graph's input ``X``."""
    element = model.graph.input[0].type.tensor_type.elem_type
    if element == onnx.TensorProto.FLOAT:
        return "float32"
    if element == onnx.TensorProto.DOUBLE:
        return "float64"
    raise NotSmle(f"not an SMLE graph: its input is of ONNX type {element}, not a float")


class _Nodes:
    """The graph's nodes by the tensor they make, and the structures the export writes."""

    def __init__(self, producers: dict[str, onnx.NodeProto], constants: dict[str, np.ndarray]):
        self.producers = producers
        self.constants = constants

    def producer(self, tensor: str, op: str) -> onnx.NodeProto:
        node = self.producers.get(tensor)
        if node is None or node.op_type != op:
            found = "a graph input or constant" if node is None else node.op_type
            raise NotSmle(f"not an SMLE graph: expected {op} to make {tensor!r}, found {found}")
        return node

    def input_of(self, tensor: str, op: str) -> str:
        return self.producer(tensor, op).input[0]

    def is_constant(self, name: str, value: float) -> bool:
        array = self.constants.get(name)
        return array is not None and array.size == 1 and float(array.reshape(-1)[0]) == value

    def negated(self, tensor: str) -> str:
        """``t`` of ``Mul(t, -1)``."""
        node = self.producer(tensor, "Mul")
        if len(node.input) != 2 or not self.is_constant(node.input[1], -1.0):
            raise NotSmle(f"not an SMLE graph: {tensor!r} is not a negation")
        return node.input[0]

    def pooled(self, tensor: str, axes: list[int], kernel: list[int]) -> list[str]:
        """The tensors of ``Flatten(MaxPool(Concat(Unsqueeze(t, axes)...)))`` (the Concat
        only when there are two): a maximum over ``kernel``, nothing else."""
        flatten = self.producer(tensor, "Flatten")
        pool = self.producer(flatten.input[0], "MaxPool")
        if _attributes(flatten) != {"axis": 1} or _attributes(pool) != {"kernel_shape": kernel}:
            raise NotSmle(f"not an SMLE graph: {tensor!r} is not a maximum over {kernel}")
        parts = [pool.input[0]]
        if axes == [2, 3]:  # max2: the pair stacked on a new axis
            concat = self.producer(pool.input[0], "Concat")
            if _attributes(concat) != {"axis": 2} or len(concat.input) != 2:
                raise NotSmle(f"not an SMLE graph: {tensor!r} is not a maximum of a pair")
            parts = list(concat.input)
        sources = []
        for part in parts:
            unsqueeze = self.producer(part, "Unsqueeze")
            index = self.constants.get(unsqueeze.input[1]) if len(unsqueeze.input) == 2 else None
            if index is None or index.reshape(-1).tolist() != axes:
                raise NotSmle(f"not an SMLE graph: {part!r} does not unsqueeze axes {axes}")
            sources.append(unsqueeze.input[0])
        return sources

    def max2(self, tensor: str) -> tuple[str, str]:
        """``(a, b)`` of the export's ``max2(a, b)``."""
        a, b = self.pooled(tensor, [2, 3], [2, 1])
        return a, b

    def min2(self, tensor: str) -> tuple[str, str]:
        """``(a, b)`` of ``min2(a, b) = -max2(-a, -b)``."""
        a, b = self.max2(self.negated(tensor))
        return self.negated(a), self.negated(b)


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _level(nodes: _Nodes, add: onnx.NodeProto, n_inputs: int) -> tuple[int, str]:
    """The column ``c`` and the other input of ``Add(core, MatMul(X, e_c))`` (either order):
    ``X[:, [c]]``, shape [N, 1], added to every output."""
    columns = [i for i, name in enumerate(add.input)
               if (node := nodes.producers.get(name)) is not None and node.op_type == "MatMul"]
    if len(add.input) != 2 or not columns:
        raise NotSmle("not an SMLE graph: the final Add does not add an input column")
    matmul = nodes.producers[add.input[columns[-1]]]
    column = nodes.constants.get(matmul.input[1]) if len(matmul.input) == 2 else None
    if (
        matmul.input[0] != "X"
        or _attributes(matmul)
        or column is None
        or column.shape != (n_inputs, 1)
        or np.count_nonzero(column) != 1
        or float(column.max()) != 1.0
    ):
        raise NotSmle("not an SMLE graph: the level is not MatMul(X, e_c) with a constant "
                      "one-hot column e_c")
    return int(np.argmax(column[:, 0])), add.input[1 - columns[-1]]


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
    nodes: _Nodes, tensor: str, size: int, n_inputs: int
) -> tuple[np.ndarray, np.ndarray]:
    """A clip bound ``Gemm(X, M, c)`` of ``size`` values (zero ``M`` for a constant box)."""
    node = nodes.producer(tensor, "Gemm")
    M, c = _affine(node, nodes.constants)
    if node.input[0] != "X" or M.shape != (size, n_inputs) or c.shape != (size,):
        raise NotSmle("not an SMLE graph: a clip bound is not a linear map of the input")
    return M, c


def _switch(nodes: _Nodes, tensor: str) -> tuple[str, tuple[np.ndarray, np.ndarray]]:
    """The head's tensor ``Z`` and the region ``A x <= b`` of the continuous switch
    ``max2(min2(O, Z + s), Z + (-1 * s))`` with ``s = K * Relu(maxrows(Gemm(X, A, -b)))``:
    wherever the test passes, ``s = 0`` and the output is ``Z`` whatever ``O`` is."""
    capped, low = nodes.max2(tensor)
    _, high = nodes.min2(capped)
    high_node, low_node = nodes.producer(high, "Add"), nodes.producer(low, "Add")
    head, width = high_node.input
    if low_node.input[0] != head or nodes.negated(low_node.input[1]) != width:
        raise NotSmle("not an SMLE graph: the switch is not Z + s and Z - s")
    gain = nodes.producer(width, "Mul")
    K = nodes.constants.get(gain.input[1]) if len(gain.input) == 2 else None
    if K is None or K.size != 1 or not (np.isfinite(K).all() and float(K.reshape(-1)[0]) > 0):
        raise NotSmle("not an SMLE graph: the switch's width is not a positive constant times "
                      "the region's excess")
    return head, _region(nodes, nodes.input_of(gain.input[0], "Relu"))


def _region(nodes: _Nodes, tensor: str) -> tuple[np.ndarray, np.ndarray]:
    """The switch's ``A x <= b`` from ``maxrows(Gemm(X, A, -b))``, every row at once."""
    pool = nodes.producer(nodes.input_of(tensor, "Flatten"), "MaxPool")
    kernel = list(_attributes(pool).get("kernel_shape", []))
    (excess_name,) = nodes.pooled(tensor, [1, 3], kernel)
    excess = nodes.producer(excess_name, "Gemm")
    if excess.input[0] != "X":
        raise NotSmle("not an SMLE graph: the region test is not A x - b")
    A, c = _affine(excess, nodes.constants)
    if kernel != [A.shape[0], 1] or c.shape != (A.shape[0],):
        raise NotSmle("not an SMLE graph: the region test does not take every row's maximum")
    return A, -c


def _input_width(graph: onnx.GraphProto) -> int:
    shape = graph.input[0].type.tensor_type.shape.dim
    return int(shape[1].dim_value)
