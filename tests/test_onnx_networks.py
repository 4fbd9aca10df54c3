"""Whole ONNX networks: the VNN-COMP networks agree with onnxruntime inside their properties'
boxes; lowered networks have the layers they should; bounds contain the outputs of every new
operator; what cannot be lowered is one line naming it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_helpers import assert_bad_input, nnv
from onnx import TensorProto, helper, numpy_helper
from onnx_graphs import Graph, disagreement, load, onnxruntime_outputs

from nnv.core import Network, UnsupportedError
from nnv.core.bounds.batched import batch_bounds
from nnv.core.bounds.symbolic import interval_bounds, symbolic_bounds
from nnv.core.plugin.registry import default_registry
from nnv.plugins.loaders import onnx_tensors

VNNCOMP = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "vnncomp"


def _vnncomp_networks() -> dict[str, list[str]]:
    """Each VNN-COMP network, with the property files it is paired with."""
    if not (VNNCOMP / "instances.csv").is_file():
        return {"absent": []}  # the shared fixture below skips (or fails under CI)
    with open(VNNCOMP / "instances.csv", newline="") as handle:
        pairs: dict[str, list[str]] = {}
        for row in csv.DictReader(handle):
            pairs.setdefault(row["onnx"], [])
            if row["vnnlib"] not in pairs[row["onnx"]]:
                pairs[row["onnx"]].append(row["vnnlib"])
    return pairs


NETWORKS = _vnncomp_networks()


@pytest.mark.parametrize("network", sorted(NETWORKS), ids=lambda n: Path(n).stem)
def test_vnncomp_network_agrees_with_onnxruntime(shared: Path, network: str) -> None:
    """Within 1e-5 of onnxruntime (relative to 1 + |output|) at random float32 points of
    every property box the network is verified against."""
    net = load(shared / "vnncomp" / network)
    rng = np.random.default_rng(0)
    points = []
    for name in NETWORKS[network]:
        prop = default_registry().load_property(shared / "vnncomp" / name)
        for piece in prop.pieces:
            inside = rng.uniform(piece.lower, piece.upper, (8, prop.n_inputs))
            points.append(np.clip(inside.astype(np.float32), piece.lower, piece.upper))
    assert disagreement(net, shared / "vnncomp" / network, np.vstack(points)) <= 1e-5


@pytest.mark.parametrize(
    ("network", "shape", "sparse"),
    [
        ("verivital/onnx/Convnet_maxpool.onnx", (784, 23328, 18432, 9216, 4608, 2304, 10), 5),
        ("verivital/onnx/Convnet_avgpool.onnx", (784, 23328, 10), 1),
        ("oval21/onnx/cifar_base_kw.onnx", (3072, 2048, 1024, 100, 10), 2),
        ("eran/onnx/mnist_relu_9_200.onnx", (784, *[200] * 8, 10, 10), 0),
    ],
)
def test_vnncomp_layers(shared: Path, network: str, shape: tuple[int, ...], sparse: int) -> None:
    """A 4 x 4 MaxPool after a Relu is four ReLU layers (its first has a neuron per pair and
    one per value passed through: 1152 windows x (8 + 8)); convolutions stay sparse."""
    net = load(shared / "vnncomp" / network)
    assert net.shape == shape
    assert sum(layer.is_sparse for layer in net.layers) == sparse


# -- structure -------------------------------------------------------------------------------


def _pool_net(tmp_path: Path, after_relu: bool, dtype: type = np.float32) -> Path:
    g = Graph([1, 1, 4, 4], dtype)
    if after_relu:
        g.op("Relu", "$")
    g.op("MaxPool", "$", kernel_shape=[2, 2], strides=[2, 2])
    g.op("Flatten", "$")
    return g.save(tmp_path / f"pool{after_relu}.onnx")


def test_max_pool_passes_known_nonnegative_values_through_once(tmp_path: Path) -> None:
    # 4 windows of 4: level 1 has 2 differences and 2 values passed per window, level 2 one
    # difference and one value; a value of unknown sign needs two neurons, relu(v), relu(-v)
    assert load(_pool_net(tmp_path, True)).shape == (16, 16, 16, 8, 4)
    assert load(_pool_net(tmp_path, False)).shape == (16, 24, 12, 4)


def test_consecutive_affine_maps_are_one_layer(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    g = Graph(["N", 3])
    g.op("Gemm", "$", g.random(rng, 5, 3), g.random(rng, 5), transB=1)
    g.op("MatMul", "$", g.random(rng, 5, 4))
    g.op("Div", "$", g.const(2.0))
    g.op("Relu", "$")
    g.op("Gemm", "$", g.random(rng, 2, 4), transB=1)
    path = g.save(tmp_path / "composed.onnx")
    assert load(path).shape == (3, 4, 2)
    assert disagreement(load(path), path, rng.normal(size=(20, 3))) <= 1e-5


def test_graph_inputs_that_are_initializers_are_constants(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    weight = numpy_helper.from_array(rng.normal(size=(2, 1, 2, 2)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["X", "W"], ["Y"])],
        "opset8",
        [
            helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 1, 3, 3]),
            helper.make_tensor_value_info("W", TensorProto.FLOAT, [2, 1, 2, 2]),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [weight],
    )
    path = tmp_path / "opset8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)]), path)
    assert load(path).shape == (9, 8)
    assert disagreement(load(path), path, rng.normal(size=(10, 9))) <= 1e-5


def _conv_pool_net(tmp_path: Path, dtype: type = np.float32) -> Path:
    """Every new operator in one network: normalisation, Conv, BatchNormalization, Pad,
    MaxPool, AveragePool, Transpose, Concat, Dropout."""
    rng = np.random.default_rng(2)
    g = Graph([1, 1, 8, 8], dtype)
    g.op("Sub", "$", g.const(0.5))
    g.op("Div", "$", g.const(0.25))
    g.op("Conv", "$", g.random(rng, 3, 1, 3, 3), g.random(rng, 3), pads=[1, 1, 1, 1])
    bn = [g.random(rng, 3), g.random(rng, 3), g.random(rng, 3), g.const(rng.uniform(0.5, 2, 3))]
    g.op("BatchNormalization", "$", *bn)
    g.op("Relu", "$")
    pooled = g.op("MaxPool", "$", kernel_shape=[2, 2], strides=[2, 2])  # (1, 3, 4, 4)
    g.op("Pad", pooled, g.const([0, 0, 1, 1, 0, 0, 1, 1], integer=True), mode="constant")
    averaged = g.op("AveragePool", "$", kernel_shape=[3, 3], strides=[3, 3])  # (1, 3, 2, 2)
    g.op("Transpose", pooled, perm=[0, 1, 3, 2])
    strided = g.op("Conv", "$", g.random(rng, 3, 3, 2, 2), strides=[2, 2])  # (1, 3, 2, 2)
    g.op("Concat", averaged, strided, axis=1)
    g.op("Dropout", "$")
    g.op("Flatten", "$")
    g.op("Relu", "$")
    g.op("Gemm", "$", g.random(rng, 4, 24), g.random(rng, 4), transB=1)
    return g.save(tmp_path / "every.onnx")


@pytest.fixture
def stored_sparse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Layers stored sparse however small, as large convolutions are."""
    monkeypatch.setattr(onnx_tensors, "SMALL", 0)
    monkeypatch.setattr(onnx_tensors, "DENSE_FROM", 1.0)


def test_sparse_storage_computes_the_same(tmp_path: Path, stored_sparse: None) -> None:
    path = _conv_pool_net(tmp_path)
    net = load(path)
    assert all(layer.is_sparse for layer in net.layers[:-1])  # the last: a dense Gemm's
    inputs = np.random.default_rng(3).uniform(0, 1, (30, 64))
    assert disagreement(net, path, inputs) <= 1e-5


def _sampled_pre_activations(net: Network, lower: np.ndarray, upper: np.ndarray) -> list:
    rng = np.random.default_rng(4)
    corners = np.where(rng.uniform(size=(200, lower.size)) < 0.5, lower, upper)
    points = np.vstack([rng.uniform(lower, upper, (2000, lower.size)), corners])
    return net.activations(points)


@pytest.mark.parametrize("storage", ["default", "sparse"])
def test_bounds_contain_the_outputs_of_every_new_operator(
    tmp_path: Path, storage: str, request: pytest.FixtureRequest
) -> None:
    if storage == "sparse":
        request.getfixturevalue("stored_sparse")
    net = load(_conv_pool_net(tmp_path))
    centre = np.random.default_rng(5).uniform(0.2, 0.8, 64)
    lower, upper = centre - 0.05, centre + 0.05
    values = _sampled_pre_activations(net, lower, upper)
    for bounds in (interval_bounds(net, lower, upper), symbolic_bounds(net, lower, upper)):
        for low, high, seen in zip(bounds.lower, bounds.upper, values, strict=True):
            assert np.all(low <= seen.min(axis=0)) and np.all(seen.max(axis=0) <= high)
    C = np.eye(4)[[0, 1]] - np.eye(4)[[2, 3]]
    rows = batch_bounds(net, lower[None], upper[None], C, np.zeros(2)).rows[0]
    assert np.all(rows <= (values[-1] @ C.T).min(axis=0))


# -- refusals --------------------------------------------------------------------------------


def _refused(tmp_path: Path, build: object, fragment: str) -> None:
    g = Graph([1, 2])
    build(g)  # type: ignore[operator]
    with pytest.raises(UnsupportedError, match=fragment):
        load(g.save(tmp_path / "refused.onnx"))


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda g: g.op("Mul", "X", "X"), "'n0' \\(Mul\\): multiplies two tensors"),
        (lambda g: g.op("Div", g.const([1.0, 2.0]), "X"), "divides by a tensor"),
        (lambda g: g.op("Div", "X", g.const([1.0, 0.0])), "divides by zero"),
        (lambda g: g.op("MatMul", "X", "X"), "multiplies two tensors"),
        (lambda g: g.op("Pad", "X", g.const([0, 1, 0, 1], integer=True), mode="bogus"), "'bogus'"),
        (lambda g: g.op("Dropout", "X", g.const(0.5), g.const(True, integer=True)), "training"),
        (lambda g: (g.op("Relu", "X"), g.op("Add", "$", "X")), "no skip connections"),
        (
            lambda g: (g.op("Relu", "X"), g.op("LeakyRelu", "$")),
            "operator 'LeakyRelu' \\(node 'n1'",
        ),
    ],
)
def test_what_is_not_affine_is_refused_by_name(
    tmp_path: Path, build: object, fragment: str
) -> None:
    _refused(tmp_path, build, fragment)


def test_an_unsupported_operator_is_one_line_naming_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    g = Graph([1, 1, 3, 3])
    g.op("Conv", "$", g.random(rng, 2, 1, 2, 2))
    g.op("Softmax", "$")
    path = g.save(tmp_path / "softmax.onnx")
    prop = tmp_path / "box.vnnlib"
    lines = [f"(declare-const X_{i} Real)" for i in range(9)]
    lines += [f"(declare-const Y_{i} Real)" for i in range(8)]
    lines += [f"(assert (>= X_{i} 0))\n(assert (<= X_{i} 1))" for i in range(9)]
    prop.write_text("\n".join([*lines, "(assert (>= Y_0 Y_1))"]) + "\n")
    done = nnv("verify", str(path), str(prop))
    assert_bad_input(done, "unsupported ONNX operator 'Softmax' (node 'n1')")
    assert "softmax.onnx" in done.stderr


def test_float64_graphs_keep_float64_weights(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    g = Graph([1, 3], np.float64)
    weight = rng.normal(size=(2, 3)) / 3
    g.op("Gemm", "$", g.const(weight), transB=1)
    path = g.save(tmp_path / "double.onnx")
    assert np.array_equal(load(path).layers[0].weight, weight)
    x = rng.normal(size=(5, 3))
    np.testing.assert_array_equal(load(path).forward(x), onnxruntime_outputs(path, x))
