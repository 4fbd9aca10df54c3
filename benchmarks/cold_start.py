"""Whole-process wall time of `nnv --help` and of `nnv verify` on ACAS Xu instances.

Usage (from the repository root):

    python benchmarks/cold_start.py --repeat 5 --every 1 --out benchmarks/results/cold_start.md

Each measurement is one `nnv` process, started as a user starts it (the installed entry point
found beside this interpreter, else `python -m nnv.cli`), timed by its wall clock from spawn
to exit: start-up, imports, loading and verification. `nnv --help` is run ``--repeat`` times;
each instance of ``--every``-th row of acasxu/instances.csv too. The medians are reported,
and every verdict is checked against the CSV's answer (a wrong one fails the script). Beside
the wall time, the process's CPU time (user + system, from the kernel's accounting of the
child) is reported: on shared cores the wall time grows with the others' load, the CPU time
much less. Where /usr/bin/time exists each process is started under it, and its elapsed time
(0.01 s resolution) is reported too.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACASXU = ROOT.parent / "shared" / "benchmarks" / "acasxu"


def _nnv() -> list[str]:
    beside = Path(sys.executable).parent / "nnv"
    found = str(beside) if beside.exists() else shutil.which("nnv")
    return [found] if found else [sys.executable, "-m", "nnv.cli"]


def _cpu() -> float:
    """User + system seconds of the children waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


TIME = Path("/usr/bin/time")


def _timed(command: list[str]) -> tuple[float, float, str, float | None]:
    """Wall seconds, CPU seconds and stdout of one process, and the elapsed seconds
    /usr/bin/time reports for it (None without it): the process is started under it."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "time.txt"
        timed = [str(TIME), "-f", "%e", "-o", str(report), *command] if TIME.exists() else command
        cpu, started = _cpu(), time.perf_counter()
        done = subprocess.run(timed, capture_output=True, text=True, timeout=300)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()}")
        elapsed = float(report.read_text().split()[-1]) if report.is_file() else None
    return seconds, cpu, done.stdout, elapsed


def _median_of(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):.2f}" if known else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--every", type=int, default=1, help="every k-th ACAS Xu row")
    parser.add_argument("--timeout", type=float, default=116)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cold_start.md")
    args = parser.parse_args()
    nnv = _nnv()
    load = os.getloadavg()[0]
    helps = [_timed([*nnv, "--help"]) for _ in range(args.repeat)]
    with (ACASXU / "instances.csv").open() as stream:
        rows = list(csv.DictReader(stream))[:: args.every]
    medians, cpus, elapsed, wrong = [], [], [], []
    for row in rows:
        command = [*nnv, "verify", str(ACASXU / row["onnx"]), str(ACASXU / row["vnnlib"]),
                   "--timeout", str(args.timeout)]  # fmt: skip
        runs = [_timed(command) for _ in range(args.repeat)]
        verdicts = {out.split("\n", 1)[0] for _, _, out, _ in runs}
        if verdicts != {row["expected"]}:
            wrong.append(f"{row['onnx']} {row['vnnlib']}: {sorted(verdicts)}")
        medians.append(statistics.median(run[0] for run in runs))
        cpus.append(statistics.median(run[1] for run in runs))
        elapsed.append(statistics.median(run[3] for run in runs) if TIME.exists() else None)
    lines = [
        "# Cold start: whole-process wall time",
        "",
        f"Command: `python benchmarks/cold_start.py --repeat {args.repeat} --every "
        f"{args.every}` ({os.cpu_count()} cores; load average at the start {load:.2f}, at "
        f"the end {os.getloadavg()[0]:.2f}).",
        "",
        "| measurement | runs | median wall s | median CPU s | median /usr/bin/time s |",
        "|---|---|---|---|---|",
        f"| `nnv --help` | {len(helps)} | {statistics.median(h[0] for h in helps):.3f} | "
        f"{statistics.median(h[1] for h in helps):.3f} | {_median_of([h[3] for h in helps])} |",
        f"| `nnv verify` ACAS Xu, median over {len(rows)} instances of each instance's "
        f"median of {args.repeat} | {len(rows) * args.repeat} | "
        f"{statistics.median(medians):.3f} | {statistics.median(cpus):.3f} | "
        f"{_median_of(elapsed)} |",
        "",
        f"Verdicts: {len(rows) - len(wrong)} of {len(rows)} right"
        + ("." if not wrong else "; WRONG: " + "; ".join(wrong)),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if wrong:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
