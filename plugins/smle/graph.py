"""Reading an exported SMLE graph back: the head, the box, the region switch and the level.

The certificate checks the file, not the Python object, so it reads what it proves from the
graph's nodes (:mod:`.export` gives the structure): the head ``Gemm``, the clip's two
maxima of pairs (``MaxPool`` over the rows of one ``Gemm``: ``-H`` against ``-u(x)``, then
``min(H, u)`` against ``l(x)``), the continuous switch and the level's one-hot ``MatMul``.
Anything that does not have exactly that structure is :class:`NotSmle`: no proof, only the
sample check. The backbone is not read: the proof covers every embedding the box allows.
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
    region, width = None, _output_width(graph)
    node = nodes.producers.get(source)
    if node is not None and node.op_type == "Flatten":  # the switch's final pair_max
        source, region, width = _switch(nodes, source)
    head_node = nodes.producer(source, "Gemm")
    W, w = _affine(head_node, constants)
    if W.shape[0] != width:
        raise NotSmle("not an SMLE graph: the head is not as wide as the output")
    lower = _clip_pairs(nodes, head_node.input[0], W.shape[1], n_inputs)
    L, l0 = lower.M, lower.c
    upper = _clip_pairs(nodes, lower.tensor, W.shape[1], n_inputs)
    U, u0 = -upper.M, -upper.c  # the pairs are (-H, -u)
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

    def pooled(self, tensor: str, kernel: list[int]) -> str:
        """The input of ``Flatten(MaxPool(t, kernel))``: a maximum over ``kernel``."""
        flatten = self.producer(tensor, "Flatten")
        pool = self.producer(flatten.input[0], "MaxPool")
        if _attributes(flatten) != {"axis": 1} or _attributes(pool) != {"kernel_shape": kernel}:
            raise NotSmle(f"not an SMLE graph: {tensor!r} is not a maximum over {kernel}")
        return pool.input[0]

    def pairs(self, tensor: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(sources, M, c)`` of the export's ``pair_max``: for each j the maximum of rows
        2j and 2j+1 of ``Concat(sources) @ M' + c``."""
        reshape = self.producer(self.pooled(tensor, [2, 1]), "Reshape")
        gemm = self.producer(reshape.input[0], "Gemm")
        M, c = _affine(gemm, self.constants)
        shape = self.constants.get(reshape.input[1])
        concat = self.producer(gemm.input[0], "Concat")
        if (
            shape is None
            or shape.tolist() != [-1, M.shape[0] // 2, 2, 1]
            or M.shape[0] % 2
            or c.shape != (M.shape[0],)
            or _attributes(reshape)
            or _attributes(concat) != {"axis": 1}
        ):
            raise NotSmle(f"not an SMLE graph: {tensor!r} is not a maximum of pairs")
        return list(concat.input), M, c


def interleave(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Rows ``first[0], second[0], first[1], second[1], ...`` (as the export writes them)."""
    return np.stack([first, second], axis=1).reshape(-1, *first.shape[1:])


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


@dataclass(frozen=True)
class _Bound:
    """One stage of the clip: the maximum of ``-T`` and ``M x + c``."""

    tensor: str  # T
    M: np.ndarray
    c: np.ndarray


def _clip_pairs(nodes: _Nodes, tensor: str, size: int, n_inputs: int) -> _Bound:
    """A clip stage, ``max(-T_j, M_j x + c_j)`` over ``[X, T]`` (``size`` values of T)."""
    sources, M, c = nodes.pairs(tensor)
    negation = np.hstack([np.zeros((size, n_inputs)), -np.identity(size)])
    if (
        len(sources) != 2
        or sources[0] != "X"
        or M.shape != (2 * size, n_inputs + size)
        or not np.array_equal(M[0::2], negation)
        or np.any(c[0::2])
        or np.any(M[1::2, n_inputs:])
    ):
        raise NotSmle(f"not an SMLE graph: {tensor!r} is not max(-T, M x + c) over [X, T]")
    return _Bound(sources[1], M[1::2, :n_inputs], c[1::2])


def _switch(nodes: _Nodes, tensor: str) -> tuple[str, tuple[np.ndarray, np.ndarray], int]:
    """The head's tensor ``Z``, the region ``A x <= b`` and the width of the switch: pairs
    ``(-O_j, -Z_j - s)`` over ``[H, Z, -s]``, then ``(min(O, Z + s)_j, Z_j - s)``, with
    ``-s = max(-K * Relu(maxrows(Gemm(X, A, -b))), -S)``: wherever the test passes, ``s =
    0`` and the output is ``Z`` whatever ``O`` is."""
    sources, M, c = nodes.pairs(tensor)
    m = M.shape[0] // 2
    eye, zeros, ones = np.identity(m), np.zeros((m, m)), np.ones((m, 1))
    low = interleave(np.hstack([-eye, zeros, 0 * ones]), np.hstack([zeros, eye, ones]))
    if len(sources) != 3 or M.shape != low.shape or not np.array_equal(M, low) or np.any(c):
        raise NotSmle("not an SMLE graph: the switch is not max(min(O, Z + s), Z - s)")
    capped, head, narrow = sources
    sources, M, c = nodes.pairs(capped)
    hidden = M.shape[1] - m - 1
    high = np.hstack([np.zeros((m, max(hidden, 0))), -eye, ones])
    if (
        sources[1:] != [head, narrow]
        or M.shape[0] != 2 * m
        or hidden < 0
        or not np.array_equal(M[1::2], high)
        or np.any(c[1::2])
    ):
        raise NotSmle("not an SMLE graph: the switch's min(O, Z + s) is not over [H, Z, -s]")
    sources, M, c = nodes.pairs(narrow)
    if (
        len(sources) != 1
        or M.shape != (2, 1)
        or not (np.all(np.isfinite(M)) and np.all(np.isfinite(c)))
        or not (M[0, 0] < 0 and M[1, 0] == 0 and c[0] == 0 and c[1] < 0)
    ):
        raise NotSmle("not an SMLE graph: the switch's width is not min(K * excess, S) with "
                      "positive constants K and S")  # fmt: skip
    return head, _region(nodes, nodes.input_of(sources[0], "Relu")), m


def _region(nodes: _Nodes, tensor: str) -> tuple[np.ndarray, np.ndarray]:
    """The switch's ``A x <= b`` from ``maxrows(Gemm(X, A, -b))``, every row at once."""
    pool = nodes.producer(nodes.input_of(tensor, "Flatten"), "MaxPool")
    kernel = list(_attributes(pool).get("kernel_shape", []))
    unsqueeze = nodes.producer(nodes.pooled(tensor, kernel), "Unsqueeze")
    axes = nodes.constants.get(unsqueeze.input[1]) if len(unsqueeze.input) == 2 else None
    excess = nodes.producer(unsqueeze.input[0], "Gemm")
    if axes is None or axes.reshape(-1).tolist() != [1, 3] or excess.input[0] != "X":
        raise NotSmle("not an SMLE graph: the region test is not A x - b")
    A, c = _affine(excess, nodes.constants)
    if kernel != [A.shape[0], 1] or c.shape != (A.shape[0],):
        raise NotSmle("not an SMLE graph: the region test does not take every row's maximum")
    return A, -c


def _output_width(graph: onnx.GraphProto) -> int:
    return int(graph.output[0].type.tensor_type.shape.dim[1].dim_value)


def _input_width(graph: onnx.GraphProto) -> int:
    shape = graph.input[0].type.tensor_type.shape.dim
    return int(shape[1].dim_value)
