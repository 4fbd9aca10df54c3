"""How much the Marabou-readable SMLE file differs from the graph nnv exported before it.

    python benchmarks/smle_switch.py --epochs 20 --report benchmarks/results/smle_switch.md

The file replaced ``Where`` (the region switch) by a continuous switch that is the head ``Z``
wherever the region test passes and the outside head ``O`` beyond a band of about 1e-6 of
the region's extent (plugins/smle/export.py). For examples/smle_toy (property sum_capped)
and the synthetic grid's n2_easy (P3; needs ../shared), an SMLE model is trained
(``SmleTrainer``, ``--epochs`` epochs), exported both ways, in float32 and in float64, and
run by onnxruntime on every data row of every split and on points on and next to each face
of the region (2000 points of the region projected onto each face, then moved 0, +-1e-7,
+-1e-6 or +-1e-5 of the region's extent along the face's normal; float32 files get the
points rounded to float32).
The report counts the points whose outputs differ, inside and outside the region, and the
largest difference of any output.
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


def face_points(region: object, offset: float, rng: np.random.Generator) -> np.ndarray:
    """Points on every face of ``region`` (points of the region projected onto the face's
    plane, kept when the other faces still hold), moved ``offset`` (a fraction of the
    region's extent) outside along the face's normal (inside when negative)."""
    extent = float(np.max(region.upper - region.lower))
    inside, _ = region.sample(2000, rng)
    points = []
    for face, (row, bound) in enumerate(zip(region.A, region.b, strict=True)):
        unit = row / np.linalg.norm(row)
        on = inside - np.outer((inside @ row - bound) / (row @ row), row)
        others = np.delete(np.arange(region.A.shape[0]), face)
        on = on[np.all(on @ region.A[others].T <= region.b[others], axis=1)]
        points.append(on + unit * offset * extent)
    return np.vstack(points)


def compare(name: str, data: Path, properties: Path, property_name: str, epochs: int) -> list[str]:
    """One table row per precision and point set: the data rows, then each face offset."""
    from smle_where import where_graph

    from nnv.plugins.smle.certify import run_onnx
    from nnv.plugins.smle.data import load_task
    from nnv.plugins.smle.export import export_smle, switch_width
    from nnv.plugins.smle.options import SmleOptions
    from nnv.plugins.smle.trainer import SmleTrainer
    from nnv.plugins.smle.workflow import resolve_spec

    task = load_task(data)
    spec = resolve_spec(task, properties, property_name, None)
    trainer = SmleTrainer(SmleOptions(epochs=epochs)).fit(*task.splits["train"], spec)
    model, region = trainer.model_, spec.region
    sets = [("every data row", np.vstack([X for X, _ in task.splits.values()]))]
    rng = np.random.default_rng(0)
    sets += [(f"faces, offset {offset:+g}", face_points(region, offset, rng)) for offset in OFFSETS]
    lines = []
    for precision in ("float32", "float64"):
        files = export_smle(model, precision), where_graph(model, precision)
        for label, points in sets:
            X = points.astype(np.float32).astype(np.float64) if precision == "float32" else points
            new, old = (run_onnx(file, X) for file in files)
            differs, inside = np.any(new != old, axis=1), region.contains(X)
            gap = np.max(np.abs(new - old), axis=1, initial=0.0)
            lines.append(
                f"| {name} {property_name} | {precision} | {label} | {len(X)} | "
                f"{int(inside.sum())} | {int((differs & inside).sum())} | "
                f"{int((differs & ~inside).sum())} | {gap.max(initial=0.0):.3g} |"
            )
            print(lines[-1], flush=True)
    K, S = switch_width(model)
    lines.append(f"| {name} {property_name} | | K = {K:.3g}, S = {S:.3g} | | | | | |")
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
        "the outside head exactly). K, S: the switch's width `s = min(K * max(0, A x - b), S)`. "
        "A float64 "
        "point projected onto a face may round to just outside it (by about 1e-16): `Where` "
        "gave it the outside head, the continuous switch gives it the head to within "
        "`K * 1e-16`, hence differences at offset +0 in float64.",
        "",
        "| model | precision | points | count | in the region | differing in the region | "
        "differing outside | largest difference |",
        "|---|---|---|---|---|---|---|---|",
        *table,
        "",
    ]), encoding="utf-8")  # fmt: skip
    print(f"wrote {args.report}")


if __name__ == "__main__":
    main()
