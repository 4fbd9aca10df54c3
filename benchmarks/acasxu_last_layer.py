"""ACAS Xu N2,9 property 8: a last-layer repair on violating points, from the command line.

Issue 16 asks that the last layer's synthesis scale (hundreds of free parameters, thousands of
points). This script samples property 8's input region uniformly, keeps the points where N2,9
violates it (a weak-right or strong advisory, ``argmin`` over the five scores), and turns each
of the first ``--repair`` of them into a small box (half-width ``--radius`` times the region's
width, clipped to it) with property 8's output condition: one VNN-LIB file per box, written to
a temporary folder with the data file (nothing is written into the repository but the report).
The other violating points are held out. It then runs the user's command::

    nnv run --network ACASXU_run2a_2_9_batch_2000.onnx --property box_000.vnnlib ... \\
        --data data.npz --decision argmin --free-layer 7 --objective l1 --json

and reports what result.json says (status, certification, time, the 255 parameters of layer 7
and how many moved, rounds), and, on the written repaired.onnx: drawdown (the original
network's advisories lost) on the training points, on fresh points of property 8's region and
on points of properties 1, 3 and 4's regions, and generalisation (held-out violating points
fixed). Usage::

    python benchmarks/acasxu_last_layer.py --out benchmarks/results/acasxu_last_layer.md
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.registry import default_registry

ROOT = Path(__file__).resolve().parent.parent
ACASXU = ROOT.parent / "shared" / "benchmarks" / "acasxu"
NETWORK = ACASXU / "ACASXU_run2a_2_9_batch_2000.onnx"
BOUND = re.compile(r"\(assert \((<=|>=) X_(\d+) [-0-9.eE+]+\)\)")


def box_file(text: str, lo: np.ndarray, hi: np.ndarray) -> str:
    """Property 8's VNN-LIB text with its input bounds replaced by the box ``[lo, hi]``."""

    def bound(match: re.Match[str]) -> str:
        index = int(match.group(2))
        value = hi[index] if match.group(1) == "<=" else lo[index]
        return f"(assert ({match.group(1)} X_{index} {value:.17g}))"

    return BOUND.sub(bound, text)


def uniform(prop: Property, count: int, rng: np.random.Generator) -> np.ndarray:
    lo, hi = prop.bounding_box()
    return lo + rng.random((count, lo.size)) * (hi - lo)


def advisories(network: Network, X: np.ndarray) -> np.ndarray:
    return np.asarray(network.activations(X)[-1].argmin(axis=1))


def make_inputs(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    """The repair boxes' files, the data file and the held-out sets, in ``folder``."""
    registry = default_registry()
    network = registry.load_network(NETWORK)
    p8 = registry.load_property(ACASXU / "prop_8.vnnlib")
    rng = np.random.default_rng(args.seed)
    X = uniform(p8, args.samples, rng)
    violating = X[p8.is_unsafe(network.activations(X)[-1])]
    lo, hi = p8.bounding_box()
    half = args.radius * (hi - lo)
    text = (ACASXU / "prop_8.vnnlib").read_text()
    boxes = []
    for index, point in enumerate(violating[: args.repair]):
        path = folder / f"box_{index:03d}.vnnlib"
        path.write_text(box_file(text, np.maximum(point - half, lo), np.minimum(point + half, hi)))
        boxes.append(path)
    train = uniform(p8, args.train, rng)
    train = train[~p8.is_unsafe(network.activations(train)[-1])]
    others = [registry.load_property(ACASXU / f"prop_{k}.vnnlib") for k in (1, 3, 4)]
    held = {
        "p8 region": uniform(p8, args.test, rng),
        "p1, p3, p4 regions": np.vstack([uniform(p, args.test // 3, rng) for p in others]),
    }
    data = folder / "data.npz"
    np.savez(data, X_train=train, y_train=advisories(network, train))
    return {
        "network": network,
        "p8": p8,
        "boxes": boxes,
        "violating": violating,
        "held_out": violating[args.repair :],
        "train": train,
        "held": held,
        "data": data,
    }


def run_nnv(
    boxes: list[Path], data: Path, out: Path, args: argparse.Namespace
) -> tuple[dict, float]:
    command = [
        sys.executable, "-c", "from nnv.cli.main import main; main()", "run",
        "--network", str(NETWORK),
        *[arg for box in boxes for arg in ("--property", str(box))],
        "--data", str(data), "--decision", "argmin", "--free-layer", "7",
        "--objective", args.objective, "--timeout", str(args.timeout),
        "--out", str(out), "--json", "--quiet",
    ]  # fmt: skip
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"nnv run failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout), wall


def measures(inputs: dict, repaired: Network | None) -> dict[str, float]:
    """Drawdown per set (advisories of the original network lost) and generalisation."""
    if repaired is None:
        return {}
    network, p8 = inputs["network"], inputs["p8"]
    found = {}
    sets = {"training points": inputs["train"], **inputs["held"]}
    for name, X in sets.items():
        same = advisories(network, X) == advisories(repaired, X)
        found[f"drawdown, {name} ({X.shape[0]})"] = 100 * (1 - float(same.mean()))
    held_out = inputs["held_out"]
    if held_out.shape[0]:
        fixed = ~p8.is_unsafe(repaired.activations(held_out)[-1])
        found[f"generalisation, held-out violating points ({held_out.shape[0]})"] = 100 * float(
            fixed.mean()
        )
    still = p8.is_unsafe(repaired.activations(inputs["violating"])[-1])
    found["violating samples still violating (all)"] = float(still.sum())
    return found


def report(args: argparse.Namespace, inputs: dict, result: dict, wall: float, out: Path) -> str:
    parameters = result.get("parameters") or {}
    moved = [a for a, c in parameters.items() if c["after"] != c["before"]]
    with (out / "trials.csv").open(newline="") as stream:
        trials = list(csv.DictReader(stream))
    repaired_file = out / "repaired.onnx"
    repaired = default_registry().load_network(repaired_file) if repaired_file.is_file() else None
    rounds = [int(row["rounds"]) for row in trials if row["rounds"]]
    seconds = [float(row["seconds"]) for row in trials]
    synthesis = [row["message"].removeprefix("synthesis: ") for row in trials]
    lines = [
        "# ACAS Xu N2,9 property 8: last-layer repair on violating points",
        "",
        f"Made by `python benchmarks/acasxu_last_layer.py --samples {args.samples} --repair "
        f"{args.repair} --radius {args.radius:g} --train {args.train} --test {args.test} "
        f"--seed {args.seed} --objective {args.objective}` on a shared 2-core "
        "machine. Property 8's region sampled uniformly; each of the first violating points "
        "is a box (half-width radius x the region's width) with property 8's output "
        "condition, one `--property` each; the rest are held out. The command:",
        "",
        "`nnv run --network ACASXU_run2a_2_9_batch_2000.onnx --property box_000.vnnlib ... "
        f"--data data.npz --decision argmin --free-layer 7 --objective {args.objective} --json`",
        "",
        f"- violating samples: {inputs['violating'].shape[0]} of {args.samples}; repair boxes: "
        f"{len(inputs['boxes'])}; training points (non-violating, p8 region): "
        f"{inputs['train'].shape[0]}",
        f"- status: **{result.get('status')}**, certified by {result.get('certified_by')}; "
        f"message: {result.get('message') or '-'}",
        f"- whole command {wall:.1f} s (result.json: {result.get('seconds')} s; the trial "
        f"{seconds} s, rounds {rounds}); synthesis: {'; '.join(m for m in synthesis if m) or '-'}",
        f"- free: {len(result.get('free') or [])} parameters (layer 7), changed: {len(moved)}; "
        f"objective {result.get('objective')}, box used {result.get('max_change_used')}",
    ]
    for name, value in measures(inputs, repaired).items():
        lines.append(f"- {name}: {value:.2f}{'' if 'still' in name else ' %'}")
    lines += ["", "| parameter | before | after |", "|---|---|---|"]
    lines += [
        f"| {a} | {parameters[a]['before']:.6g} | {parameters[a]['after']:.6g} |" for a in moved
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--repair", type=int, default=20, help="violating points repaired")
    parser.add_argument("--radius", type=float, default=1e-4)
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--objective", default="l1", help="nnv run's --objective")
    parser.add_argument("--timeout", type=float, default=900.0)
    default_out = ROOT / "benchmarks/results/acasxu_last_layer.md"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nnv-acasxu-last-"))
    try:
        inputs = make_inputs(args, folder)
        result, wall = run_nnv(inputs["boxes"], inputs["data"], folder / "out", args)
        text = report(args, inputs, result, wall, folder / "out")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
