"""VNN-COMP families with ``nnv verify`` as a user runs it: one whole process per instance.

Every row of ../shared/benchmarks/vnncomp/instances.csv of the chosen families is run as
``nnv verify NETWORK PROPERTY --timeout T --json`` with the row's timeout, timed from outside
(wall time of the process, start-up and loading included). Each verdict is compared with the
known answer (a ``sat`` or ``unsat`` that disagrees is a wrong verdict, and makes the script
exit 1) and with nnenum's VNN-COMP result in the CSV: instances solved and median time of the
solved ones. Writes a Markdown table with the command:

    python benchmarks/mnist_fc.py --out benchmarks/results/mnist_fc.md
    python benchmarks/mnist_fc.py --families rl_benchmarks tllverifybench \\
        --out benchmarks/results/vnncomp_other.md
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VNNCOMP = ROOT.parent / "shared" / "benchmarks" / "vnncomp"
SOLVED = ("sat", "unsat")


def run_instance(row: dict[str, str]) -> dict[str, object]:
    """One ``nnv verify`` process on one row: verdict, wall time, strategy, right or wrong."""
    timeout = float(row["timeout_s"])
    command = [
        sys.executable, "-c", "from nnv.cli.main import main; main()", "verify",
        str(VNNCOMP / row["onnx"]), str(VNNCOMP / row["vnnlib"]),
        "--timeout", f"{timeout:g}", "--json",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        result = {"status": "error", "message": done.stderr.strip()[-200:]}
    status = str(result["status"])
    return {
        "family": row["family"],
        "network": Path(row["onnx"]).stem,
        "property": Path(row["vnnlib"]).stem,
        "timeout": timeout,
        "expected": row["expected"],
        "status": status,
        "wall": wall,
        "strategy": result.get("strategy", ""),
        "wrong": status in SOLVED and status != row["expected"],
        "nnenum": float(row["nnenum_s"]) if row["nnenum_s"] else None,
    }


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s" if values else "-"


def report(runs: list[dict[str, object]], command: str) -> str:
    """The Markdown table and the summary per family."""
    lines = [
        "# `nnv verify` on VNN-COMP instances",
        "",
        f"Command: `{command}`",
        "",
        "Whole-process wall time on the shared 2-core development machine (start-up, ONNX "
        "loading and torch import included). nnenum's times are from the VNN-COMP results "
        "in instances.csv, on the competition's cloud machines, which were faster than this "
        "one: they are difficulty hints, not a like-for-like timing.",
        "",
        "| family | network | property | expected | nnv | strategy | wall (s) | timeout | "
        "nnenum (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        nnenum = "-" if run["nnenum"] is None else f"{run['nnenum']:.2f}"
        verdict = f"**WRONG: {run['status']}**" if run["wrong"] else run["status"]
        lines.append(
            f"| {run['family']} | {run['network']} | {run['property']} | {run['expected']} | "
            f"{verdict} | {run['strategy']} | {run['wall']:.2f} | {run['timeout']:g} | {nnenum} |"
        )
    lines += ["", "| family | instances | nnv solved | nnv median | nnenum solved | "
              "nnenum median | wrong | most wall - timeout |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for family in dict.fromkeys(str(run["family"]) for run in runs):
        mine = [run for run in runs if run["family"] == family]
        ours = [float(run["wall"]) for run in mine if run["status"] in SOLVED and not run["wrong"]]
        theirs = [float(run["nnenum"]) for run in mine if run["nnenum"] is not None]
        wrong = sum(bool(run["wrong"]) for run in mine)
        over = max(float(run["wall"]) - float(run["timeout"]) for run in mine)
        lines.append(
            f"| {family} | {len(mine)} | {len(ours)} | {median(ours)} | {len(theirs)} | "
            f"{median(theirs)} | {wrong} | {over:+.1f} s |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["mnist_fc"])
    parser.add_argument("--rows", type=int, nargs="*", help="only these rows (0-based)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/mnist_fc.md")
    args = parser.parse_args()
    with (VNNCOMP / "instances.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["family"] in args.families]
    rows = rows if args.rows is None else [rows[index] for index in args.rows]
    runs = []
    for row in rows:
        runs.append(run_instance(row))
        print(json.dumps(runs[-1]), flush=True)
    command = "python benchmarks/mnist_fc.py --families " + " ".join(args.families)
    if args.rows is not None:
        command += " --rows " + " ".join(map(str, args.rows))
    args.out.write_text(report(runs, command + f" --out {args.out.as_posix()}"))
    return 1 if any(run["wrong"] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
