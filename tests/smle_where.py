"""The SMLE graph as nnv exported it before the Marabou-readable one (Gather, Sub, Mul, Min,
Max, ReduceMax, LessOrEqual, Where): the reference tests/test_smle_export.py and
benchmarks/smle_switch.py compare the file with."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from nnv.plugins.smle.export import DTYPES, OPSET
from nnv.plugins.smle.model import SmleNet
from nnv.plugins.smle.rounding import switch_threshold


def where_graph(model: SmleNet, precision: str) -> onnx.ModelProto:
    """The graph as exported before (Gather, Sub, Mul, Min, Max, ReduceMax, Where): the
    reference the new one must equal inside the region."""
    nodes, inits = [], []

    def const(name: str, value: object, dtype: object = DTYPES[precision]) -> str:
        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attributes: object) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def gemm(source: str, layer: torch.nn.Module, name: str) -> str:
        return node("Gemm", [source, const(f"{name}.w", layer.weight),
                             const(f"{name}.b", layer.bias)], name, transB=1)  # fmt: skip

    source = "X"
    if model.level is not None:
        level = node("Gather", ["X", const("c", [model.level], np.int64)], "level", axis=1)
        source = node("Sub", ["X", level], "delevelled")
    tensor = node("Mul", [node("Sub", [source, const("shift", model.shift)], "centred"),
                          const("scale", model.scale)], "standardised")  # fmt: skip
    for index, layer in enumerate(model.backbone):
        if isinstance(layer, torch.nn.Linear):
            tensor = gemm(tensor, layer, f"l{index}")
        else:
            tensor = node("Relu", [tensor], f"r{index}")
    upper, lower = gemm("X", model.upper, "upper"), gemm("X", model.lower, "lower")
    clipped = node("Max", [node("Min", [tensor, upper], "below"), lower], "clip")
    output = gemm(clipped, model.head, "head")
    if model.outside is not None:
        b = switch_threshold(model.region) if precision == "float32" else model.region_b
        excess = node("Gemm", ["X", const("A", model.region_A), const("minus_b", -np.asarray(b))],
                      "excess", transB=1)  # fmt: skip
        worst = node("ReduceMax", [excess], "worst", axes=[1], keepdims=1)
        inside = node("LessOrEqual", [worst, const("zero", np.zeros(1))], "inside")
        output = node("Where", [inside, output, gemm(tensor, model.outside, "outside")], "switch")
    if model.level is not None:
        output = node("Add", [output, "level"], "relevel")
    nodes.append(helper.make_node("Identity", [output], ["Y"]))
    element = onnx.TensorProto.FLOAT if precision == "float32" else onnx.TensorProto.DOUBLE
    shapes = (["N", int(model.shift.shape[0])], ["N", int(model.head.out_features)])
    inputs = [helper.make_tensor_value_info("X", element, shapes[0])]
    outputs = [helper.make_tensor_value_info("Y", element, shapes[1])]
    graph = helper.make_graph(nodes, "where", inputs, outputs, inits)
    model_proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model_proto.ir_version = 8
    return model_proto
