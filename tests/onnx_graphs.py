"""Small ONNX graphs built with onnx.helper, and onnxruntime's outputs for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as NotImplementedError_

from nnv.core import Network
from nnv.core.plugin.registry import default_registry

ort.set_default_logger_severity(3)  # no warnings about initializers listed as inputs

ELEMENT = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE}


class Graph:
    """A graph under construction: nodes, constants, one input ``X`` and one output ``Y``."""

    def __init__(self, shape: list[Any], dtype: type = np.float32, opset: int = 17) -> None:
        self.shape, self.dtype, self.opset = shape, dtype, opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.last = "X"

    def const(self, value: Any, integer: bool = False) -> str:
        name = f"c{len(self.initializers)}"
        array = np.asarray(value, dtype=np.int64 if integer else self.dtype)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def random(self, rng: np.random.Generator, *shape: int, scale: float = 0.5) -> str:
        return self.const(rng.normal(size=shape) * scale)

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        """A node reading ``inputs`` (``"$"`` is the previous node's output); returns its output."""
        output = f"t{len(self.nodes)}"
        names = [self.last if name == "$" else name for name in inputs]
        self.nodes.append(
            helper.make_node(op_type, names, [output], name=f"n{len(self.nodes)}", **attributes)
        )
        self.last = output
        return output

    def model(self) -> onnx.ModelProto:
        last = onnx.NodeProto()
        last.CopyFrom(self.nodes[-1])
        last.output[0] = "Y"
        element = ELEMENT[self.dtype]
        graph = helper.make_graph(
            [*self.nodes[:-1], last],
            "test",
            [helper.make_tensor_value_info("X", element, self.shape)],
            [helper.make_tensor_value_info("Y", element, None)],
            self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 9 if self.opset >= 19 else 8
        return model

    def save(self, path: Path) -> Path:
        onnx.save(self.model(), path)
        return path


def onnxruntime_outputs(path: Path, inputs: np.ndarray) -> np.ndarray:
    """onnxruntime's outputs, one flat row per input (any batch axis set to 1)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (feed,) = session.get_inputs()
    dtype = np.float64 if feed.type == "tensor(double)" else np.float32
    shape = [size if isinstance(size, int) else 1 for size in feed.shape]
    rows = [session.run(None, {feed.name: x.reshape(shape).astype(dtype)})[0] for x in inputs]
    return np.stack([row.reshape(-1) for row in rows]).astype(np.float64)


def reference_outputs(path: Path, inputs: np.ndarray) -> np.ndarray:
    """onnxruntime's outputs; for a float64 graph with operators that onnxruntime runs only
    in float32 (Conv), those of ONNX's own reference implementation, in float64."""
    try:
        return onnxruntime_outputs(path, inputs)
    except NotImplementedError_:
        model = onnx.load(path)
    evaluator = ReferenceEvaluator(model)
    (feed,) = [value for value in model.graph.input if value.name == "X"]
    shape = [dim.dim_value or 1 for dim in feed.type.tensor_type.shape.dim]
    rows = [evaluator.run(None, {"X": x.reshape(shape)})[0] for x in inputs]
    return np.stack([np.asarray(row).reshape(-1) for row in rows]).astype(np.float64)


def disagreement(network: Network, path: Path, inputs: np.ndarray) -> float:
    """The largest ``|nnv - reference| / (1 + |reference|)`` over the inputs."""
    expected = reference_outputs(path, inputs)
    return float(np.max(np.abs(network.forward(inputs) - expected) / (1 + np.abs(expected))))


def load(path: Path) -> Network:
    return default_registry().load_network(path)
