"""Run `nnv verify` on ACAS Xu instances and compare with the known answers.

Usage (from the repository root):

    python benchmarks/acasxu_sample.py --every 6 --solver highs --timeout 116 \
        --out benchmarks/results/acasxu_every6_highs.md

Each instance runs as its own `nnv verify ... --json` process (the command a user runs), so
the time includes loading. Writes a Markdown table: verdict, expected, time, agreement.
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
ACASXU = ROOT.parent / "shared" / "benchmarks" / "acasxu"


def run_instance(network: Path, prop: Path, solver: str, timeout: float) -> tuple[str, float]:
    command = [
        sys.executable,
        "-c",
        "from nnv.cli.main import main; main()",
        "verify",
        str(network),
        str(prop),
        "--solver",
        solver,
        "--timeout",
        str(timeout),
        "--json",
    ]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return f"error: {done.stderr.strip()[:80]}", seconds
    return json.loads(done.stdout)["status"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=6, help="take every N-th instance")
    parser.add_argument("--solver", default="highs")
    parser.add_argument("--timeout", type=float, default=116.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    with open(ACASXU / "instances.csv", newline="") as stream:
        instances = list(csv.DictReader(stream))[:: args.every]
    rows, times = [], []
    solved = wrong = 0
    for index, instance in enumerate(instances):
        verdict, seconds = run_instance(
            ACASXU / instance["onnx"], ACASXU / instance["vnnlib"], args.solver, args.timeout
        )
        expected = instance["expected"]
        agree = verdict == expected
        solved += agree
        wrong += verdict in ("sat", "unsat") and not agree
        if verdict in ("sat", "unsat"):
            times.append(seconds)
        right = "yes" if agree else ("WRONG" if verdict in ("sat", "unsat") else "-")
        rows.append(
            f"| {instance['onnx']} | {instance['vnnlib']} | {verdict} | {expected} | "
            f"{seconds:.2f} | {right} |"
        )
        print(f"[{index + 1}/{len(instances)}] {rows[-1]}", flush=True)
    median = statistics.median(times) if times else float("nan")
    total = sum(float(row.split("|")[5]) for row in rows)
    header = [
        f"# ACAS Xu: every {args.every}th instance, `nnv verify --solver {args.solver} "
        f"--timeout {args.timeout:g}`",
        "",
        f"Command: `python benchmarks/acasxu_sample.py --every {args.every} --solver "
        f"{args.solver} --timeout {args.timeout:g} --out {args.out}`",
        "",
        f"Solved {solved} of {len(instances)}; wrong answers: {wrong}; median time of solved "
        f"instances: {median:.2f} s; total wall time {total:.0f} s.",
        "",
        "| network | property | verdict | expected | seconds | right |",
        "|---|---|---|---|---|---|",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + rows) + "\n")
    print("\n".join(header[:5]))


if __name__ == "__main__":
    main()
