"""The SMLE file in operators Marabou reads: inside the region it computes what the graph with
``Min``/``Max``/``ReduceMax``/``Where``/``Gather`` computed, bit for bit, in float32 and
float64; the reader refuses a switch that could leave the head inside the region; Marabou
reads and evaluates the file with its default options (maraboupy is in the test extra: skipped
where it is not installed, but never under CI; run in a subprocess, so that a crash of Marabou
fails the test)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from smle_where import where_graph  # noqa: E402

from nnv.plugins.smle.certify import run_onnx  # noqa: E402
from nnv.plugins.smle.export import DTYPES, export_smle  # noqa: E402
from nnv.plugins.smle.graph import NotSmle, read_exported  # noqa: E402
from nnv.plugins.smle.model import SmleNet  # noqa: E402
from nnv.plugins.smle.rounding import switch_threshold  # noqa: E402
from nnv.plugins.smle.spec import Region  # noqa: E402

A = np.array([[0.97, -0.4], [0.78, 0.58], [-0.43, -0.35], [1, 0], [0, 1], [-1, 0], [0, -1]])
REGION = Region.polytope(A, np.array([0.73, 0.1, 0.1, 2.0, 2.0, 2.0, 2.0]))


def _trained_like(box: str, level: int | None, seed: int) -> SmleNet:
    """An SMLE net with random (not initial) weights on the synthetic-style region."""
    torch.manual_seed(seed)
    model = SmleNet(2, 3, [16, 8], box, REGION, shift=np.array([0.1, -0.2]),
                    scale=np.array([1.7, 0.6]), level=level)  # fmt: skip
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    return model


def _points(precision: str) -> np.ndarray:
    """Uniform points of the region's bounding box and points on and next to every face."""
    rng = np.random.default_rng(0)
    points = [rng.uniform(REGION.lower, REGION.upper, size=(20_000, 2))]
    for row, bound in zip(REGION.A, REGION.b, strict=True):
        t = rng.uniform(-3, 3, size=(4000, 1))
        along = np.array([-row[1], row[0]]) / np.linalg.norm(row)
        for offset in (0.0, -1e-7, 1e-7, -1e-5):
            points.append(row * (bound + offset) / (row @ row) + t * along)
    X = np.vstack(points)
    return X.astype(np.float32).astype(np.float64) if precision == "float32" else X


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize(("box", "level"), [("unit", None), ("linear", None), ("linear", 1)])
def test_inside_the_region_the_file_is_the_where_graph_bit_for_bit(
    precision: str, box: str, level: int | None
) -> None:
    model = _trained_like(box, level, seed=len(box) + (level or 0))
    new, old = export_smle(model, precision), where_graph(model, precision)
    X = _points(precision)
    ours, theirs = run_onnx(new, X), run_onnx(old, X)
    b = switch_threshold(REGION) if precision == "float32" else REGION.b
    passes = np.all(X @ REGION.A.astype(DTYPES[precision]).T <= b + 1e-9, axis=1)
    inside = REGION.contains(X)
    assert inside.sum() > 5000 and (passes & ~inside).sum() > 100  # boundary points too
    assert np.array_equal(ours[inside], theirs[inside])
    # beyond the band (1e-6 of the region's extent), the outside head, as before
    far = ~REGION.contains(X, tol=1e-4)
    assert far.sum() > 5000
    np.testing.assert_allclose(ours[far], theirs[far], rtol=0, atol=1e-5)
    parts = read_exported(new)
    assert parts.region is not None and np.array_equal(parts.region[1], b)
    assert np.array_equal(parts.region[0], REGION.A.astype(DTYPES[precision]))
    assert parts.level == level and parts.box.is_constant == (box == "unit")


def _tampered(model: onnx.ModelProto, name: str, value: np.ndarray) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for index, tensor in enumerate(copy.graph.initializer):
        if tensor.name == name:
            copy.graph.initializer[index].CopyFrom(numpy_helper.from_array(value, name))
    return copy


def _initializer(model: onnx.ModelProto, name: str) -> np.ndarray:
    return next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name)


def test_the_reader_refuses_a_switch_that_could_leave_the_head_inside() -> None:
    exported = export_smle(_trained_like("unit", None, seed=0))
    changed = []
    for name, row, column, value in (
        ("switch.weight", 1, 3, 0.5),  # Z_0 - s: Z_0 halved
        ("switch.weight", 1, 6, 0.0),  # Z_0 - s: s dropped, Z_0 with its own weight
        ("switch.capped.weight", 1, 8, -2.0),  # -(Z_0 + s) over [H (8), Z, s]: Z_0 doubled
        ("clip.upper.weight", 0, 2, -0.5),  # -H_0 halved
        ("clip.weight", 0, 2 + 1, -1.0),  # min(H, u)_1 paired with the first output
        ("switch.width.weight", 0, 0, 2.0),  # -s = max(2 * excess, -S): not 0 inside
        ("switch.width.weight", 0, 0, -np.inf),
        ("switch.width.weight", 1, 0, 0.5),  # -S + excess / 2
    ):
        M = _initializer(exported, name).copy()
        M[row, column] = value
        changed.append((name, M))
    changed += [("switch.width.bias", np.array([0.1, -1.0], np.float32)),
                ("switch.width.bias", np.array([0.0, 1.0], np.float32)),  # S < 0
                ("region.axes", np.array([1, 2], np.int64)),
                ("clip.shape", np.array([-1, 4, 2, 1], np.int64))]  # fmt: skip
    for name, value in changed:
        with pytest.raises(NotSmle):
            read_exported(_tampered(exported, name, value))
    # another tensor of the head's width in Z - s: no longer the head inside
    swapped = onnx.ModelProto()
    swapped.CopyFrom(exported)
    for node in swapped.graph.node:
        if node.name == "switch.sources":
            node.input[1] = "switch.capped"
    with pytest.raises(NotSmle, match="over \\[H, Z, -s\\]"):
        read_exported(swapped)
    # a region test over all rows but the last: not the region's test
    partial = onnx.ModelProto()
    partial.CopyFrom(exported)
    for node in partial.graph.node:
        if node.name == "region.pool":
            node.attribute[0].ints[0] = A.shape[0] - 1
    with pytest.raises(NotSmle, match="every row"):
        read_exported(partial)


MARABOU = importlib.util.find_spec("maraboupy") is not None
EVALUATE = """
import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from maraboupy import Marabou
network = Marabou.read_onnx(sys.argv[1])
options = Marabou.createOptions(verbosity=0)  # its defaults: DeepPoly bound tightening
X = np.load(sys.argv[2])
rows = [np.ravel(network.evaluateWithMarabou([x[None, :]], filename=sys.argv[4],
                                             options=options)[0]) for x in X]
np.save(sys.argv[3], np.array(rows))
"""


@pytest.mark.skipif(
    not MARABOU and not os.environ.get("CI"), reason="maraboupy (the test extra) is not installed"
)
@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_marabou_reads_and_evaluates_the_file(precision: str, tmp_path: Path) -> None:
    model = _trained_like("linear", 1, seed=3)
    path = tmp_path / "model.onnx"
    onnx.save(export_smle(model, precision), str(path))
    rng = np.random.default_rng(1)
    X = rng.uniform(REGION.lower - 0.5, REGION.upper + 0.5, size=(60, 2)).astype(np.float32)
    X = np.vstack([X, [[10.0, 10.0], [-30.0, 4.0]]]).astype(np.float64)  # far: s saturated
    # away from the switch's band, where float32 and Marabou's float64 may differ by K * 1e-7
    X = X[REGION.contains(X, tol=-1e-3) | ~REGION.contains(X, tol=1e-3)]
    assert REGION.contains(X).sum() > 5 and (~REGION.contains(X)).sum() > 5
    np.save(tmp_path / "X.npy", X)
    done = subprocess.run([sys.executable, "-c", EVALUATE, str(path), str(tmp_path / "X.npy"),
                           str(tmp_path / "Y.npy"), str(tmp_path / "marabou.log")],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    expected = run_onnx(onnx.load(str(path)), X)
    tolerance = 1e-4 if precision == "float32" else 1e-9
    np.testing.assert_allclose(np.load(tmp_path / "Y.npy"), expected, rtol=0, atol=tolerance)
