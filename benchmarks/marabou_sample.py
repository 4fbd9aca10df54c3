"""Run Marabou on the same ACAS Xu instances as benchmarks/acasxu_sample.py, for comparison.

Usage (from the repository root, with maraboupy installed: ``pip install -e ".[bench]"``, which
puts the ``Marabou`` command next to the Python):

    python benchmarks/marabou_sample.py --every 6 --timeout 116 \
        --out benchmarks/results/acasxu_every6_marabou.md

Each instance is one ``Marabou NETWORK.onnx PROPERTY.vnnlib --timeout T --verbosity 0``
process with its default options (one worker), timed as a whole like `nnv verify`; the
verdict is the first word of its ``--summary-file``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from acasxu_sample import ACASXU, Row, instances, report


def marabou_command() -> str:
    """The Marabou executable: next to this Python (where pip puts it), else on PATH."""
    beside = Path(sys.executable).parent / "Marabou"
    found = str(beside) if beside.is_file() else shutil.which("Marabou")
    if found is None:
        raise SystemExit("Marabou is not installed: pip install maraboupy")
    return found


def run_marabou(command: str, network: Path, prop: Path, timeout: float) -> tuple[str, float]:
    """(verdict, wall seconds of the whole process)."""
    with tempfile.TemporaryDirectory() as folder:
        summary = Path(folder) / "summary.txt"
        arguments = [command, str(network), str(prop), "--timeout", f"{timeout:g}"]
        arguments += ["--verbosity", "0", "--summary-file", str(summary)]
        start = time.perf_counter()
        try:
            subprocess.run(arguments, capture_output=True, text=True, timeout=timeout + 60)
        except subprocess.TimeoutExpired:
            return "timeout", time.perf_counter() - start
        seconds = time.perf_counter() - start
        words = summary.read_text().split() if summary.is_file() else []
    verdict = words[0].lower() if words else "error"
    return (verdict if verdict in ("sat", "unsat", "timeout") else "unknown"), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=6, help="take every N-th instance")
    parser.add_argument("--timeout", type=float, default=116.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--plot", type=Path, help="also write a cactus plot (PNG) here")
    args = parser.parse_args()

    command = marabou_command()
    chosen = instances(args.every)
    rows: list[Row] = []
    for index, instance in enumerate(chosen):
        network, prop = ACASXU / instance["onnx"], ACASXU / instance["vnnlib"]
        verdict, seconds = run_marabou(command, network, prop, args.timeout)
        rows.append(
            Row(instance["onnx"], instance["vnnlib"], verdict, instance["expected"], seconds)
        )
        print(
            f"[{index + 1}/{len(chosen)}] {instance['onnx']} {instance['vnnlib']} {verdict} "
            f"({instance['expected']}) {seconds:.2f} s",
            flush=True,
        )
    which = "all instances" if args.every == 1 else f"every {args.every}th instance"
    version = subprocess.run([command, "--version"], capture_output=True, text=True).stdout
    title = (
        f"ACAS Xu, {which}: Marabou {version.split()[2] if version.split() else ''} "
        f"(default options, one worker), --timeout {args.timeout:g}"
    )
    line = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    print(report(title, line, rows, args.out, args.plot))


if __name__ == "__main__":
    main()
