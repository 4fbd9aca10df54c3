"""ONNX feed-forward ReLU networks, in and out.

The loader reads the graph as one chain from its single input to its single output. Every
affine operator since the last Relu (Gemm, MatMul, Add or Sub of a constant) is folded into one
pending affine map, which becomes a dense layer at the next Relu; shape operators (Flatten,
Reshape, Identity) leave the values alone, and a matrix product needs every value on the last
axis. The network's input vector is the input tensor in C order with batch size 1.
Initializers that are also listed among the graph inputs (as in the VNN-COMP ACAS Xu files)
are constants, not inputs. Any other operator is refused by name, so nothing is silently
approximated. External data (tensors kept in files the model names) is refused too: nnv reads
the one file it is given, never a path taken from it.

The network's precision is the file's: ``float32`` when the input tensor is float32 and every
folded parameter is a float32 value (the ACAS Xu files, the paper's), ``float64`` otherwise,
so that loading never changes a parameter. The saver writes Gemm(transB=1) + Relu layers in the
network's precision (or the ``dtype`` it is given), input ``X`` [1, n] and output ``Y`` [1, m]:
the round trip is exact, and onnxruntime, Marabou and the VNN-COMP tools run the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper
from onnx.external_data_helper import uses_external_data

from nnv.core import InputError, Network, NetworkLoader, NetworkSaver, UnsupportedError, hookimpl
from nnv.core.runtime.files import write_atomic

OPSET = 17
IR_VERSION = 8  # the oldest IR that carries opset 17, so older runtimes read the files too
_DOMAINS = ("", "ai.onnx")
_DTYPES = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class _Affine:
    """``weight @ a + bias`` of the last Relu's output ``a``; ``weight is None`` is identity."""

    weight: np.ndarray | None
    bias: np.ndarray

    @classmethod
    def identity(cls, size: int) -> _Affine:
        return cls(None, np.zeros(size))

    def then(self, matrix: np.ndarray) -> _Affine:
        """``matrix`` applied after this map."""
        weight = matrix if self.weight is None else matrix @ self.weight
        return _Affine(weight, matrix @ self.bias)

    def shifted(self, offset: np.ndarray) -> _Affine:
        return _Affine(self.weight, self.bias + offset)

    def negated(self) -> _Affine:
        weight = -np.eye(self.bias.size) if self.weight is None else -self.weight
        return _Affine(weight, -self.bias)

    def layer(self) -> tuple[np.ndarray, np.ndarray]:
        weight = np.eye(self.bias.size) if self.weight is None else self.weight
        return weight, self.bias


def _is_flat(shape: tuple[int, ...]) -> bool:
    """All values lie along the last axis, so a matrix product acts on the whole vector."""
    return all(size == 1 for size in shape[:-1])


def _label(node: onnx.NodeProto) -> str:
    """How errors name a node: its name, else the tensor it makes."""
    if node.name:
        return f"node '{node.name}'"
    return f"the unnamed node making '{node.output[0]}'" if node.output else "an unnamed node"


def _attribute(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


class _Chain:
    """Walks a graph's nodes in order, keeping the chain's tensor and the pending affine map."""

    def __init__(self, path: Path, graph: onnx.GraphProto) -> None:
        self.path = path
        self.constants = {init.name: self._array(init) for init in graph.initializer}
        inputs = [value for value in graph.input if value.name not in self.constants]
        if len(inputs) != 1:
            raise UnsupportedError(f"{path}: expected one graph input, found {len(inputs)}")
        self.tensor = inputs[0].name
        self.single = inputs[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        self.shape = self._input_shape(inputs[0])
        self.affine = _Affine.identity(math.prod(self.shape))
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []

    # -- helpers ---------------------------------------------------------------------------

    def _array(self, tensor: onnx.TensorProto) -> np.ndarray:
        if uses_external_data(tensor):  # converting it would read a file named by the model
            where = next((e.value for e in tensor.external_data if e.key == "location"), "")
            raise UnsupportedError(
                f"{self.path}: tensor {tensor.name!r} keeps its data in another file "
                f"({where!r}); external data is not supported"
            )
        try:
            return numpy_helper.to_array(tensor)
        except (ValueError, TypeError) as error:
            raise InputError(
                f"{self.path}: tensor {tensor.name!r} is malformed ({error})"
            ) from None

    def _input_shape(self, value: onnx.ValueInfoProto) -> tuple[int, ...]:
        """The input's shape with the batch dimension (first, when rank >= 2) set to 1."""
        dims = list(value.type.tensor_type.shape.dim)
        batch, features = (dims[0], dims[1:]) if len(dims) >= 2 else (None, dims)
        one_at_a_time = batch is None or bool(batch.dim_param) or batch.dim_value == 1
        sizes = tuple(dim.dim_value for dim in features)  # 0 where a size is symbolic
        if not one_at_a_time or not sizes or min(sizes) < 1:
            raise UnsupportedError(
                f"{self.path}: input {value.name!r} needs a known shape with batch size 1"
            )
        return (1, *sizes)

    def _unsupported(self, node: onnx.NodeProto, why: str) -> UnsupportedError:
        return UnsupportedError(f"{self.path}: {_label(node)} ({node.op_type}): {why}")

    def _constant(self, node: onnx.NodeProto, name: str) -> np.ndarray:
        if name not in self.constants:
            raise self._unsupported(node, f"input {name!r} must be a constant")
        return self.constants[name]

    def _floats(self, node: onnx.NodeProto, name: str) -> np.ndarray:
        values = np.asarray(self._constant(node, name), dtype=np.float64)
        if not np.isfinite(values).all():  # checked before folding, which would warn on them
            raise InputError(f"{self.path}: tensor {name!r} has NaN or infinite values")
        return values

    def _take_chain(self, node: onnx.NodeProto, position: int = 0) -> None:
        if len(node.input) <= position or node.input[position] != self.tensor:
            raise self._unsupported(
                node, "does not read the previous operator's output (only chains are supported)"
            )

    def _matrix(self, node: onnx.NodeProto, matrix: np.ndarray) -> _Affine:
        """The pending map followed by ``matrix`` (shape (out, in)) on a flat tensor."""
        if matrix.ndim != 2 or not _is_flat(self.shape) or matrix.shape[1] != self.shape[-1]:
            raise self._unsupported(
                node, f"cannot multiply a tensor of shape {self.shape} by weights {matrix.shape}"
            )
        self.shape = (*self.shape[:-1], matrix.shape[0])
        return self.affine.then(matrix)

    def _offset(self, node: onnx.NodeProto, value: np.ndarray) -> np.ndarray:
        """``value`` broadcast onto the chain's tensor, as a flat vector; it may not grow it."""
        try:
            shape = np.broadcast_shapes(self.shape, value.shape)
        except ValueError:
            shape = ()
        if math.prod(shape) != math.prod(self.shape):
            raise self._unsupported(
                node, f"a constant of shape {value.shape} does not fit a tensor of {self.shape}"
            )
        self.shape = shape
        return np.broadcast_to(value, shape).reshape(-1)

    # -- operators ---------------------------------------------------------------------------

    def constant(self, node: onnx.NodeProto) -> None:
        if len(node.attribute) != 1 or node.attribute[0].name not in (
            "value",
            "value_float",
            "value_floats",
            "value_int",
            "value_ints",
        ):
            raise self._unsupported(node, "only numeric constants are supported")
        value = helper.get_attribute_value(node.attribute[0])
        array = self._array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)
        self.constants[node.output[0]] = array

    def identity(self, node: onnx.NodeProto) -> None:
        self._take_chain(node)

    def flatten(self, node: onnx.NodeProto) -> None:
        self._take_chain(node)
        axis = _attribute(node, "axis", 1)
        axis = axis + len(self.shape) if axis < 0 else axis
        self.shape = (math.prod(self.shape[:axis]), math.prod(self.shape[axis:]))

    def reshape(self, node: onnx.NodeProto) -> None:
        """Any reshape keeps the values in C order; only a later matrix product needs flatness."""
        self._take_chain(node)
        target = [int(size) for size in self._constant(node, node.input[1]).reshape(-1)]
        copy_zeros = not _attribute(node, "allowzero", 0)
        sizes = [
            self.shape[index] if size == 0 and copy_zeros and index < len(self.shape) else size
            for index, size in enumerate(target)
        ]
        if sizes.count(-1) == 1:
            known = math.prod(size for size in sizes if size != -1)
            sizes[sizes.index(-1)] = math.prod(self.shape) // known if known > 0 else 0
        if not sizes or min(sizes) < 1 or math.prod(sizes) != math.prod(self.shape):
            raise InputError(f"{self.path}: {_label(node)} cannot reshape {self.shape} to {target}")
        self.shape = tuple(sizes)

    def relu(self, node: onnx.NodeProto) -> None:
        self._take_chain(node)
        self.layers.append(self.affine.layer())
        self.affine = _Affine.identity(self.affine.bias.size)

    def matmul(self, node: onnx.NodeProto) -> None:
        self._take_chain(node)
        self.affine = self._matrix(node, self._floats(node, node.input[1]).T)

    def gemm(self, node: onnx.NodeProto) -> None:
        self._take_chain(node)
        if _attribute(node, "transA", 0):
            raise self._unsupported(node, "transA=1 is not supported")
        weight = self._floats(node, node.input[1])
        matrix = weight if _attribute(node, "transB", 0) else weight.T
        alpha, beta = _attribute(node, "alpha", 1.0), _attribute(node, "beta", 1.0)
        affine = self._matrix(node, alpha * matrix)
        if len(node.input) > 2 and node.input[2]:
            affine = affine.shifted(beta * self._offset(node, self._floats(node, node.input[2])))
        self.affine = affine

    def add(self, node: onnx.NodeProto) -> None:
        position = 1 if node.input[1] == self.tensor else 0
        self._take_chain(node, position)
        constant = self._floats(node, node.input[1 - position])
        self.affine = self.affine.shifted(self._offset(node, constant))

    def sub(self, node: onnx.NodeProto) -> None:
        if node.input[0] == self.tensor:  # x - c
            constant = self._floats(node, node.input[1])
            self.affine = self.affine.shifted(-self._offset(node, constant))
        else:  # c - x
            self._take_chain(node, 1)
            constant = self._floats(node, node.input[0])
            self.affine = self.affine.negated().shifted(self._offset(node, constant))

    def step(self, node: onnx.NodeProto) -> None:
        handler = _HANDLERS.get(node.op_type) if node.domain in _DOMAINS else None
        if handler is None:
            raise UnsupportedError(
                f"{self.path}: unsupported ONNX operator '{node.op_type}' ({_label(node)})"
            )
        try:
            handler(self, node)
        except IndexError:
            raise InputError(
                f"{self.path}: {_label(node)} ({node.op_type}) lacks an input or output"
            ) from None
        if node.op_type != "Constant":
            self.tensor = node.output[0]

    def network(self, graph: onnx.GraphProto) -> Network:
        # Folding finite constants can still overflow; the Network below refuses the result.
        with np.errstate(over="ignore", invalid="ignore"):
            for node in graph.node:
                self.step(node)
        if [value.name for value in graph.output] != [self.tensor]:
            raise UnsupportedError(f"{self.path}: the graph's output is not the end of its chain")
        # A graph that ends with a Relu leaves the identity pending: a linear last layer.
        layers = [*self.layers, self.affine.layer()]
        try:
            return Network(layers, "float32" if self.single and _single(layers) else "float64")
        except InputError as error:
            raise InputError(f"{self.path}: {error}") from None


_HANDLERS: dict[str, Callable[[_Chain, onnx.NodeProto], None]] = {
    "Constant": _Chain.constant,
    "Identity": _Chain.identity,
    "Flatten": _Chain.flatten,
    "Reshape": _Chain.reshape,
    "Relu": _Chain.relu,
    "MatMul": _Chain.matmul,
    "Gemm": _Chain.gemm,
    "Add": _Chain.add,
    "Sub": _Chain.sub,
}


def _single(layers: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether every parameter is a float32 value (folding constants may leave some that are
    not: then the network stays float64, exactly as read)."""
    with np.errstate(over="ignore"):
        return all(
            np.array_equal(array, array.astype(np.float32).astype(np.float64))
            for layer in layers
            for array in layer
        )


def _read_model(path: Path) -> onnx.ModelProto:
    try:
        # without external data: tensors that name files are refused when converted
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable ONNX model ({error})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise InputError(f"{path}: not an ONNX model (no graph)")
    return model


def network_to_model(network: Network, dtype: type = np.float64) -> onnx.ModelProto:
    """Gemm(transB=1) + Relu layers, input ``X`` [1, n], output ``Y`` [1, m]."""
    element = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    nodes, initializers, tensor = [], [], "X"
    last = len(network.layers) - 1
    for index, layer in enumerate(network.layers):
        weight, bias = f"W{index}", f"B{index}"
        initializers += [
            numpy_helper.from_array(layer.weight.astype(dtype), weight),
            numpy_helper.from_array(layer.bias.astype(dtype), bias),
        ]
        output = "Y" if index == last else f"z{index}"
        nodes.append(
            helper.make_node(
                "Gemm", [tensor, weight, bias], [output], name=f"gemm{index}", transB=1
            )
        )
        if index < last:
            tensor = f"a{index}"
            nodes.append(helper.make_node("Relu", [output], [tensor], name=f"relu{index}"))
    graph = helper.make_graph(
        nodes,
        "nnv",
        [helper.make_tensor_value_info("X", element, [1, network.n_inputs])],
        [helper.make_tensor_value_info("Y", element, [1, network.n_outputs])],
        initializers,
    )
    model = helper.make_model(
        graph, producer_name="nnv", opset_imports=[helper.make_opsetid("", OPSET)]
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


class OnnxLoader(NetworkLoader):
    """ONNX feed-forward ReLU networks (Gemm/MatMul/Add/Sub/Relu/Flatten/Reshape chains)."""

    suffixes = (".onnx",)
    description = "ONNX feed-forward ReLU network"

    def load(self, path: Path) -> Network:
        graph = _read_model(Path(path)).graph
        return _Chain(Path(path), graph).network(graph)


class OnnxSaver(NetworkSaver):
    """ONNX Gemm + Relu layers in the network's precision, so the round trip is exact."""

    suffixes = (".onnx",)
    description = "ONNX Gemm + Relu layers (in the network's precision)"

    def __init__(self, dtype: str | None = None) -> None:
        if dtype is not None and dtype not in _DTYPES:
            raise InputError(
                f"ONNX saver: dtype must be one of {', '.join(_DTYPES)}, not {dtype!r}"
            )
        self.dtype = None if dtype is None else _DTYPES[dtype]

    def save(self, network: Network, path: Path) -> None:
        dtype = _DTYPES[network.precision] if self.dtype is None else self.dtype
        write_atomic(Path(path), network_to_model(network, dtype).SerializeToString())


@hookimpl
def nnv_network_loaders() -> dict[str, type]:
    return {"onnx": OnnxLoader}


@hookimpl
def nnv_network_savers() -> dict[str, type]:
    return {"onnx": OnnxSaver}
