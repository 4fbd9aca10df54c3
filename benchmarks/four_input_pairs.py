"""Per-trial times of a greedy pair search on the 4-input example (issue 16's must-show).

examples/four_input is a 4-12-3 ReLU classifier (12 hidden ReLUs) with 1800 training points,
and its first-layer pair trials took minutes each (the MILP over 1800 points). Each variant
runs the user's command as a subprocess::

    nnv run --network examples/four_input/network.onnx \\
        --property examples/four_input/robust_violated.vnnlib \\
        --data examples/four_input/data.npz --search greedy --max-free 2 [--layers 1]

and reads every trial's time, status and synthesis message from its trials.csv. Writes a
Markdown report with one row per trial, and exits 1 if a trial took more than the limit
(default 10 s)::

    python benchmarks/four_input_pairs.py --out benchmarks/results/four_input_pairs.md
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "four_input"
VARIANTS = {"all layers": [], "first layer": ["--layers", "1"]}


def command(extra: list[str], out: Path) -> list[str]:
    return [
        "nnv", "run",
        "--network", str(EXAMPLE / "network.onnx"),
        "--property", str(EXAMPLE / "robust_violated.vnnlib"),
        "--data", str(EXAMPLE / "data.npz"),
        "--search", "greedy", "--max-free", "2", *extra,
        "--out", str(out), "--restart", "--json",
    ]  # fmt: skip


def run_variant(name: str, extra: list[str], folder: Path) -> dict[str, object]:
    out = folder / name.replace(" ", "_")
    args = command(extra, out)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", "from nnv.cli.main import main; main()", *args[1:]],
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    result = json.loads(done.stdout) if done.returncode in (0, 1) and done.stdout else {}
    with (out / "trials.csv").open(newline="") as stream:
        trials = list(csv.DictReader(stream))
    shown = " ".join(command(extra, Path("OUT"))[:-4]).replace(str(ROOT) + "/", "")
    return {"name": name, "command": shown, "wall": wall, "result": result, "trials": trials}


def report(variants: list[dict[str, object]], limit: float) -> tuple[str, bool]:
    lines = [
        "# Greedy pair search on examples/four_input: time per trial",
        "",
        "Made by `python benchmarks/four_input_pairs.py` (one `nnv run` subprocess per variant, "
        "default workers: one per core, on a 2-core machine). Each trial's seconds are its "
        "own (synthesis, verification, certification), from trials.csv. A message says how "
        "synthesis found a repair that is not a proved optimum; no message: proved (the "
        f"exact line for one parameter, the exact plane for two of one neuron, or the MILP "
        f"within its time box). Limit per trial: {limit:g} s.",
        "",
    ]
    within = True
    for variant in variants:
        trials = variant["trials"]
        assert isinstance(trials, list)
        result = variant["result"]
        assert isinstance(result, dict)
        seconds = [float(row["seconds"]) for row in trials]
        pairs = [row for row in trials if "," in row["free"]]
        slowest = max(seconds, default=0.0)
        within &= slowest <= limit
        lines += [
            f"## {variant['name']}",
            "",
            f"`{variant['command']}`",
            "",
            f"- {len(trials)} trials ({len(trials) - len(pairs)} singles, {len(pairs)} pairs), "
            f"whole command {variant['wall']:.1f} s; slowest trial {slowest:.2f} s "
            f"({'within' if slowest <= limit else 'OVER'} {limit:g} s); slowest pair "
            f"{max((float(r['seconds']) for r in pairs), default=0.0):.2f} s",
            f"- result: {result.get('status')}, free {result.get('free')}, weighted accuracy "
            f"{(result.get('accuracy_after') or {}).get('weighted')}",
            "",
            "| free | status | kept | weighted accuracy | seconds | rounds | synthesis |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in sorted(trials, key=lambda r: (r["free"].count(","), -float(r["seconds"]))):
            accuracy = f"{float(row['accuracy']):.4f}" if row["accuracy"] else "-"
            message = row["message"].removeprefix("synthesis: ")
            lines.append(
                f"| {row['free']} | {row['status']} | {row['kept'] or '-'} | {accuracy} "
                f"| {float(row['seconds']):.2f} | {row['rounds']} | {message} |"
            )
        lines.append("")
    return "\n".join(lines), within


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=10.0, help="seconds per trial")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/four_input_pairs.md")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nnv-four-input-"))
    try:
        variants = [run_variant(name, VARIANTS[name], folder) for name in args.variants]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    text, within = report(variants, args.limit)
    args.out.write_text(text)
    print(text)
    if not within:
        sys.exit(1)


if __name__ == "__main__":
    main()
