"""The SMLE forecasting task: windows, the chronological split, the smoothness property, bad
input, and ``nnv train`` end to end on one M4 series."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from nnv.cli.main import app  # noqa: E402
from nnv.plugins.smle.data import load_task  # noqa: E402
from nnv.plugins.smle.forecasting import make_windows, smoothness  # noqa: E402
from nnv.plugins.smle.spec import load_spec, parse_spec  # noqa: E402
from nnv.plugins.smle.workflow import resolve_spec  # noqa: E402

HEADER = "id,category,frequency,horizon,period,length"


def write_series(path: Path, series: dict[str, list[float]]) -> Path:
    """A forecasting CSV like the shared one: values first, the rest of each row blank."""
    width = max(len(values) for values in series.values())
    lines = [HEADER + "," + ",".join(f"v{i}" for i in range(width))]
    for name, values in series.items():
        cells = [f"{v:g}" for v in values] + [""] * (width - len(values))
        lines.append(f"{name},Other,1,14,Daily,{len(values)}," + ",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, np.ndarray]:
    values = np.round(10 + np.sin(np.arange(40) / 3) + np.arange(40) / 10, 3)
    path = write_series(tmp_path / "series.csv", {"A1": values.tolist(), "S": [1.0] * 15})
    return path, values


def test_windows_are_8_in_4_out_in_order() -> None:
    X, Y = make_windows(np.arange(20.0))
    assert X.shape == (9, 8) and Y.shape == (9, 4)
    assert X[3].tolist() == list(range(3, 11)) and Y[3].tolist() == [11, 12, 13, 14]


def test_split_is_chronological_and_standardised_on_the_training_part(tiny) -> None:
    path, values = tiny
    task = load_task(path, "A1")
    (X_train, Y_train), (X_test, Y_test) = task.splits["train"], task.splits["test"]
    # 40 values: 29 windows, the last round(0.2 * 29) = 6 test
    assert X_train.shape == (23, 8) and Y_train.shape == (23, 4)
    assert X_test.shape == (6, 8) and Y_test.shape == (6, 4)
    covered = values[: 23 + 8 + 4 - 1]  # the values the training windows cover
    scaled = (values - covered.mean()) / covered.std()
    assert np.allclose(X_train[0], scaled[:8]) and np.allclose(Y_test[-1], scaled[-4:])
    assert np.allclose(X_test[0], scaled[23:31])
    assert task.kind == "regression" and task.steps is not None
    assert task.level == 7  # the models predict relative to the window's last input
    assert np.allclose(task.steps, np.abs(np.diff(scaled[: covered.size])))


@pytest.mark.parametrize("q", [1.0, 0.95, 0.9])
def test_the_bound_is_the_quantile_of_the_training_steps(tiny, q: float) -> None:
    task = load_task(tiny[0], "A1")
    spec = resolve_spec(task, None, None, q)
    assert spec.region is None and spec.A.shape == (6, 4)
    assert np.allclose(spec.b, np.quantile(task.steps, q))
    # rows: y[i+1] - y[i] <= d and y[i] - y[i+1] <= d, i = 0..2
    assert spec.A[0].tolist() == [-1, 1, 0, 0] and spec.A[1].tolist() == [1, -1, 0, 0]
    assert spec.A[5].tolist() == [0, 0, 1, -1]
    d = spec.b[0]
    assert not spec.violated(np.array([[0, d, 0, -d]]))[0]
    assert spec.violated(np.array([[0, 0, 0, 1.01 * d + 1e-9]]))[0]
    again = parse_spec(json.loads(json.dumps(spec.to_json())), spec.name)
    assert again.region is None and np.array_equal(again.A, spec.A)
    assert np.array_equal(again.b, spec.b)


def test_default_quantile_is_1(tiny) -> None:
    task = load_task(tiny[0], "A1")
    assert resolve_spec(task, None, None, None).b[0] == pytest.approx(task.steps.max())
    assert smoothness(task.steps, 1.0).name == "smoothness-q1"


def bad_input(tmp_path: Path, *args: str) -> str:
    """Run ``nnv train`` in process; it must fail with exit code 2 and one line on stderr."""
    out = tmp_path / "run"
    done = CliRunner().invoke(app, ["train", *args, "--out", str(out)])
    assert done.exit_code == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnv: error:"), done.stderr
    assert not out.exists()
    return lines[0]


def test_bad_input_is_one_line_and_exit_2(tiny, tmp_path: Path) -> None:
    path = str(tiny[0])
    assert "no series with id 'B2'" in bad_input(tmp_path, "--data", path, "--series", "B2")
    assert "at least 21" in bad_input(tmp_path, "--data", path, "--series", "S")
    assert "needs --series" in bad_input(tmp_path, "--data", path)
    npz = tmp_path / "data.npz"
    np.savez(npz, x_train=np.zeros((4, 2)), y_train=np.zeros((4, 1)), x_test=np.zeros((2, 2)),
             y_test=np.zeros((2, 1)))
    assert "--series applies" in bad_input(tmp_path, "--data", str(npz), "--series", "A1")
    assert "--quantile applies" in bad_input(tmp_path, "--data", str(npz), "--quantile", "0.5")
    properties = tmp_path / "bounded.json"
    properties.write_text(json.dumps([{"name": "B", "input": None,
                                       "output": {"A": [[1]], "b": [1]}}]))
    assert "--level applies" in bad_input(tmp_path, "--data", str(npz), "--property",
                                          str(properties), "--level")
    # a property a shift of every output can break: no level (unless --no-level)
    outputs = [[1 if j == i else 0 for j in range(4)] for i in range(4)]
    properties.write_text(json.dumps([{"name": "B", "input": None,
                                       "output": {"A": outputs, "b": [1] * 4}}]))
    assert "invariant to shifting every output" in bad_input(
        tmp_path, "--data", path, "--series", "A1", "--property", str(properties))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("name,value\nA1,1\n", "not a forecasting file"),
        (f"{HEADER},v0,v1,v2\nA1,x,1,1,D,3,1,,3\n", "blank value inside"),
        (f"{HEADER},v0,v1,v2\nA1,x,1,1,D,3,1,two,3\n", "not a number"),
    ],
)
def test_malformed_files_are_bad_input(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert fragment in bad_input(tmp_path, "--data", str(path), "--series", "A1")


def test_train_one_m4_series_end_to_end(shared: Path, tmp_path: Path) -> None:
    data = shared / "smle" / "forecasting" / "series.csv"
    out = tmp_path / "w224"
    command = [sys.executable, "-c", "from nnv.cli.main import main; main()", "train",
               "--data", str(data), "--series", "W224", "--quantile", "0.95", "--out", str(out),
               "--epochs", "3", "--samples", "2000", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == json.loads((out / "result.json").read_text())
    assert result["certified"] and result["proof"]["holds"] and result["series"] == "W224"
    assert set(result["r2"]) == {"train", "test"} and np.isfinite(result["r2"]["test"])
    assert result["split_violation_rate"]["test"] == 0.0 and result["violation_rate"] == 0.0
    # property.json is the generated property and can be given back with --property
    spec = load_spec(out / "property.json")
    expected = resolve_spec(load_task(data, "W224"), None, None, 0.95)
    assert spec.region is None and np.allclose(spec.b, expected.b)


def test_the_level_forecasts_a_drifting_series_and_is_certified(
    shared: Path, tmp_path: Path
) -> None:
    """D4099's test part leaves its training range: SMLE's bounded embedding cannot follow it
    unless the outputs are relative to the last input (the level), which the property allows
    (every row of A sums to zero) and the certificate checks in the file."""
    from nnv.plugins.smle.certify import run_onnx
    from nnv.plugins.smle.graph import read_exported
    from nnv.plugins.smle.workflow import r2_score

    data = shared / "smle" / "forecasting" / "series.csv"
    results = {}
    for flag in ("--level", "--no-level"):
        out = tmp_path / flag
        done = CliRunner().invoke(app, ["train", "--data", str(data), "--series", "D4099",
                                        "--out", str(out), "--epochs", "3", "--samples", "2000",
                                        "--json", flag])
        assert done.exit_code == 0, (done.stdout, done.stderr)
        results[flag] = json.loads((out / "result.json").read_text())
        assert results[flag]["certified"] and results[flag]["proof"]["holds"]
    levelled, plain = results["--level"], results["--no-level"]
    assert levelled["level"] == 7 and "level" not in plain
    assert "level" in levelled["certificate"] and levelled["proof"]["level"] == 7
    assert levelled["r2"]["test"] > 0.8 and plain["r2"]["test"] < 0.5  # measured 0.96, -0.10
    # the file adds the level back itself: onnxruntime on the raw test windows gives the score
    import onnx

    model = onnx.load(tmp_path / "--level" / "model.onnx")
    assert read_exported(model).level == 7
    X, Y = load_task(data, "D4099").splits["test"]
    assert r2_score(Y, run_onnx(model, X)) == pytest.approx(levelled["r2"]["test"], abs=1e-9)
