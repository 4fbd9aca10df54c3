"""Files in the input's precision: a float32 ONNX file loads as a float32 network, a repaired
network is rounded to float32 and written so, and what is read back (by nnv and by
onnxruntime) is exactly the network nnv holds, so what is certified is what users run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from test_run import EXAMPLE

from nnv.core import InputError, Network
from nnv.core.plugin.registry import default_registry


def test_an_acasxu_file_is_float32_and_a_change_is_rounded_to_it(
    acasxu: Path, tmp_path: Path
) -> None:
    registry = default_registry()
    network = registry.load_network(acasxu / "ACASXU_run2a_2_9_batch_2000.onnx")
    assert network.precision == "float32"
    moved = network.with_parameters({"w7.2.30": network.parameter("w7.2.30") + 1e-9 / 3})
    value = moved.parameter("w7.2.30")
    assert value == float(np.float32(value))  # held as a float32 value
    path = tmp_path / "moved.onnx"
    registry.save_network(moved, path)
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert registry.load_network(path) == moved
    X = np.random.default_rng(0).uniform(-0.5, 0.5, (64, 5))
    session = ort.InferenceSession(str(path))
    ours = moved.forward(X)
    for row, expected in zip(X, ours, strict=True):
        got = session.run(None, {"X": row[None, :].astype(np.float32)})[0][0]
        assert np.allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_float64_file_stays_float64(tmp_path: Path) -> None:
    registry = default_registry()
    network = registry.load_network(EXAMPLE / "network.onnx")
    assert network.precision == "float64"
    registry.save_network(network, tmp_path / "same.onnx")
    assert registry.load_network(tmp_path / "same.onnx") == network


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(InputError, match="precision must be one of"):
        Network([(np.eye(2), np.zeros(2))], "float16")
