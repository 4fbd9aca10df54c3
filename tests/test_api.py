"""The Python API (``import nnv``): objects in, typed results out, nothing written unless asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnv
from nnv.core import InputError

ROOT = Path(__file__).resolve().parents[1]
XOR = ROOT / "examples" / "xor"
FREE = ["w2.1.8", "w2.2.8"]


@pytest.fixture(scope="module")
def xor() -> tuple[nnv.Network, nnv.Property, dict[str, tuple[np.ndarray, np.ndarray]]]:
    net = nnv.load_network(XOR / "network.onnx")
    prop = nnv.load_property(XOR / "robust_violated.vnnlib")
    with np.load(XOR / "data.npz") as arrays:
        data = {split: (arrays[f"X_{split}"], arrays[f"y_{split}"]) for split in ("train", "test")}
    return net, prop, data


def test_verify_takes_objects_paths_and_torch(xor) -> None:
    torch = pytest.importorskip("torch")
    net, prop, _ = xor
    from nnv.core.model.torch_bridge import to_sequential

    by_object = nnv.verify(net, prop, timeout=60)
    by_path = nnv.verify(XOR / "network.onnx", XOR / "robust_violated.vnnlib", timeout=60)
    by_torch = nnv.verify(to_sequential(net).to(torch.float64), prop, timeout=60)
    assert by_object.status == by_path.status == by_torch.status == "sat"
    point = by_object.counterexample
    assert point is not None and prop.in_region(point[None, :], tol=1e-9).all()
    assert prop.is_unsafe(net.forward(point[None, :])).all()  # replayed here, too
    assert nnv.verify(net, XOR / "robust_holds.vnnlib").holds
    assert len(by_object.plot().axes) == 2


def test_repair_in_memory_writes_nothing(xor, tmp_path: Path, monkeypatch) -> None:
    net, prop, data = xor
    monkeypatch.chdir(tmp_path)
    fixed = nnv.repair(net, [prop], data, free=FREE)
    assert list(tmp_path.iterdir()) == []
    assert fixed.status == "repaired" and fixed.certificate
    assert fixed.network is not None and fixed.out is None
    assert nnv.verify(fixed.network, prop).status == "unsat"
    assert 0.9 < fixed.accuracy["weighted"] <= 1.0
    assert fixed.trials and fixed.trials[0].status == "repaired"
    assert fixed.resumed == 0
    written = fixed.to_onnx(tmp_path / "fixed.onnx")
    assert nnv.verify(written, prop).status == "unsat"
    assert len(fixed.plot().axes) == 2


def test_repair_into_a_folder_resumes(xor, tmp_path: Path) -> None:
    net, prop, data = xor
    out = tmp_path / "run"
    first = nnv.repair(net, [prop], data, free=FREE, out=out)
    assert first.status == "repaired" and (out / "result.json").is_file()
    again = nnv.repair(net, [prop], data, free=FREE, out=out)
    assert again.resumed == 1 and again.status == "repaired"
    assert again.network is not None and first.network is not None
    X = data["test"][0]
    assert np.allclose(again.network.forward(X), first.network.forward(X))


def test_bad_settings_are_refused_before_anything_is_written(xor, tmp_path: Path) -> None:
    net, prop, data = xor
    out = tmp_path / "run"
    with pytest.raises(InputError, match="max_change"):
        nnv.repair(net, [prop], data, free=FREE, out=out, max_change="a lot")
    with pytest.raises(InputError, match="nosuch"):
        nnv.repair(net, [prop], data, out=out, nosuch=1)
    assert not out.exists()
    with pytest.raises(InputError, match="pair"):
        nnv.repair(net, [prop], {"train": data["train"][0]}, free=FREE)


def test_not_repaired_has_no_network_to_write(xor, tmp_path: Path) -> None:
    net, prop, data = xor
    # the MILP alone (the line would search the whole real line): 1e-6, grown 1024 times
    result = nnv.repair(net, [prop], data, free=["b2.1"], max_change=1e-6, line_synthesis=False)
    assert result.status == "not_repaired" and result.network is None
    with pytest.raises(InputError, match="no repaired network"):
        result.to_onnx(tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_train_takes_arrays(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    toy = ROOT / "examples" / "smle_toy"
    with np.load(toy / "data.npz") as arrays:
        data = {split: (arrays[f"x_{split}"], arrays[f"y_{split}"]) for split in ("train", "test")}
    monkeypatch.chdir(tmp_path)
    trained = nnv.train(data, property_file=toy / "properties.json", property_name="sum_capped",
                        epochs=3, samples=5000)  # fmt: skip
    assert list(tmp_path.iterdir()) == []
    assert trained.certified and trained.epochs and set(trained.scores) >= {"train", "test"}
    outputs = trained.predict(np.full((10, 2), 1.0))
    assert np.all(outputs.sum(axis=1) <= 0.5 + 1e-4) and np.all(outputs[:, 0] >= -1 - 1e-4)
    assert len(trained.plot().axes) == 2


@pytest.mark.slow
def test_the_notebook_example_runs(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "notebook.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("sat ")
    assert lines[1].startswith("repaired z3 (exact)") and lines[2] == "unsat"
    assert lines[3].startswith("True ")
    for name in ("verify", "repair", "train"):
        assert (tmp_path / "pictures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
