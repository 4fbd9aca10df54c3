"""How much the Marabou-readable SMLE file differs from the graph nnv exported before it.

    python benchmarks/smle_switch.py --epochs 20 --report benchmarks/results/smle_switch.md

The file replaced ``Where`` (the region switch) by a continuous switch that is the head ``Z``
wherever the region test passes and the outside head ``O`` beyond a band of about 1e-6 of
the region's extent (plugins/smle/export.py). For examples/smle_toy (property sum_capped)
and the synthetic grid's n2_easy (P3; needs ../shared), an SMLE model is trained
(``SmleTrainer``, ``--epochs`` epochs), exported both ways, in float32 and in float64, and
run by onnxruntime on every data row of every split and on points on and next to each face
of the region (offsets of 0, +-1e-7, +-1e-6 and +-1e-5 of the region's extent along the
face's normal, 2000 per face and offset). The report counts the rows whose outputs differ,
inside and outside the region, and the largest difference.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT.parent / "shared" / "benchmarks" / "smle" / "synthetic"
CASES = (
    ("examples/smle_toy", ROOT / "examples" / "smle_toy" / "data.npz",
     ROOT / "examples" / "smle_toy" / "properties.json", "sum_capped"),
    ("n2_easy", SYNTHETIC / "n2_easy.npz", SYNTHETIC / "n2_easy.properties.json", "P3"),
)  # fmt: skip
OFFSETS = (0.0, 1e-7, -1e-7, 1e-6, -1e-6, 1e-5, -1e-5)  # of the region's extent


def face_points(region: object, rng: np.random.Generator) -> np.ndarray:
    """Points on and next to every face of ``region`` (see the module docstring)."""
    extent = float(np.max(region.upper - region.lower))
    points = []
    for row, bound in zip(region.A, region.b, strict=True):
        norm = float(np.linalg.norm(row))
        foot = row * bound / norm**2  # the face's point nearest the origin
        along = rng.normal(size=(2000, row.shape[0]))
        along -= np.outer(along @ row / norm**2, row)  # within the face's plane
        along *= extent / np.linalg.norm(along, axis=1, keepdims=True)
        spread = along * rng.uniform(0, 1, size=(2000, 1))
        for offset in OFFSETS:
            points.append(foot + spread + row / norm * offset * extent)
    return np.vstack(points)


def compare(name: str, data: Path, properties: Path, property_name: str, epochs: int) -> list[str]:
    from smle_where import where_graph

    from nnv.plugins.smle.certify import run_onnx
    from nnv.plugins.smle.data import load_task
    from nnv.plugins.smle.export import export_smle, switch_gain
    from nnv.plugins.smle.options import SmleOptions
    from nnv.plugins.smle.trainer import SmleTrainer
    from nnv.plugins.smle.workflow import resolve_spec

    task = load_task(data)
    spec = resolve_spec(task, properties, property_name, None)
    trainer = SmleTrainer(SmleOptions(epochs=epochs)).fit(*task.splits["train"], spec)
    model, region = trainer.model_, spec.region
    rows = np.vstack([X for X, _ in task.splits.values()])
    points = np.vstack([rows, face_points(region, np.random.default_rng(0))])
    lines = []
    for precision in ("float32", "float64"):
        X = points.astype(np.float32).astype(np.float64) if precision == "float32" else points
        new = run_onnx(export_smle(model, precision), X)
        old = run_onnx(where_graph(model, precision), X)
        differs = np.any(new != old, axis=1)
        inside = region.contains(X)
        gap = np.max(np.abs(new - old), axis=1)
        lines.append(
            f"| {name} {property_name} | {precision} | {len(X)} ({len(rows)} data rows) | "
            f"{int(inside.sum())} | {int((differs & inside).sum())} | "
            f"{int((differs & ~inside).sum())} of {int((~inside).sum())} | "
            f"{gap.max():.3g} | {switch_gain(model):.3g} |"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--report", type=Path, default=ROOT / "benchmarks/results/smle_switch.md")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))  # the Where graph: tests/smle_where.py
    table = []
    for name, data, properties, property_name in CASES:
        if not data.is_file():
            raise SystemExit(f"{data}: no such file (the grid task needs ../shared)")
        table += compare(name, data, properties, property_name, args.epochs)
    command = shlex.join(["python", "benchmarks/smle_switch.py", *sys.argv[1:]])
    args.report.write_text("\n".join([
        "# The continuous region switch against Where",
        "",
        f"Command: `{command}`",
        "",
        "Outputs of the Marabou-readable SMLE file and of the graph nnv exported before "
        "(`Where`, `Min`/`Max`, `ReduceMax`), both run by onnxruntime: every data row and "
        "points on and next to every face of the region (see benchmarks/smle_switch.py). "
        "Inside the region they must be equal bit for bit; outside, they can differ only in "
        "the switch's band (about 1e-6 of the region's extent; beyond it the file's output is "
        "the outside head exactly). K: the switch's gain, `s = K * max(0, A x - b)`.",
        "",
        "| model | precision | points | inside | differing inside | differing outside | "
        "largest difference | K |",
        "|---|---|---|---|---|---|---|---|",
        *table,
        "",
    ]), encoding="utf-8")  # fmt: skip
    print(f"wrote {args.report}")


if __name__ == "__main__":
    main()
