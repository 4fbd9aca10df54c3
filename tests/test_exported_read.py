"""onnxruntime reads every model nnv exports as nnv computes it: ``nnv run``'s repaired.onnx,
the Python API's ``RepairResult.to_onnx`` and ``TrainingResult.to_onnx``. (Marabou's half is
benchmarks/exported_read.py: maraboupy is optional.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime

import nnv
from nnv.core.model.dataset import Dataset

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
XOR = EXAMPLES / "xor"
TOY = EXAMPLES / "smle_toy"


def _run(path: Path, X: np.ndarray) -> np.ndarray:
    """The file's outputs on ``X`` through onnxruntime, fed in the file's own precision."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    dtype = np.float64 if "double" in feed.type else np.float32
    if feed.shape[0] != 1:
        return np.asarray(session.run(None, {feed.name: X.astype(dtype)})[0])
    # the repair's saver writes X [1, n]: a batch of one, so one point at a time
    rows = [session.run(None, {feed.name: x.astype(dtype)[None, :]})[0][0] for x in X]
    return np.asarray(rows)


def test_repaired_files_run_in_onnxruntime_as_the_certified_network(tmp_path: Path) -> None:
    fixed = nnv.repair(XOR / "network.onnx", XOR / "robust_violated.vnnlib", XOR / "data.npz",
                       free=["w2.1.8", "w2.2.8"], workers=1, out=tmp_path / "run")  # fmt: skip
    assert fixed.status == "repaired" and fixed.network is not None
    X = Dataset.load(XOR / "data.npz").splits["test"][0]
    expected = fixed.network.forward(X)
    original = nnv.load_network(XOR / "network.onnx").forward(X)
    for path in (tmp_path / "run" / "repaired.onnx", fixed.to_onnx(tmp_path / "api.onnx")):
        onnx.checker.check_model(onnx.load(str(path)))
        outputs = _run(path, X)
        np.testing.assert_allclose(outputs, expected, rtol=0, atol=1e-12)
        assert np.abs(outputs - original).max() > 1e-3  # the file holds the change


def test_a_trained_model_runs_in_onnxruntime_and_meets_its_property(tmp_path: Path) -> None:
    trained = nnv.train(TOY / "data.npz", property_file=TOY / "properties.json",
                        property_name="sum_capped", epochs=2, samples=2000)  # fmt: skip
    assert trained.certified
    path = trained.to_onnx(tmp_path / "model.onnx")
    onnx.checker.check_model(onnx.load(str(path)))
    with np.load(TOY / "data.npz") as arrays:
        X = np.asarray(arrays["x_test"], dtype=np.float64)
    outputs = _run(path, X)
    assert outputs.shape == (X.shape[0], 2) and np.isfinite(outputs).all()
    np.testing.assert_allclose(outputs, trained.predict(X), rtol=0, atol=0)
    # the property, read from its file: inputs in [0.5, 1.5]^2 give y0 + y1 <= 0.5, y0 >= -1
    spec = json.loads((TOY / "properties.json").read_text())[0]
    inside = np.random.default_rng(0).uniform(0.5, 1.5, (2000, 2))
    A, b = np.array(spec["input"]["A"]), np.array(spec["input"]["b"])
    assert (inside @ A.T <= b).all()
    C, d = np.array(spec["output"]["A"]), np.array(spec["output"]["b"])
    assert (_run(path, inside) @ C.T <= d + 1e-9).all()
