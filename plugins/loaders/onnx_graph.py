"""Lowering an ONNX graph to a :class:`Network`, node by node.

Only the nodes the graph's output depends on are visited, in the graph's (topological)
order. Each tensor is either a constant (initializers, Constant nodes, and every node whose
inputs are all constants, evaluated by ONNX's reference implementation) or an
:class:`~nnv.plugins.loaders.onnx_tensors.Affine` function of the current hidden vector.
The operator modules (``onnx_ops_*``) say how each operator maps those; a Relu (and each level
of a MaxPool) ends one layer of the network and starts the next hidden vector. Tensors made
before that are gone: a node that still reads one (a skip connection) is refused, as is every
operator without a lowering, by name, so nothing is silently approximated.

The input's first axis, when it has two or more, is the batch: 1 or symbolic, taken as 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnv.core import InputError, Network, UnsupportedError
from nnv.core.runtime.sparse import issparse
from nnv.plugins.loaders.onnx_proto import attribute_value, to_array, uses_external_data
from nnv.plugins.loaders.onnx_tensors import Affine, layer_weights

if TYPE_CHECKING:
    import onnx

_DOMAINS = ("", "ai.onnx")
FLOAT = 1  # onnx.TensorProto.FLOAT (the onnx package is not imported to read a file)

Handler = Callable[["Lowering", "onnx.NodeProto"], None]


def label(node: onnx.NodeProto) -> str:
    """How errors name a node: its name, else the tensor it makes."""
    if node.name:
        return f"node '{node.name}'"
    return f"the unnamed node making '{node.output[0]}'" if node.output else "an unnamed node"


class Lowering:
    """The state of the walk: constants, the tensors of the current hidden vector, layers."""

    def __init__(self, path: Path, model: onnx.ModelProto) -> None:
        graph = model.graph
        self.path = path
        self.opset = next((o.version for o in model.opset_import if o.domain in _DOMAINS), 1)
        self.constants: dict[str, np.ndarray] = {
            init.name: self.array(init) for init in graph.initializer
        }
        inputs = [value for value in graph.input if value.name not in self.constants]
        if len(inputs) != 1:
            raise UnsupportedError(f"{path}: expected one graph input, found {len(inputs)}")
        shape = self._input_shape(inputs[0])
        self.single = inputs[0].type.tensor_type.elem_type == FLOAT  # a float32 graph input
        self.generation = 0
        self.values: dict[str, Affine] = {inputs[0].name: Affine.hidden(shape, 0)}
        self.layers: list[tuple[Any, np.ndarray]] = []

    # -- reading the graph -----------------------------------------------------------------

    def array(self, tensor: onnx.TensorProto) -> np.ndarray:
        if uses_external_data(tensor):  # converting it would read a file named by the model
            where = next((e.value for e in tensor.external_data if e.key == "location"), "")
            raise UnsupportedError(
                f"{self.path}: tensor {tensor.name!r} keeps its data in another file "
                f"({where!r}); external data is not supported"
            )
        try:
            return to_array(tensor)
        except (ValueError, TypeError) as error:
            raise InputError(
                f"{self.path}: tensor {tensor.name!r} is malformed ({error})"
            ) from None

    def _input_shape(self, value: onnx.ValueInfoProto) -> tuple[int, ...]:
        """The input's shape with the batch axis (the first of two or more) set to 1."""
        dims = list(value.type.tensor_type.shape.dim)
        batch, features = (dims[0], dims[1:]) if len(dims) >= 2 else (None, dims)
        one_at_a_time = batch is None or bool(batch.dim_param) or batch.dim_value == 1
        sizes = tuple(dim.dim_value for dim in features)  # 0 where a size is symbolic
        if not one_at_a_time or not sizes or min(sizes) < 1:
            raise UnsupportedError(
                f"{self.path}: input {value.name!r} needs a known shape with batch size 1"
            )
        return sizes if batch is None else (1, *sizes)

    def fail(self, node: onnx.NodeProto, why: str) -> UnsupportedError:
        """The node is valid ONNX but uses what nnv does not lower."""
        return UnsupportedError(f"{self.path}: {label(node)} ({node.op_type}): {why}")

    def malformed(self, node: onnx.NodeProto, why: str) -> InputError:
        """The node is not valid ONNX."""
        return InputError(f"{self.path}: {label(node)} {why}")

    def attribute(self, node: onnx.NodeProto, name: str, default: Any) -> Any:
        for attribute in node.attribute:
            if attribute.name == name:
                value = attribute_value(attribute)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def has_input(self, node: onnx.NodeProto, position: int) -> bool:
        return len(node.input) > position and bool(node.input[position])

    def operand(self, node: onnx.NodeProto, position: int) -> Affine | np.ndarray:
        """Input ``position``: a constant, or a tensor of the current hidden vector."""
        name = node.input[position]
        if name in self.constants:
            return self.constants[name]
        value = self.values.get(name)
        if value is None:
            raise self.fail(node, f"its input {name!r} is not made by any node nnv lowers")
        if value.generation != self.generation:
            raise self.fail(
                node,
                f"its input {name!r} was made before the last ReLU layer; only chains "
                "through every ReLU layer are supported (no skip connections)",
            )
        return value

    def value(self, node: onnx.NodeProto, position: int = 0) -> Affine:
        """Input ``position``, which must depend on the network's input."""
        operand = self.operand(node, position)
        if not isinstance(operand, Affine):
            raise self.fail(node, f"input {position + 1} must depend on the network's input")
        return operand

    def constant(self, node: onnx.NodeProto, position: int) -> np.ndarray:
        operand = self.operand(node, position)
        if isinstance(operand, Affine):
            raise self.fail(node, f"its input {node.input[position]!r} must be a constant")
        return operand

    def floats(self, node: onnx.NodeProto, position: int) -> np.ndarray:
        values = np.asarray(self.constant(node, position), dtype=np.float64)
        if not np.isfinite(values).all():  # checked before folding, which would warn on them
            name = node.input[position]
            raise InputError(f"{self.path}: tensor {name!r} has NaN or infinite values")
        return values

    def ints(self, node: onnx.NodeProto, position: int) -> list[int]:
        return [int(v) for v in np.asarray(self.constant(node, position)).reshape(-1)]

    # -- writing -------------------------------------------------------------------------------

    def set(self, node: onnx.NodeProto, value: Affine) -> None:
        self.values[node.output[0]] = value

    def new_layer(self, source: Affine) -> int:
        """Make ``source``'s map the next layer's pre-activation; returns the new generation
        (whose hidden vector is that layer's ReLU output)."""
        self.layers.append((layer_weights(source.matrix()), source.bias))
        self.generation += 1
        return self.generation

    # -- the walk --------------------------------------------------------------------------

    def step(self, node: onnx.NodeProto) -> None:
        if node.domain not in _DOMAINS:
            raise self._unknown(node)
        inputs = [name for name in node.input if name]
        try:
            if node.op_type != "Constant" and inputs and set(inputs) <= self.constants.keys():
                self._evaluate(node)
                return
            handler = HANDLERS.get(node.op_type)
            if handler is None:
                raise self._unknown(node)
            handler(self, node)
        except IndexError:
            raise InputError(
                f"{self.path}: {label(node)} ({node.op_type}) lacks an input or output"
            ) from None

    def _unknown(self, node: onnx.NodeProto) -> UnsupportedError:
        return UnsupportedError(
            f"{self.path}: unsupported ONNX operator '{node.op_type}' ({label(node)})"
        )

    def _evaluate(self, node: onnx.NodeProto) -> None:
        """A node of constants is a constant: ONNX's reference implementation computes it."""
        import onnx  # only graphs that need the reference evaluator pay for onnx
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        names = [name for name in node.input if name]
        graph = helper.make_graph(
            [node],
            "constant",
            [
                helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)
                for name in names
            ],
            [
                helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)
                for name in node.output
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            results = ReferenceEvaluator(model).run(None, {n: self.constants[n] for n in names})
        except Exception as error:  # whatever the reference implementation raises
            raise self.fail(node, f"cannot evaluate it on its constant inputs ({error})") from None
        for name, result in zip(node.output, results, strict=True):
            self.constants[name] = np.asarray(result)

    def network(self, graph: onnx.GraphProto) -> Network:
        # Folding finite constants can still overflow; the Network below refuses the result.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for node in _needed(graph):
                self.step(node)
        if len(graph.output) != 1:
            raise UnsupportedError(
                f"{self.path}: expected one graph output, found {len(graph.output)}"
            )
        output = self.values.get(graph.output[0].name)
        if output is None or output.generation != self.generation:
            raise UnsupportedError(f"{self.path}: the graph's output is not the end of its chain")
        # A graph that ends with a Relu leaves the identity: a linear last layer.
        layers = [*self.layers, (layer_weights(output.matrix()), output.bias)]
        precision = "float32" if self.single and _single(layers) else "float64"
        try:
            return Network(layers, precision)
        except InputError as error:
            raise InputError(f"{self.path}: {error}") from None


def _single(layers: list[tuple[Any, np.ndarray]]) -> bool:
    """Whether every parameter is a float32 value (folding constants may leave some that are
    not: then the network stays float64, exactly as read, so loading never changes one)."""
    with np.errstate(over="ignore"):
        return all(
            np.array_equal(values, values.astype(np.float32).astype(np.float64))
            for layer in layers
            for values in (layer[0].data if issparse(layer[0]) else layer[0], layer[1])
        )


def _needed(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The nodes the graph's outputs depend on, in the graph's order."""
    wanted = {value.name for value in graph.output}
    needed = []
    for node in reversed(graph.node):
        if wanted.intersection(node.output):
            needed.append(node)
            wanted.update(name for name in node.input if name)
    return needed[::-1]


def _handlers() -> dict[str, Handler]:
    from nnv.plugins.loaders import onnx_ops_linear, onnx_ops_shape, onnx_ops_window

    return {**onnx_ops_linear.HANDLERS, **onnx_ops_shape.HANDLERS, **onnx_ops_window.HANDLERS}


HANDLERS: dict[str, Handler] = _handlers()
