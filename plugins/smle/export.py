"""Trained models as ONNX (opset 17), float32 (the default) or float64: every tensor of the
graph, input and output included, has that type, and any ONNX runtime reproduces the outputs.

An SMLE model becomes, from input ``X`` [N, n] to output ``Y`` [N, m]::

    H  = Relu(Gemm(... Relu(Gemm((X - shift) * scale, W1, b1)) ...))   the backbone h
    E  = Max(Min(H, upper), lower)                                      the clip, node "clip"
         (upper/lower: constants, or Gemm(X, U, u0) / Gemm(X, L, l0) for a linear box)
    Z  = Gemm(E, W, w)                                                  the head g, node "head"
    Y  = Where(ReduceMax(Gemm(X, A, -b)) <= 0, Z, Gemm(H, W0, w0))      the region switch

(the switch only when the property has an input region; in float32 its ``b`` is widened by
what float32 rounding can cost, :func:`.rounding.switch_threshold`). With a level (input
column c)::

    V  = Gather(X, [c], axis=1)                                          node "level", [N, 1]
    X' = Sub(X, V)                                                       node "delevelled"
         (the standardisation then reads X' instead of X)
    Y  = Add(<the output above>, V)                                      node "relevel"

The certificate reads the head, the box, the region and the level back from these nodes, so
it checks the file, not the Python object.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

from .rounding import switch_threshold

OPSET = 17
IR_VERSION = 8
ELEMENT_TYPES = {"float32": onnx.TensorProto.FLOAT, "float64": onnx.TensorProto.DOUBLE}
DTYPES = {"float32": np.float32, "float64": np.float64}


class _Graph:
    """Nodes and initializers, added in order; every constant rounded to ``precision``."""

    def __init__(self, precision: str) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.precision = precision

    def constant(self, name: str, value: np.ndarray | torch.Tensor) -> str:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.asarray(value, dtype=DTYPES[self.precision])
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def indices(self, name: str, value: list[int]) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value, np.int64), name))
        return name

    def level(self, level: int | None) -> str | None:
        """``X[:, [level]]`` ([N, 1]), or None without a level."""
        if level is None:
            return None
        column = self.indices("level.index", [level])
        return self.node("Gather", ["X", column], "level", axis=1)

    def node(self, op: str, inputs: list[str], name: str, **attributes: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def gemm(self, source: str, layer: nn.Linear, name: str) -> str:
        """``source @ W' + b`` of a torch Linear layer."""
        weight = self.constant(f"{name}.weight", layer.weight)
        bias = self.constant(f"{name}.bias", layer.bias)
        return self.node("Gemm", [source, weight, bias], name, transB=1)

    def model(self, output: str, n_inputs: int, n_outputs: int) -> onnx.ModelProto:
        self.nodes.append(helper.make_node("Identity", [output], ["Y"], name="output"))
        element = ELEMENT_TYPES[self.precision]
        graph = helper.make_graph(
            self.nodes,
            "nnv-smle",
            [helper.make_tensor_value_info("X", element, ["N", n_inputs])],
            [helper.make_tensor_value_info("Y", element, ["N", n_outputs])],
            self.initializers,
        )
        model = helper.make_model(
            graph, producer_name="nnv", opset_imports=[helper.make_opsetid("", OPSET)]
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model


def _backbone(
    graph: _Graph, layers: nn.Sequential, shift: Any, scale: Any, level: str | None = None
) -> str:
    """Standardise X (minus the ``level`` column, when given), then every Linear (+ ReLU)
    of ``layers``."""
    source = "X" if level is None else graph.node("Sub", ["X", level], "delevelled")
    centred = graph.node("Sub", [source, graph.constant("shift", shift)], "centred")
    tensor = graph.node("Mul", [centred, graph.constant("scale", scale)], "standardised")
    index = 0
    for layer in layers:
        if isinstance(layer, nn.Linear):
            index += 1
            tensor = graph.gemm(tensor, layer, f"layer{index}")
        elif isinstance(layer, nn.ReLU):
            tensor = graph.node("Relu", [tensor], f"relu{index}")
    return tensor


def export_smle(model: Any, precision: str = "float32") -> onnx.ModelProto:
    """The ONNX graph of an :class:`~.model.SmleNet` (see the module docstring)."""
    graph = _Graph(precision)
    level = graph.level(model.level)
    hidden = _backbone(graph, model.backbone, model.shift, model.scale, level)
    if model.box_kind == "linear":
        upper = graph.gemm("X", model.upper, "box.upper")
        lower = graph.gemm("X", model.lower, "box.lower")
    else:
        upper = graph.constant("box.upper", model.upper.bias)
        lower = graph.constant("box.lower", model.lower.bias)
    below = graph.node("Min", [hidden, upper], "clip.upper")
    clipped = graph.node("Max", [below, lower], "clip")
    output = graph.gemm(clipped, model.head, "head")
    if model.outside is not None:
        region_A = graph.constant("region.A", model.region_A)
        # float32: the test widened so that every float32 input of the region passes it
        b = switch_threshold(model.region) if precision == "float32" else model.region_b
        minus_b = graph.constant("region.minus_b", -b)
        excess = graph.node("Gemm", ["X", region_A, minus_b], "region.excess", transB=1)
        worst = graph.node("ReduceMax", [excess], "region.worst", axes=[1], keepdims=1)
        zero = graph.constant("region.zero", np.zeros(1))
        inside = graph.node("LessOrEqual", [worst, zero], "region.inside")
        outside = graph.gemm(hidden, model.outside, "outside")
        output = graph.node("Where", [inside, output, outside], "switch")
    if level is not None:
        output = graph.node("Add", [output, level], "relevel")
    return graph.model(output, int(model.shift.shape[0]), int(model.head.out_features))


def export_plain(
    layers: nn.Sequential,
    shift: Any,
    scale: Any,
    level: int | None = None,
    precision: str = "float32",
) -> onnx.ModelProto:
    """The ONNX graph of a plain standardised ReLU network (the baselines' models), with the
    same level nodes as an SMLE graph."""
    graph = _Graph(precision)
    column = graph.level(level)
    output = _backbone(graph, layers, shift, scale, column)
    if column is not None:
        output = graph.node("Add", [output, column], "relevel")
    last = [layer for layer in layers if isinstance(layer, nn.Linear)][-1]
    return graph.model(output, int(np.asarray(shift).shape[0]), int(last.out_features))
