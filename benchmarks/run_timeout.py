"""Does ``nnv run --timeout S`` end within S plus a few seconds when trials are slower than S?

A greedy search over pairs of the 4-input example (examples/four_input: 12 hidden ReLUs, 1800
training points), whose first-layer pair trials take minutes each without a trial limit. The
whole command is timed from outside (wall time of the process, start-up included) for each
run timeout, and the results folder is checked for result.json. Writes a Markdown table:

    python benchmarks/run_timeout.py --timeouts 20 60 --out benchmarks/results/run_timeout.md
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "four_input"
ALLOWED_OVERRUN = 10.0  # seconds past the run timeout the whole command may take


# extra options per variant: the default engine; the MILP alone for pairs (minutes per pair);
# z3 as the synthesis solver (exact MaxSMT over 1800 points, which overruns its limits)
VARIANTS = {
    "default": [],
    "milp": ["--no-line-synthesis"],
    "z3": ["--solver", "z3"],
}


def run_once(timeout: float, variant: str, out: Path) -> dict[str, object]:
    command = [
        sys.executable, "-c", "from nnv.cli.main import main; main()", "run",
        "--network", str(EXAMPLE / "network.onnx"),
        "--property", str(EXAMPLE / "robust_violated.vnnlib"),
        "--data", str(EXAMPLE / "data.npz"),
        "--search", "greedy", "--max-free", "2", "--layers", "1",
        "--timeout", f"{timeout:g}", "--out", str(out), "--restart", "--json",
        *VARIANTS[variant],
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    written = out / "result.json"
    result = json.loads(written.read_text()) if written.is_file() else {}
    return {
        "variant": variant,
        "timeout": timeout,
        "wall": wall,
        "exit": done.returncode,
        "result_json": bool(result),
        "status": result.get("status"),
        "trials": result.get("trials"),
        "message": result.get("message", done.stderr.strip()[-200:]),
        "within": wall <= timeout + ALLOWED_OVERRUN and bool(result),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeouts", type=float, nargs="+", default=[20.0, 60.0])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/run_timeout.md")
    args = parser.parse_args()
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="nnv-timeout-"))
    try:
        for variant in args.variants:
            for timeout in args.timeouts:
                rows.append(run_once(timeout, variant, folder / f"{variant}{timeout:g}"))
                print(rows[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    timeouts = " ".join(f"{t:g}" for t in args.timeouts)
    lines = [
        "# Whole-run timeout: greedy pair search on examples/four_input",
        "",
        f"Command: `python benchmarks/run_timeout.py --timeouts {timeouts} --variants "
        f"{' '.join(args.variants)}` (each run: `nnv run ... --search greedy --max-free 2 "
        "--layers 1 --timeout S` plus the variant's options, no trial timeout; variants: "
        "default engine, `--no-line-synthesis` (the MILP alone: minutes per pair), `--solver z3`"
        " (exact MaxSMT synthesis, which overruns its limits)).",
        "",
        "| variant | --timeout (s) | wall time of the command (s) | exit | result.json | status "
        "| trials | within S + 10 s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['variant']} | {row['timeout']:g} | {row['wall']:.1f} | {row['exit']} "
            f"| {row['result_json']} | {row['status']} | {row['trials']} "
            f"| {'yes' if row['within'] else 'NO'} |"
        )
    lines += ["", "Messages:", ""]
    lines += [f"- {row['variant']}, {row['timeout']:g} s: {row['message']}" for row in rows]
    args.out.write_text("\n".join(lines) + "\n")
    if not all(row["within"] for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
