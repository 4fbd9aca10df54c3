"""ONNX operator lowering: one small graph per operator and variant, in float32 and float64,
computes what onnxruntime computes."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_graphs import Graph, disagreement, load

Build = Callable[[Graph, np.random.Generator], None]
CASES: dict[str, tuple[list, int, Build]] = {}  # name: (input shape, opset, build)


def case(name: str, shape: list, opset: int = 17) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        CASES[name] = (shape, opset, build)
        return build

    return register


def _head(g: Graph, rng: np.random.Generator, size: int, outputs: int = 3) -> None:
    """Flatten, Relu, then a dense output layer: every case ends the same way."""
    g.op("Flatten", "$")
    g.op("Relu", "$")
    g.op("Gemm", "$", g.random(rng, outputs, size), g.random(rng, outputs), transB=1)


@case("normalise", [1, 2, 3, 3])
def _normalise(g: Graph, rng: np.random.Generator) -> None:
    g.op("Sub", "$", g.const(rng.normal(size=(1, 2, 1, 1))))
    g.op("Div", "$", g.const(rng.uniform(0.5, 2, size=(1, 2, 1, 1))))
    _head(g, rng, 18)


@case("arithmetic-both-orders", [1, 4])
def _arithmetic(g: Graph, rng: np.random.Generator) -> None:
    g.op("Mul", g.random(rng, 4), "$")
    g.op("Mul", "$", g.random(rng, 1, 4))
    g.op("Add", g.random(rng, 4), "$")
    g.op("Sub", g.random(rng, 1, 4), "$")  # c - x
    g.op("Sub", "$", g.random(rng, 4))
    g.op("Div", "$", g.const(2.5))
    _head(g, rng, 4)


for name, attributes in {
    "conv": dict(strides=[2, 2], pads=[1, 1, 1, 1]),
    "conv-dilated-asymmetric-pads": dict(dilations=[2, 2], pads=[2, 1, 0, 1]),
    "conv-same-upper": dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    "conv-same-lower": dict(auto_pad="SAME_LOWER", strides=[2, 1]),
    "conv-valid": dict(auto_pad="VALID", strides=[1, 2]),
}.items():

    @case(name, [1, 2, 7, 6])
    def _conv(g: Graph, rng: np.random.Generator, attributes: dict = attributes) -> None:
        weight, bias = g.random(rng, 4, 2, 3, 3), g.random(rng, 4)
        conv = g.op("Conv", "$", weight, bias, **attributes)
        g.op("Relu", conv)
        g.op("Conv", "$", g.random(rng, 3, 4, 2, 2))  # no bias
        g.op("Flatten", "$")
        size = load_shape(g)
        g.op("Gemm", "$", g.random(rng, 3, size), g.random(rng, 3), transB=1)


def load_shape(g: Graph) -> int:
    """The size of the last tensor so far, by onnx shape inference."""
    model = g.model()
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("Y", TensorProto.UNDEFINED, None))
    inferred = onnx.shape_inference.infer_shapes(model)
    for value in [*inferred.graph.value_info, *inferred.graph.output]:
        if value.name == "Y":
            return int(np.prod([d.dim_value for d in value.type.tensor_type.shape.dim]))
    raise AssertionError("no shape")


@case("conv-groups", [1, 4, 5, 5])
def _groups(g: Graph, rng: np.random.Generator) -> None:
    g.op("Conv", "$", g.random(rng, 6, 2, 3, 3), g.random(rng, 6), group=2, pads=[1, 1, 1, 1])
    _head(g, rng, 150)


@case("conv-1d", [1, 2, 9])
def _conv1d(g: Graph, rng: np.random.Generator) -> None:
    g.op("Conv", "$", g.random(rng, 3, 2, 3), g.random(rng, 3), strides=[2])
    _head(g, rng, 12)


@case("conv-3d", [1, 1, 4, 4, 4])
def _conv3d(g: Graph, rng: np.random.Generator) -> None:
    g.op("Conv", "$", g.random(rng, 2, 1, 2, 2, 2), g.random(rng, 2))
    _head(g, rng, 54)


@case("batch-normalization", [1, 3, 4, 4])
def _batchnorm(g: Graph, rng: np.random.Generator) -> None:
    g.op("Conv", "$", g.random(rng, 2, 3, 3, 3), pads=[1, 1, 1, 1])
    g.op(
        "BatchNormalization",
        "$",
        g.random(rng, 2),
        g.random(rng, 2),
        g.random(rng, 2),
        g.const(rng.uniform(0.5, 2, 2)),
        epsilon=1e-3,
    )
    _head(g, rng, 32)


@case("dropout-opset-12", [1, 5], opset=12)
def _dropout12(g: Graph, rng: np.random.Generator) -> None:
    g.op("Gemm", "$", g.random(rng, 6, 5), g.random(rng, 6), transB=1)
    g.op("Relu", "$")
    g.op("Dropout", "$", g.const(0.5))
    g.op("Gemm", "$", g.random(rng, 2, 6), transB=1)


@case("dropout-opset-8", [1, 5], opset=8)
def _dropout8(g: Graph, rng: np.random.Generator) -> None:
    g.op("Gemm", "$", g.random(rng, 6, 5), g.random(rng, 6), transB=1)
    g.op("Relu", "$")
    g.op("Dropout", "$", ratio=0.3)
    g.op("Gemm", "$", g.random(rng, 2, 6), g.random(rng, 2), transB=1)


for mode, pads, value in [
    ("constant", [0, 0, 1, 2, 0, 0, 2, 1], 0.0),
    ("constant", [0, 0, -1, 1, 0, 0, 1, -2], 0.75),  # negative pads crop
    ("reflect", [0, 0, 1, 2, 0, 0, 2, 1], 0.0),
    ("edge", [0, 0, 2, 0, 0, 0, 1, 3], 0.0),
    ("wrap", [0, 0, 1, 2, 0, 0, 3, 1], 0.0),
]:

    @case(f"pad-{mode}-{value}-{pads[2]}", [1, 2, 4, 4], opset=19 if mode == "wrap" else 17)
    def _pad(g: Graph, rng: np.random.Generator, mode=mode, pads=pads, value=value) -> None:
        g.op("Pad", "$", g.const(pads, integer=True), g.const(value), mode=mode)
        size = 2 * (4 + pads[2] + pads[6]) * (4 + pads[3] + pads[7])
        _head(g, rng, size)


@case("pad-opset-10", [1, 2, 3, 3], opset=10)
def _pad10(g: Graph, rng: np.random.Generator) -> None:
    g.op("Relu", "$")
    g.op("Pad", "$", pads=[0, 0, 0, 0, 0, 0, 0, 0], mode="constant")  # verivital's no-op Pad
    g.op("Pad", "$", pads=[0, 0, 1, 0, 0, 0, 0, 1], value=-1.5)
    _head(g, rng, 32)


for name, attributes in {
    "average-pool": dict(kernel_shape=[2, 2], strides=[2, 2]),
    "average-pool-pads": dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "average-pool-count-pads": dict(kernel_shape=[3, 3], pads=[1, 0, 1, 2], count_include_pad=1),
    "average-pool-ceil": dict(kernel_shape=[2, 3], strides=[2, 2], ceil_mode=1),
    "max-pool": dict(kernel_shape=[2, 2], strides=[2, 2]),
    "max-pool-3x3-pads": dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "max-pool-ceil": dict(kernel_shape=[3, 2], strides=[2, 2], ceil_mode=1),
    "max-pool-dilated": dict(kernel_shape=[2, 2], dilations=[2, 2]),
    "max-pool-same": dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
}.items():
    for after_relu in (True, False):  # values known >= 0, or not

        @case(f"{name}{'-after-relu' if after_relu else ''}", [1, 2, 7, 6])
        def _pool(
            g: Graph,
            rng: np.random.Generator,
            name=name,
            attributes=attributes,
            after_relu=after_relu,
        ) -> None:
            g.op("Conv", "$", g.random(rng, 3, 2, 2, 2), g.random(rng, 3))  # (1, 3, 6, 5)
            if after_relu:
                g.op("Relu", "$")
            g.op("AveragePool" if name.startswith("average") else "MaxPool", "$", **attributes)
            g.op("Flatten", "$")
            g.op("Gemm", "$", g.random(rng, 3, load_shape(g)), g.random(rng, 3), transB=1)


@case("max-pool-1d", [1, 2, 9])
def _maxpool1d(g: Graph, rng: np.random.Generator) -> None:
    g.op("MaxPool", "$", kernel_shape=[4], strides=[3])
    _head(g, rng, 4)


@case("transpose", [1, 2, 3, 4])
def _transpose(g: Graph, rng: np.random.Generator) -> None:
    g.op("Transpose", "$", perm=[0, 2, 3, 1])
    g.op("Mul", "$", g.random(rng, 2))  # broadcast along the new last axis
    _head(g, rng, 24)


@case("concat", [1, 3])
def _concat(g: Graph, rng: np.random.Generator) -> None:
    first = g.op("Gemm", "X", g.random(rng, 4, 3), g.random(rng, 4), transB=1)
    second = g.op("MatMul", "X", g.random(rng, 3, 2))
    g.op("Concat", first, g.random(rng, 1, 2), second, axis=1)
    _head(g, rng, 8)


@case("concat-images", [1, 2, 3, 3])
def _concat_images(g: Graph, rng: np.random.Generator) -> None:
    conv = g.op("Conv", "X", g.random(rng, 2, 2, 1, 1))
    g.op("Concat", "X", conv, axis=3)
    _head(g, rng, 36)


for opset in (11, 13):

    @case(f"squeeze-unsqueeze-opset-{opset}", [1, 3, 1, 2], opset=opset)
    def _squeeze(g: Graph, rng: np.random.Generator, opset: int = opset) -> None:
        if opset < 13:
            g.op("Squeeze", "$", axes=[2])
            g.op("Unsqueeze", "$", axes=[0, -1])
            g.op("Squeeze", "$")  # every axis of size 1: (3, 2)
            g.op("Unsqueeze", "$", axes=[0])
        else:
            g.op("Squeeze", "$", g.const([2], integer=True))
            g.op("Unsqueeze", "$", g.const([0, -1], integer=True))
            g.op("Squeeze", "$")
            g.op("Unsqueeze", "$", g.const([0], integer=True))
        _head(g, rng, 6)


@case("reshape-flatten", [1, 2, 3, 4])
def _reshape(g: Graph, rng: np.random.Generator) -> None:
    g.op("Reshape", "$", g.const([0, -1, 2], integer=True))  # (1, 12, 2)
    g.op("Flatten", "$", axis=2)  # (12, 2)
    g.op("Reshape", "$", g.const([1, 24], integer=True))
    _head(g, rng, 24)


@case("constant-identity", [1, 3])
def _constant(g: Graph, rng: np.random.Generator) -> None:
    value = numpy_helper.from_array(rng.normal(size=3).astype(g.dtype))
    offset = g.op("Constant", value=value)
    g.op("Identity", "X")
    g.op("Add", "$", offset)
    _head(g, rng, 3)


@case("gemm-transposes", [1, 4])
def _gemm(g: Graph, rng: np.random.Generator) -> None:
    g.op("Gemm", "$", g.random(rng, 1, 5), g.random(rng, 5), transA=1, alpha=0.5, beta=2.0)
    g.op("Relu", "$")  # x^T (4, 1) times (1, 5): (4, 5)
    g.op("Gemm", g.random(rng, 3, 4), "$", g.random(rng, 3, 1), alpha=1.5)  # constant @ x
    g.op("Gemm", g.random(rng, 5, 2), "$", transA=1, transB=1)  # (2, 5) @ (5, 3)
    g.op("Gemm", "$", g.random(rng, 4, 3), g.random(rng, 2, 4), transB=1)  # (2, 4)


@case("matmul-either-side", [1, 3, 4])
def _matmul(g: Graph, rng: np.random.Generator) -> None:
    g.op("MatMul", "$", g.random(rng, 4, 5))  # (1, 3, 5)
    g.op("Relu", "$")
    g.op("MatMul", g.random(rng, 2, 3), "$")  # (1, 2, 5)
    g.op("MatMul", g.random(rng, 2), "$")  # (1, 5)
    g.op("MatMul", "$", g.random(rng, 5))  # (1,)


@case("symbolic-batch", ["N", 3])
def _symbolic(g: Graph, rng: np.random.Generator) -> None:
    g.op("MatMul", "$", g.random(rng, 3, 4))
    g.op("Add", "$", g.random(rng, 4))
    g.op("Relu", "$")
    g.op("MatMul", "$", g.random(rng, 4, 2))


@case("shape-arithmetic", ["N", 2, 3])
def _shape(g: Graph, rng: np.random.Generator) -> None:
    g.op("Relu", "$")
    relu = g.last
    g.op("Shape", "X")
    g.op("Gather", "$", g.const(0, integer=True), axis=0)
    g.op("Unsqueeze", "$", g.const([0], integer=True))
    g.op("Concat", "$", g.const([-1], integer=True), axis=0)
    g.op("Reshape", relu, "$")
    g.op("Gemm", "$", g.random(rng, 2, 6), g.random(rng, 2), transB=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_operator_agrees_with_onnxruntime(tmp_path: Path, name: str, dtype: type) -> None:
    shape, opset, build = CASES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    graph = Graph(shape, dtype, opset)
    build(graph, rng)
    path = graph.save(tmp_path / f"{name}.onnx")
    network = load(path)
    inputs = rng.normal(size=(40, network.n_inputs)).astype(dtype).astype(np.float64)
    assert disagreement(network, path, inputs) <= (1e-5 if dtype == np.float32 else 1e-10)
