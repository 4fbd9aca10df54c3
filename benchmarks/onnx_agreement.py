"""Load every VNN-COMP network (and the ACAS Xu and nnsynth ones): how long the ONNX loader
takes, what it makes, and how closely ``Network.forward`` agrees with onnxruntime.

Usage (from the repository root):

    python benchmarks/onnx_agreement.py --points 100 --out benchmarks/results/onnx_agreement.md

The load time is the best of three in-process ``load_network`` calls (reading the file and
lowering the graph). The disagreement is the largest ``|nnv - onnxruntime| / (1 + |y|)`` over
``--points`` random float32 inputs in each box of each property the network is paired with in
``instances.csv`` (ACAS Xu: inputs in [-0.5, 0.5]; nnsynth: the test data); onnxruntime runs
the file in its own precision (float32 for all of these), nnv in float64.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from nnv.core import Network
from nnv.core.plugin.registry import default_registry

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "benchmarks"


def onnxruntime_outputs(path: Path, inputs: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (feed,) = session.get_inputs()
    shape = [size if isinstance(size, int) else 1 for size in feed.shape]
    dtype = np.float64 if feed.type == "tensor(double)" else np.float32
    rows = [session.run(None, {feed.name: x.reshape(shape).astype(dtype)})[0] for x in inputs]
    return np.stack([row.reshape(-1) for row in rows]).astype(np.float64)


def measure(path: Path, inputs: np.ndarray) -> tuple[Network, float, float]:
    """The network, its best load time and its largest relative disagreement."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        network = default_registry().load_network(path)
        times.append(time.perf_counter() - start)
    expected = onnxruntime_outputs(path, inputs)
    error = np.max(np.abs(network.forward(inputs) - expected) / (1 + np.abs(expected)))
    return network, min(times), float(error)


def vnncomp_inputs(properties: list[str], points: int, rng: np.random.Generator) -> np.ndarray:
    rows = []
    for name in properties:
        prop = default_registry().load_property(SHARED / "vnncomp" / name)
        for piece in prop.pieces:
            inside = rng.uniform(piece.lower, piece.upper, (points, prop.n_inputs))
            rows.append(np.clip(inside.astype(np.float32), piece.lower, piece.upper))
    return np.vstack(rows).astype(np.float64)


def vnncomp_rows(points: int) -> list[str]:
    with open(SHARED / "vnncomp" / "instances.csv", newline="") as handle:
        pairs: dict[tuple[str, str], list[str]] = {}
        for row in csv.DictReader(handle):
            found = pairs.setdefault((row["family"], row["onnx"]), [])
            if row["vnnlib"] not in found:
                found.append(row["vnnlib"])
    lines = []
    rng = np.random.default_rng(0)
    for (family, onnx), properties in pairs.items():
        inputs = vnncomp_inputs(properties, points, rng)
        network, seconds, error = measure(SHARED / "vnncomp" / onnx, inputs)
        sparse = sum(layer.is_sparse for layer in network.layers)
        widths = "-".join(str(size) for size in network.shape)
        lines.append(
            f"| {family} | {Path(onnx).stem} | {widths} | {sparse} | {len(inputs)} "
            f"| {error:.1e} | {seconds:.3f} |"
        )
    return lines


def other_rows(points: int) -> list[str]:
    """One line for the 45 ACAS Xu networks and one for the nnsynth models (worst of each)."""
    rng = np.random.default_rng(1)
    acas = sorted((SHARED / "acasxu").glob("ACASXU_run2a_*_batch_2000.onnx"))
    results = []
    for path in acas:
        inputs = rng.uniform(-0.5, 0.5, (points, 5)).astype(np.float32).astype(np.float64)
        results.append(measure(path, inputs))
    lines = [_summary("acasxu", f"{len(acas)} networks", results, points * len(acas))]
    results = []
    for folder in sorted(p for p in (SHARED / "nnsynth").iterdir() if p.is_dir()):
        with np.load(folder / "data.npz") as data:
            inputs = data["X_test"][:points].astype(np.float32).astype(np.float64)
        results.append(measure(folder / "model.onnx", inputs))
    lines.append(_summary("nnsynth", f"{len(results)} models", results, points * len(results)))
    return lines


def _summary(family: str, what: str, results: list, count: int) -> str:
    error = max(error for _, _, error in results)
    seconds = max(seconds for _, seconds, _ in results)
    return f"| {family} | {what} | | 0 | {count} | {error:.1e} | {seconds:.3f} (slowest) |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100, help="random inputs per box")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/onnx_agreement.md")
    args = parser.parse_args()
    ort.set_default_logger_severity(3)
    header = [
        "# ONNX loading: load time and agreement with onnxruntime",
        "",
        f"`python benchmarks/onnx_agreement.py --points {args.points}` (2-core machine). "
        "Disagreement: the largest |nnv - onnxruntime| / (1 + |y|) over random float32 inputs "
        "in every box of every property the network is paired with; load: the best of three "
        "in-process loads (the machine is shared: times vary). Layer sizes are the input, "
        "then each layer's outputs.",
        "",
        "| family | network | layer sizes | sparse layers | inputs | disagreement | load (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines = header + vnncomp_rows(args.points) + other_rows(args.points)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
