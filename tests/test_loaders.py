"""Network files: they compute what onnxruntime does, round-trip exactly, refuse bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import random_network
from onnx import TensorProto, helper, numpy_helper

from nnv.core import InputError, UnsupportedError
from nnv.core.plugin.registry import default_registry
from nnv.plugins.loaders.onnx_format import OnnxSaver

ACAS = [(i, j) for i in range(1, 6) for j in range(1, 10)]
SUFFIXES = [".onnx", ".json", ".nnet"]


def run_onnxruntime(path: Path, inputs: np.ndarray) -> np.ndarray:
    """onnxruntime's outputs, one input at a time (the files fix the batch size at 1)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (feed,) = session.get_inputs()
    dtype = np.float64 if feed.type == "tensor(double)" else np.float32
    rows = [session.run(None, {feed.name: x.reshape(feed.shape).astype(dtype)})[0] for x in inputs]
    return np.concatenate([row.reshape(1, -1) for row in rows]).astype(np.float64)


def assert_agrees_with_onnxruntime(path: Path, inputs: np.ndarray, tol: float) -> None:
    network = default_registry().load_network(path)
    expected = run_onnxruntime(path, inputs)
    np.testing.assert_allclose(network.forward(inputs), expected, rtol=tol, atol=tol)


def float32_points(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Random inputs that float32 holds exactly, so both sides see the same numbers."""
    return rng.uniform(low, high, (100, len(low))).astype(np.float32).astype(np.float64)


# -- the benchmark networks agree with onnxruntime -----------------------------------------------


@pytest.mark.parametrize(("i", "j"), ACAS, ids=[f"{i}_{j}" for i, j in ACAS])
def test_acasxu_networks_match_onnxruntime(acasxu: Path, i: int, j: int) -> None:
    path = acasxu / f"ACASXU_run2a_{i}_{j}_batch_2000.onnx"
    network = default_registry().load_network(path)
    assert network.shape == (5, 50, 50, 50, 50, 50, 50, 5)
    inputs = float32_points(np.random.default_rng(i * 10 + j), np.full(5, -0.5), np.full(5, 0.5))
    assert_agrees_with_onnxruntime(path, inputs, 1e-5)


@pytest.mark.parametrize(
    ("name", "shape"), [("xor_a", (2, 4, 2)), ("xor_b", (2, 4, 2)), ("blobs", (2, 10, 10, 2))]
)
def test_nnsynth_models_match_onnxruntime(nnsynth: Path, name: str, shape: tuple[int]) -> None:
    path = nnsynth / name / "model.onnx"
    assert default_registry().load_network(path).shape == shape
    with np.load(nnsynth / name / "data.npz") as data:
        X = data["X_test"][:50]
    rng = np.random.default_rng(0)
    inputs = np.vstack([X, float32_points(rng, X.min(0) - 1, X.max(0) + 1)[:50]])
    assert_agrees_with_onnxruntime(path, inputs.astype(np.float32).astype(np.float64), 1e-5)


# -- exact round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("shape", [(2, 4, 2), (5, 50, 50, 5), (3, 1), (1, 3, 3, 1)])
def test_round_trip_is_exact(tmp_path: Path, suffix: str, shape: tuple[int, ...]) -> None:
    network = random_network(np.random.default_rng(len(shape)), shape)
    path = tmp_path / f"net{suffix}"
    default_registry().save_network(network, path)
    assert default_registry().load_network(path) == network
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left behind


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_acasxu_round_trip_is_exact(acasxu: Path, tmp_path: Path, suffix: str) -> None:
    registry = default_registry()
    network = registry.load_network(acasxu / "ACASXU_run2a_1_1_batch_2000.onnx")
    registry.save_network(network, tmp_path / f"acas{suffix}")
    assert registry.load_network(tmp_path / f"acas{suffix}") == network


def test_saved_onnx_runs_in_onnxruntime(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    network = random_network(rng, (4, 16, 8, 3))
    path = tmp_path / "net.onnx"
    default_registry().save_network(network, path)
    onnx.checker.check_model(onnx.load(path))
    inputs = rng.normal(size=(20, 4))
    np.testing.assert_allclose(
        run_onnxruntime(path, inputs), network.forward(inputs), rtol=1e-9, atol=1e-9
    )


def test_float32_onnx_saver_for_runtimes_without_double(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    network = random_network(rng, (3, 6, 2))
    path = tmp_path / "net32.onnx"
    OnnxSaver(dtype="float32").save(network, path)
    loaded = default_registry().load_network(path)
    np.testing.assert_allclose(loaded.layers[0].weight, network.layers[0].weight, rtol=1e-7)
    inputs = rng.normal(size=(10, 3)).astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(
        run_onnxruntime(path, inputs), loaded.forward(inputs), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(InputError, match="dtype"):
        OnnxSaver(dtype="int8")


def test_nnet_text_layout(tmp_path: Path) -> None:
    """The header other .nnet tools expect: sizes, symmetric flag, four normalisation lines."""
    network = random_network(np.random.default_rng(5), (3, 4, 2))
    path = tmp_path / "net.nnet"
    default_registry().save_network(network, path)
    lines = [line for line in path.read_text().splitlines() if not line.startswith("//")]
    assert lines[:3] == ["2,3,2,4,", "3,4,2,", "0,"]
    assert lines[5:7] == ["0.0,0.0,0.0,0.0,", "1.0,1.0,1.0,1.0,"]
    assert len(lines) == 7 + (4 + 4) + (2 + 2)  # header, then weight rows and biases per layer


# -- ONNX operators beyond Gemm + Relu -----------------------------------------------------------


def _tensor(name: str, value: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=np.float64), name)


def _every_supported_operator(rng: np.random.Generator) -> onnx.ModelProto:
    """One chain through each operator the loader folds, ending with a Relu (float64)."""
    W1, b1 = rng.normal(size=(3, 4)), rng.normal(size=4)
    W2, C2, c3 = rng.normal(size=(4, 5)), rng.normal(size=5), rng.normal(size=(1, 5))
    W3, C3 = rng.normal(size=(2, 5)), rng.normal(size=2)
    nodes = [
        helper.make_node("Constant", [], ["shift"], value=_tensor("v", rng.normal(size=(1, 3)))),
        helper.make_node("Sub", ["X", "shift"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "W1"], ["m"]),
        helper.make_node("Add", ["b1", "m"], ["z1"]),
        helper.make_node("Relu", ["z1"], ["a1"]),
        helper.make_node("Identity", ["a1"], ["i1"]),
        helper.make_node("Gemm", ["i1", "W2", "C2"], ["g"], alpha=0.5, beta=2.0),
        helper.make_node("Add", ["g", "c3"], ["z2"]),
        helper.make_node("Relu", ["z2"], ["a2"]),
        helper.make_node("Flatten", ["a2"], ["f"], axis=1),
        helper.make_node("Sub", ["c3", "f"], ["n"]),
        helper.make_node("Gemm", ["n", "W3", "C3"], ["z3"], transB=1),
        helper.make_node("Relu", ["z3"], ["Y"]),
    ]
    initializers = [
        _tensor("W1", W1),
        _tensor("b1", b1),
        _tensor("W2", W2),
        _tensor("C2", C2),
        _tensor("c3", c3),
        _tensor("W3", W3),
        _tensor("C3", C3),
        numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "ops",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [1, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, [1, 2])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_affine_operators_are_folded_exactly_as_onnxruntime_computes(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    path = tmp_path / "ops.onnx"
    onnx.save(_every_supported_operator(rng), path)
    network = default_registry().load_network(path)
    assert network.shape == (3, 4, 5, 2, 2)  # the final Relu gets an identity last layer
    assert np.array_equal(network.layers[-1].weight, np.eye(2))
    assert_agrees_with_onnxruntime(path, rng.normal(size=(50, 3)), 1e-12)


def _single_node_model(tmp_path: Path, op: str) -> Path:
    node = helper.make_node(op, ["X", "W"] if op == "PRelu" else ["X"], ["Y"], name=f"my{op}")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(np.ones(2, dtype=np.float32), "W")],
    )
    path = tmp_path / f"{op}.onnx"
    onnx.save(helper.make_model(graph), path)
    return path


@pytest.mark.parametrize("op", ["PRelu", "Sigmoid"])
def test_unsupported_operator_is_named(tmp_path: Path, op: str) -> None:
    with pytest.raises(UnsupportedError, match=f"unsupported ONNX operator '{op}' .*'my{op}'"):
        default_registry().load_network(_single_node_model(tmp_path, op))


def test_branching_graph_is_refused(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["X"], ["a"]), helper.make_node("Add", ["a", "X"], ["Y"])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
    )
    path = tmp_path / "branch.onnx"
    onnx.save(helper.make_model(graph), path)
    with pytest.raises(UnsupportedError, match="branch.onnx"):
        default_registry().load_network(path)


def test_truncated_onnx_is_an_input_error(tmp_path: Path) -> None:
    whole = tmp_path / "whole.onnx"
    default_registry().save_network(random_network(np.random.default_rng(7), (2, 4, 2)), whole)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated.onnx"):
        default_registry().load_network(truncated)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="no graph"):
        default_registry().load_network(empty)


# -- bad JSON and .nnet --------------------------------------------------------------------------


def _document(layers: object, **fields: object) -> str:
    return json.dumps({"format": "nnv-network", "version": 1, "layers": layers, **fields})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (_document([{"weight": [[float("nan"), 1.0]], "bias": [0.0]}]), "NaN"),
        (_document([{"weight": [[1.0]], "bias": [0.0]}]).replace("1.0", "1e400"), "infinite"),
        (_document([{"weight": [[1.0, 2.0], [3.0]], "bias": [0.0, 0.0]}]), "ragged"),
        (_document([{"weight": [["1.0"]], "bias": [0.0]}]), "rows of numbers"),
        (_document([{"weight": [[1.0]]}]), "'bias'"),
        (_document([]), "non-empty"),
        (_document([{"weight": [[1.0]], "bias": [0.0]}], version=2), "version"),
        (
            _document(
                [{"weight": [[1.0, 1.0]], "bias": [0.0]}, {"weight": [[1.0, 1.0]], "bias": [0.0]}]
            ),
            "2 inputs",
        ),
        ('{"format": "something else"}', "not an nnv network"),
        ('{"format": ', "not valid JSON"),
    ],
)
def test_bad_json_is_one_clear_input_error(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError, match=fragment) as raised:
        default_registry().load_network(path)
    assert str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)


def test_truncated_nnet_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "net.nnet"
    default_registry().save_network(random_network(np.random.default_rng(8), (2, 3, 2)), path)
    path.write_text("\n".join(path.read_text().splitlines()[:-2]))
    with pytest.raises(InputError, match="expected 17 weights and biases, found 15"):
        default_registry().load_network(path)


# -- PyTorch, in memory --------------------------------------------------------------------------


def test_torch_round_trip() -> None:
    torch = pytest.importorskip("torch")
    from nnv.core.model.torch_bridge import from_sequential, to_sequential

    rng = np.random.default_rng(9)
    network = random_network(rng, (3, 8, 8, 2))
    module = to_sequential(network)
    inputs = rng.normal(size=(20, 3))
    with torch.no_grad():
        outputs = module(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(outputs, network.forward(inputs), rtol=1e-12, atol=1e-12)
    assert from_sequential(module) == network


def test_torch_models_outside_the_subset_are_refused() -> None:
    torch = pytest.importorskip("torch")
    from nnv.core.model.torch_bridge import from_sequential

    nn = torch.nn
    ends_with_relu = from_sequential(nn.Sequential(nn.Flatten(), nn.Linear(2, 3), nn.ReLU()))
    assert ends_with_relu.shape == (2, 3, 3)
    assert np.array_equal(ends_with_relu.layers[-1].weight, np.eye(3))
    with pytest.raises(UnsupportedError, match="Sigmoid"):
        from_sequential(nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1)))
    with pytest.raises(UnsupportedError, match="without a ReLU"):
        from_sequential(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))
    with pytest.raises(InputError, match="Sequential"):
        from_sequential(nn.Linear(2, 3))
