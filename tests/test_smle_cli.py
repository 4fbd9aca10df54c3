"""``nnv train`` end to end: a tiny SMLE model, its certificate and files, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")
from cli_helpers import assert_bad_input, nnv  # noqa: E402


@pytest.fixture(scope="module")
def synthetic(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A subset of the SMLE paper's n2_easy task (800 training rows) and its properties."""
    source = shared / "smle" / "synthetic"
    with np.load(source / "n2_easy.npz") as full:
        subset = {key: full[key][:800] if "train" in key else full[key] for key in full.files}
    path = tmp_path_factory.mktemp("data") / "n2_easy_subset.npz"
    np.savez(path, **subset)
    return path, source / "n2_easy.properties.json"


def test_train_smle_certifies_the_exported_model(synthetic: tuple[Path, Path], tmp_path: Path):
    data, properties = synthetic
    out = tmp_path / "run"
    done = nnv(
        "train", "--data", str(data), "--property", str(properties), "--property-name", "P4",
        "--out", str(out), "--epochs", "4", "--samples", "20000", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == json.loads((out / "result.json").read_text())
    assert result["certified"] and result["method"] == "smle"
    assert result["proof"]["holds"] and "MILP" in result["certificate"]
    assert result["samples"]["count"] == 20000 and result["violation_rate"] == 0.0
    assert set(result["r2"]) >= {"train", "test", "test_inter", "test_extra"}
    assert result["split_violation_rate"]["test"] == 0.0
    assert result["projections"] >= 1 and result["seconds"]["total"] > 0
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"

    # the file alone, in onnxruntime: no sampled input of the region breaks the property
    spec = json.loads((out / "property.json").read_text())
    A_in, b_in = np.array(spec["input"]["A"]), np.array(spec["input"]["b"])
    A, b = np.array(spec["output"]["A"]), np.array(spec["output"]["b"])
    X = np.random.default_rng(1).uniform(-2, 2, size=(200_000, 2))
    X = X[np.all(X @ A_in.T <= b_in, axis=1)]
    X = X.astype(np.float32)  # the file is float32, input and output
    X = X[np.all(X.astype(np.float64) @ A_in.T <= b_in, axis=1)]
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    Y = session.run(["Y"], {"X": X})[0].astype(np.float64)
    assert result["precision"] == "float32" and "notice" not in result
    assert X.shape[0] > 1000 and np.all(Y @ A.T <= b)


def test_train_mutual_exclusion_on_arff(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    labels = np.column_stack([X[:, 0] > 0, X[:, 0] < -0.5, X[:, 1] > 0]).astype(int)
    rows = "\n".join(",".join([f"{v:.4f}" for v in x] + [str(v) for v in y])
                     for x, y in zip(X, labels, strict=True))
    path = tmp_path / "tiny.arff"
    path.write_text(
        "@relation 'tiny: -C -3'\n"
        + "".join(f"@attribute f{i} numeric\n" for i in range(3))
        + "".join(f"@attribute l{i} {{0,1}}\n" for i in range(3))
        + "@data\n" + rows + "\n"
    )
    out = tmp_path / "run"
    done = nnv("train", "--data", str(path), "--quantile", "0", "--out", str(out),
               "--epochs", "3", "--samples", "5000", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["certified"] and result["property_kind"] == "exclusion"
    assert json.loads((out / "property.json").read_text())["exclusion"]["pairs"] == [[0, 1]]
    assert set(result["accuracy"]) == {"train", "test"}


def test_bad_input_is_one_line_and_exit_2(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    data, properties = synthetic
    out = str(tmp_path / "run")
    assert_bad_input(nnv("train", "--data", str(tmp_path / "no.npz"), "--out", out), "no such")
    assert_bad_input(nnv("train", "--data", str(data), "--out", out), "needs a property file")
    assert_bad_input(
        nnv("train", "--data", str(data), "--property", str(properties), "--out", out),
        "pick one with --property-name",
    )
    assert_bad_input(
        nnv("train", "--data", str(data), "--property", str(properties), "--property-name",
            "P9", "--out", out),
        "no property named 'P9'",
    )
    assert_bad_input(
        nnv("train", "--method", "nosuch", "--data", str(data), "--out", out), "unknown trainer"
    )
    assert_bad_input(
        nnv("train", "--data", str(data), "--property", str(properties), "--property-name",
            "P1", "--widths", "4,x", "--out", out),
        "--widths",
    )
    assert_bad_input(
        nnv("train", "--method", "preprocess", "--box", "linear", "--data", str(data),
            "--property", str(properties), "--property-name", "P1", "--out", out),
        "has no option 'box'",
    )
    assert not (tmp_path / "run").exists()
