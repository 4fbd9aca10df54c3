"""``nnv train``'s file in the precision other tools read: float32 by default, certified as
written (the float32 parameters, float32 arithmetic), never certified when rounding breaks
it, and then the certified float64 file instead, said in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")
import onnx  # noqa: E402
import torch  # noqa: E402
from cli_helpers import nnv  # noqa: E402
from onnx import numpy_helper  # noqa: E402

from nnv.core.plugin.registry import default_registry  # noqa: E402
from nnv.plugins.smle.certify import certify, run_onnx  # noqa: E402
from nnv.plugins.smle.export import export_smle  # noqa: E402
from nnv.plugins.smle.grounding import Head  # noqa: E402
from nnv.plugins.smle.model import SmleNet  # noqa: E402
from nnv.plugins.smle.options import SmleOptions  # noqa: E402
from nnv.plugins.smle.spec import LinearInequalities, Region  # noqa: E402
from nnv.plugins.smle.trainer import SmleTrainer  # noqa: E402

TOY = Path(__file__).resolve().parent.parent / "examples" / "smle_toy"
HIGHS = default_registry().solver("highs")


def _elem_type(path: Path) -> int:
    return onnx.load(str(path)).graph.input[0].type.tensor_type.elem_type


def test_the_default_file_is_float32_and_onnxruntime_agrees_with_the_network(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    done = nnv("train", "--data", str(TOY / "data.npz"), "--property",
               str(TOY / "properties.json"), "--out", str(out), "--epochs", "2",
               "--samples", "2000", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["precision"] == "float32" and result["certified"]
    assert result["settings"]["precision"] == "float32" and "notice" not in result
    model = onnx.load(str(out / "model.onnx"))
    onnx.checker.check_model(model)
    # every float tensor (the Unsqueeze axes are int64 indices)
    floats = {t.data_type for t in model.graph.initializer} - {onnx.TensorProto.INT64}
    assert floats == {onnx.TensorProto.FLOAT}
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    # the same training in float64: the two files compute the same network, to float32's
    # precision, on inputs of the region and outside it
    wide = tmp_path / "wide"
    done = nnv("train", "--data", str(TOY / "data.npz"), "--property",
               str(TOY / "properties.json"), "--out", str(wide), "--epochs", "2",
               "--samples", "2000", "--precision", "float64", "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _elem_type(wide / "model.onnx") == onnx.TensorProto.DOUBLE
    X = np.random.default_rng(0).uniform(-2, 2, size=(5000, 2)).astype(np.float32)
    single = onnxruntime.InferenceSession(str(out / "model.onnx")).run(["Y"], {"X": X})[0]
    double = onnxruntime.InferenceSession(str(wide / "model.onnx")).run(
        ["Y"], {"X": X.astype(np.float64)}
    )[0]
    assert single.dtype == np.float32 and np.allclose(single, double, rtol=0, atol=1e-5)


def test_rounding_that_breaks_the_property_is_never_certified() -> None:
    """A head safe in float64 by the margin whose float32 rounding breaks the property: the
    output 10000.0006 rounds to 10000.0009765625 in float32, above the bound 10000.0008."""
    spec = LinearInequalities(np.ones((1, 1)), np.array([10000.0008]), None)
    model = SmleNet(1, 1, [2], "unit")
    model.set_head(Head(np.zeros((1, 2)), np.array([10000.0006])))
    box = (-np.ones(1), np.ones(1))
    wide = certify(export_smle(model, "float64"), spec, HIGHS, 2000, box)
    assert wide.certified and wide.proof is not None and wide.proof.holds
    single = certify(export_smle(model, "float32"), spec, HIGHS, 2000, box)
    assert not single.certified
    assert single.samples.violations == single.samples.count  # every output breaks it
    assert "float32 rounding can move a constraint" in single.text


def test_float32_is_refused_when_rounding_could_break_it_even_if_it_does_not() -> None:
    """Outputs near 5000 hold a 1000 slack, yet float32 rounding of the head's sum is bounded
    only by about 1e-3, more than the margin: not certified in float32 (the check is a bound,
    not a sample), certified in float64."""
    spec = LinearInequalities(np.ones((1, 1)), np.array([6000.0]), None)
    model = SmleNet(1, 1, [2], "unit")
    model.set_head(Head(np.ones((1, 2)), np.array([5000.0])))
    box = (-np.ones(1), np.ones(1))
    assert certify(export_smle(model, "float64"), spec, HIGHS, 2000, box).certified
    single = certify(export_smle(model, "float32"), spec, HIGHS, 2000, box)
    assert not single.certified and single.proof is None
    assert single.samples.violations == 0


def test_the_float32_switch_sends_every_float32_input_of_the_region_to_the_safe_head() -> None:
    """A region whose A and b are no float32 values (as in the SMLE benchmarks): the float32
    file's switch is widened by what rounding can cost, so inputs on the region's boundary,
    rounded to float32 and still inside, all get the constrained head; the file is
    certified, and the same file with the switch merely rounded to float32 is not."""
    A = np.array([[0.97, -0.4], [0.78, 0.58], [-0.43, -0.35], [1, 0], [0, 1], [-1, 0], [0, -1]])
    region = Region.polytope(A, np.array([0.73, 0.1, 0.1, 2.0, 2.0, 2.0, 2.0]))
    spec = LinearInequalities(np.ones((1, 1)), np.array([0.5]), region)
    model = SmleNet(2, 1, [2], "unit", region)
    model.set_head(Head(np.zeros((1, 2)), np.array([0.25])))  # safe: 0.25 everywhere
    with torch.no_grad():
        model.outside.weight.zero_()
        model.outside.bias.fill_(9.0)  # unsafe, and only off the region
    single = export_smle(model, "float32")
    rng = np.random.default_rng(0)
    points = []
    for row, bound in zip(region.A, region.b, strict=True):  # points on each face
        t = rng.uniform(-3, 3, size=(4000, 1))
        along = np.array([-row[1], row[0]]) / np.linalg.norm(row)
        points.append(row * bound / (row @ row) + t * along)
    X = np.vstack(points).astype(np.float32).astype(np.float64)
    X = X[region.contains(X)]
    assert X.shape[0] > 1000
    assert np.all(run_onnx(single, X) == np.float32(0.25))
    box = (-np.ones(2), np.ones(2))
    assert certify(single, spec, HIGHS, 2000, box).certified
    rounded = onnx.ModelProto()
    rounded.CopyFrom(single)
    for tensor in rounded.graph.initializer:
        if tensor.name == "region.minus_b":
            tensor.CopyFrom(numpy_helper.from_array(-region.b.astype(np.float32), tensor.name))
    bad = certify(rounded, spec, HIGHS, 2000, box)
    assert not bad.certified and "does not pass every input of the region" in bad.text


def test_forecasting_falls_back_to_a_certified_float64_file_and_says_so(
    tmp_path: Path,
) -> None:
    """A forecasting model adds its level (an input with no bound) to every output: nothing
    bounds float32's rounding there, so the float32 file is not certified; nnv train says so
    in one line and writes the float64 file, certified. A float64 request says nothing."""
    values = np.round(10 + np.sin(np.arange(40) / 3) + np.arange(40) / 10, 3)
    rows = ",".join(f"v{i}" for i in range(40))
    data = tmp_path / "series.csv"
    data.write_text(f"id,category,frequency,horizon,period,length,{rows}\n"
                    "A1,Other,1,14,Daily,40," + ",".join(f"{v:g}" for v in values) + "\n")
    out = tmp_path / "run"
    done = nnv("train", "--data", str(data), "--series", "A1", "--out", str(out),
               "--epochs", "2", "--samples", "2000", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0] == (
        "nnv: model.onnx is float64, not float32: float32 rounding of the file's outputs is "
        "not bounded (the property has no bounded input region to bound it with); the "
        "float64 file is certified"
    )
    result = json.loads(done.stdout)
    assert result["certified"] and result["precision"] == "float64" and result["level"] == 7
    assert result["settings"]["precision"] == "float32"  # what was asked
    assert result["notice"] == lines[0].removeprefix("nnv: ")
    assert _elem_type(out / "model.onnx") == onnx.TensorProto.DOUBLE
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    assert session.run(["Y"], {"X": np.ones((3, 8))})[0].shape == (3, 4)
    asked = nnv("train", "--data", str(data), "--series", "A1", "--out", str(tmp_path / "wide"),
                "--epochs", "2", "--samples", "2000", "--json", "--precision", "float64")
    assert asked.returncode == 0 and asked.stderr == ""
    assert "notice" not in json.loads(asked.stdout)


def test_the_estimator_exports_each_precision_it_is_asked_for() -> None:
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(200, 2))
    Y = np.column_stack([X.sum(axis=1), X[:, 0]]) / 4
    spec = LinearInequalities(np.array([[1.0, 1.0]]), np.array([0.5]), None)
    trainer = SmleTrainer(SmleOptions(epochs=1, precision="float64")).fit(X, Y, spec)
    assert trainer.export().graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert trainer.export("float32").graph.initializer[0].data_type == onnx.TensorProto.FLOAT


def test_a_bad_precision_is_bad_input(tmp_path: Path) -> None:
    from cli_helpers import assert_bad_input

    done = nnv("train", "--data", str(TOY / "data.npz"), "--property",
               str(TOY / "properties.json"), "--out", str(tmp_path / "run"),
               "--precision", "float16")  # fmt: skip
    assert_bad_input(done, "precision must be one of float32, float64")
    assert not (tmp_path / "run").exists()
