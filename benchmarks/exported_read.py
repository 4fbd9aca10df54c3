"""Do other tools read what nnv writes? Every exported model through onnxruntime and Marabou.

    python benchmarks/exported_read.py --work runs/exported_read \
        --report benchmarks/results/exported_read.md

(needs ``pip install -e ".[bench]"``: maraboupy; and ../shared for the ACAS Xu network). It
makes one file with each of nnv's writers: ``nnv run``'s repaired.onnx for examples/xor and for
the ACAS Xu repair of docs/repair.md (N2,9 on property 8's box, float32), ``nnv train``'s
model.onnx for examples/smle_toy (float32, the default, and float64), and the Python API's
``RepairResult.to_onnx`` and ``TrainingResult.to_onnx``. Each file is run by onnxruntime on
every data point and, when Marabou loads it (``MarabouNetwork`` from ONNX), evaluated by
Marabou's solver (default options: DeepPoly bound tightening) at a few points; both are
compared with nnv's forward pass: the certified network in memory for the API, nnv's reader
of the file for the command's files. SMLE files have no nnv forward pass (nnv's reader takes
no skip connections, and the clip bounds and the region switch read X): there onnxruntime is
the reference for Marabou.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

import nnv
from nnv.core.model.dataset import Dataset
from nnv.core.plugin.registry import default_registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
ACASXU = ROOT.parent / "shared" / "benchmarks" / "acasxu"
MARABOU_POINTS = 3  # Marabou solves a query per point: a few are enough
Forward = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Export:
    """One written file, the points to run it on and what its outputs should be."""

    writer: str
    path: Path
    points: np.ndarray
    reference: Forward | None  # None: onnxruntime is the reference
    reference_name: str


@dataclass(frozen=True)
class Reading:
    """How one tool read one file: None for ``difference`` when it could not."""

    difference: float | None
    note: str


def nnv_command(*args: str | Path) -> None:
    """Run an nnv command as a user does; stop with its stderr when it fails."""
    command = [sys.executable, "-c", "from nnv.cli.main import main; main()", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in (0, 1) or "results" not in done.stdout:
        raise SystemExit(f"{shlex.join(command)} failed:\n{done.stderr}")


def smle_points() -> np.ndarray:
    """The SMLE example's test inputs (its .npz holds x_<split>, y_<split>)."""
    with np.load(EXAMPLES / "smle_toy" / "data.npz") as arrays:
        return np.asarray(arrays["x_test"], dtype=np.float64)


def file_reader(path: Path) -> Forward:
    return default_registry().load_network(path).forward


def command_exports(work: Path) -> list[Export]:
    """The files ``nnv run`` and ``nnv train`` write."""
    xor = EXAMPLES / "xor"
    nnv_command("run", "--network", xor / "network.onnx", "--property",
                xor / "robust_violated.vnnlib", "--data", xor / "data.npz", "--free",
                "w2.1.8,w2.2.8", "--out", work / "xor", "--quiet")  # fmt: skip
    acas = work / "acasxu"
    subprocess.run(
        [sys.executable, ROOT / "benchmarks" / "acasxu_repair_data.py", "--out", acas],
        check=True, capture_output=True,
    )  # fmt: skip
    nnv_command("run", "--network", ACASXU / "ACASXU_run2a_2_9_batch_2000.onnx", "--property",
                acas / "prop_8_near.vnnlib", "--data", acas / "data.npz", "--decision",
                "argmin", "--free", "b7.4", "--out", acas, "--quiet")  # fmt: skip
    toy = EXAMPLES / "smle_toy"
    nnv_command("train", "--data", toy / "data.npz", "--property", toy / "properties.json",
                "--property-name", "sum_capped", "--epochs", "5", "--samples", "5000",
                "--out", work / "smle_toy", "--quiet")  # fmt: skip
    nnv_command("train", "--data", toy / "data.npz", "--property", toy / "properties.json",
                "--property-name", "sum_capped", "--epochs", "5", "--samples", "5000",
                "--precision", "float64", "--out", work / "smle_toy_float64",
                "--quiet")  # fmt: skip
    xor_points = Dataset.load(xor / "data.npz").splits["test"][0]
    acas_points = Dataset.load(acas / "data.npz").splits["test"][0]
    toy_points = smle_points()
    nnv_reader = "nnv's reader of the file"
    return [
        Export("nnv run (examples/xor)", work / "xor" / "repaired.onnx", xor_points,
               file_reader(work / "xor" / "repaired.onnx"), nnv_reader),
        Export("nnv run (ACAS Xu N2,9, property 8's box)", acas / "repaired.onnx", acas_points,
               file_reader(acas / "repaired.onnx"), nnv_reader),
        Export("nnv train (examples/smle_toy)", work / "smle_toy" / "model.onnx", toy_points,
               None, "onnxruntime"),
        Export("nnv train --precision float64 (examples/smle_toy)",
               work / "smle_toy_float64" / "model.onnx", toy_points, None, "onnxruntime"),
    ]  # fmt: skip


def api_exports(work: Path) -> list[Export]:
    """The files the Python API's ``to_onnx`` writes."""
    xor = EXAMPLES / "xor"
    fixed = nnv.repair(xor / "network.onnx", xor / "robust_violated.vnnlib", xor / "data.npz",
                       free=["w2.1.8", "w2.2.8"])  # fmt: skip
    if fixed.network is None:
        raise SystemExit(f"the XOR repair did not repair: {fixed.message}")
    toy = EXAMPLES / "smle_toy"
    trained = nnv.train(toy / "data.npz", property_file=toy / "properties.json",
                        property_name="sum_capped", epochs=5, samples=5000)  # fmt: skip
    return [
        Export("RepairResult.to_onnx (examples/xor)", fixed.to_onnx(work / "api_repair.onnx"),
               Dataset.load(xor / "data.npz").splits["test"][0], fixed.network.forward,
               "the certified network in memory"),
        Export("TrainingResult.to_onnx (examples/smle_toy)",
               trained.to_onnx(work / "api_train.onnx"),
               smle_points(), None, "onnxruntime"),
    ]  # fmt: skip


def element_type(path: Path) -> str:
    """The first input's element type in the file (float, double, ...)."""
    model = onnx.load(str(path))
    code = model.graph.input[0].type.tensor_type.elem_type
    return onnx.helper.tensor_dtype_to_np_dtype(code).name


def onnxruntime_outputs(path: Path, points: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    dtype = np.float64 if "double" in feed.type else np.float32
    if feed.shape[0] != 1:
        return np.asarray(session.run(None, {feed.name: points.astype(dtype)})[0], np.float64)
    # a file with a batch of one (ACAS Xu's, kept by the repair): one point at a time
    one = [d if isinstance(d, int) else 1 for d in feed.shape]
    rows = [session.run(None, {feed.name: p.astype(dtype).reshape(one)})[0] for p in points]
    return np.asarray(rows, dtype=np.float64).reshape(len(points), -1)


def marabou_reading(path: Path, points: np.ndarray, expected: np.ndarray, log: Path) -> Reading:
    """Load with Marabou's ONNX parser and evaluate a few points with its solver."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # maraboupy warns that TensorFlow is not installed
        from maraboupy import Marabou
    try:
        network = Marabou.read_onnx(str(path))
    except Exception as error:  # noqa: BLE001 - whatever it refuses, the report says why
        return Reading(None, f"refused: {type(error).__name__}: {error}")
    options = Marabou.createOptions(verbosity=0)
    worst = 0.0
    for point, want in zip(points[:MARABOU_POINTS], expected[:MARABOU_POINTS], strict=True):
        got = network.evaluateWithMarabou([point[None, :]], filename=str(log), options=options)
        worst = max(worst, float(np.max(np.abs(np.ravel(got[0]) - want))))
    note = f"read; {MARABOU_POINTS} points evaluated by its solver"
    try:  # Marabou's other evaluation runs the file through onnxruntime, fed float32
        network.evaluateWithoutMarabou([points[:1]])
    except Exception as error:  # noqa: BLE001 - reported, not fatal
        note += f" (its evaluateWithoutMarabou refuses: {error})"
    return Reading(worst, note)


def read_all(export: Export, log: Path) -> tuple[str, Reading, Reading]:
    """(element type, onnxruntime's reading, Marabou's reading) of one file."""
    outputs = onnxruntime_outputs(export.path, export.points)
    if export.reference is None:
        expected = outputs
        runtime = Reading(None, f"ran {len(outputs)} points (it is the reference)")
    else:
        expected = np.asarray(export.reference(export.points), dtype=np.float64)
        difference = float(np.max(np.abs(outputs - expected)))
        runtime = Reading(difference, f"ran {len(outputs)} points")
    return element_type(export.path), runtime, marabou_reading(export.path, export.points,
                                                               expected, log)  # fmt: skip


def cell(reading: Reading) -> str:
    said = reading.note.replace("|", "\\|").replace("\n", " ")
    return said if reading.difference is None else f"{said}; max diff {reading.difference:.2e}"


def report(rows: list[tuple[Export, str, Reading, Reading]], command: str) -> str:
    lines = [
        "# Exported models read by onnxruntime and Marabou",
        "",
        f"Command: `{command}`",
        "",
        "Each file written by one of nnv's writers, run by onnxruntime (every point) and by "
        "Marabou (`maraboupy` " + _marabou_version() + ", `Marabou.read_onnx`, then "
        "`evaluateWithMarabou` at a few points, default options), compared with the "
        "reference: the largest absolute difference of any output.",
        "",
        "| writer | file | input type | reference | onnxruntime | Marabou |",
        "|---|---|---|---|---|---|",
    ]
    for export, dtype, runtime, marabou in rows:
        lines.append(f"| {export.writer} | `{export.path.name}` | {dtype} | "
                     f"{export.reference_name} | {cell(runtime)} | {cell(marabou)} |")  # fmt: skip
    read = sum(marabou.difference is not None for *_, marabou in rows)
    lines += ["", f"onnxruntime ran all {len(rows)} files; Marabou read {read} of {len(rows)}."]
    operators = [e.writer for e, _, _, m in rows if "not implemented" in m.note]
    if operators:
        lines.append(f"Marabou refuses {', '.join(operators)} for an operator its ONNX parser "
                     "lacks, not for the file's precision: a float32 file with the same graph "
                     "would be refused too.")  # fmt: skip
    return "\n".join(lines) + "\n"


def _marabou_version() -> str:
    from importlib.metadata import version

    return version("maraboupy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/exported_read"))
    parser.add_argument("--report", type=Path, default=ROOT / "benchmarks/results/exported_read.md")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for export in command_exports(args.work) + api_exports(args.work):
        dtype, runtime, marabou = read_all(export, args.work / "marabou.log")
        rows.append((export, dtype, runtime, marabou))
        print(f"{export.writer}: {dtype}; onnxruntime {cell(runtime)}; Marabou {cell(marabou)}")
    command = shlex.join(["python", "benchmarks/exported_read.py", *sys.argv[1:]])
    args.report.write_text(report(rows, command), encoding="utf-8")
    print(f"wrote {args.report}")


if __name__ == "__main__":
    main()
