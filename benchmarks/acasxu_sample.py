"""Run `nnv verify` on ACAS Xu instances and compare with the known answers.

Usage (from the repository root):

    python benchmarks/acasxu_sample.py --every 6 --solver highs --timeout 116 \
        --out benchmarks/results/acasxu_every6_highs.md
    python benchmarks/acasxu_sample.py --every 1 --timeout 116 \
        --out benchmarks/results/acasxu_all.md --plot benchmarks/results/acasxu_all.png

Each instance runs as its own `nnv verify ... --json` process (the command a user runs), so
the time includes start-up and loading; the in-process verification time is reported beside
it. Writes a Markdown table (verdict, expected, seconds, agreement) and, with ``--plot``, a
cactus plot: instances solved against the time each took, fastest first. ``--redraw`` draws
the plot again from an existing report (``--out``), running nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACASXU = ROOT.parent / "shared" / "benchmarks" / "acasxu"


@dataclass(frozen=True)
class Row:
    """One instance's outcome; ``inner`` is the verifier's own time when it reports one."""

    network: str
    prop: str
    verdict: str
    expected: str
    seconds: float
    inner: float | None = None

    @property
    def right(self) -> bool:
        return self.verdict == self.expected

    @property
    def wrong(self) -> bool:
        return self.verdict in ("sat", "unsat") and not self.right


def instances(every: int) -> list[dict[str, str]]:
    """Every ``every``-th row of the competition's instances.csv."""
    with open(ACASXU / "instances.csv", newline="") as stream:
        return list(csv.DictReader(stream))[::every]


def run_nnv(
    network: Path, prop: Path, solver: str, strategy: str, timeout: float
) -> tuple[str, float, float | None]:
    """(verdict, wall seconds of the whole process, seconds inside the verifier)."""
    command = [
        sys.executable,
        "-c",
        "from nnv.cli.main import main; main()",
        "verify",
        str(network),
        str(prop),
        "--solver",
        solver,
        "--strategy",
        strategy,
        "--timeout",
        str(timeout),
        "--json",
    ]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, None
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return f"error: {done.stderr.strip()[:80]}", seconds, None
    result = json.loads(done.stdout)
    return result["status"], seconds, result["seconds"]


def report(title: str, command: str, rows: list[Row], out: Path, plot: Path | None) -> str:
    """Write the Markdown table (and the cactus plot); returns the summary line."""
    times = [row.seconds for row in rows]
    solved = [row.seconds for row in rows if row.right]
    inner = [row.inner for row in rows if row.inner is not None]
    summary = (
        f"Solved {len(solved)} of {len(rows)}; wrong answers: {sum(r.wrong for r in rows)}; "
        f"median wall time per instance {statistics.median(times):.2f} s "
        f"(of solved instances {statistics.median(solved) if solved else float('nan'):.2f} s); "
        f"max {max(times):.2f} s; total wall time {sum(times):.0f} s."
    )
    if inner:
        overhead = statistics.median(r.seconds - r.inner for r in rows if r.inner is not None)
        summary += (
            f" Median time inside the verifier {statistics.median(inner):.2f} s; median "
            f"start-up and loading {overhead:.2f} s."
        )
    lines = [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        summary,
        "",
        "| network | property | verdict | expected | seconds | right |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        right = "yes" if row.right else ("WRONG" if row.wrong else "-")
        lines.append(
            f"| {row.network} | {row.prop} | {row.verdict} | {row.expected} | "
            f"{row.seconds:.2f} | {right} |"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    if plot is not None:
        cactus(title, rows, plot)
    return summary


def cactus(title: str, rows: list[Row], path: Path) -> None:
    """Instances answered right (y) within a time (x), the usual way to compare verifiers."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    solved = sorted(row.seconds for row in rows if row.right)
    wrong = sum(row.wrong for row in rows)
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = figure.subplots()
    label = f"answered right: {len(solved)} of {len(rows)} ({wrong} wrong)"
    ax.step(solved, range(1, len(solved) + 1), where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("wall time per instance, whole process (s, log scale)")
    ax.set_ylabel("instances answered right within that time")
    ax.set_title(title, fontsize=9)
    ax.axhline(len(rows), color="grey", linestyle=":", linewidth=0.8, label="all instances")
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(loc="lower right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def read_report(path: Path) -> tuple[str, list[Row]]:
    """The title and rows of a report this script wrote (to draw its plot again)."""
    lines = path.read_text().splitlines()
    rows = []
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 6 and cells[4].replace(".", "", 1).isdigit():
            rows.append(Row(cells[0], cells[1], cells[2], cells[3], float(cells[4])))
    return lines[0].removeprefix("# "), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=6, help="take every N-th instance")
    parser.add_argument("--solver", default="highs")
    parser.add_argument("--strategy", default="bab", choices=["bab", "milp"])
    parser.add_argument("--timeout", type=float, default=116.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--plot", type=Path, help="also write a cactus plot (PNG) here")
    parser.add_argument("--redraw", action="store_true", help="only draw --plot from --out")
    args = parser.parse_args()
    if args.redraw:
        title, rows = read_report(args.out)
        cactus(title, rows, args.plot)
        print(f"drew {args.plot} from the {len(rows)} rows of {args.out}")
        return

    chosen = instances(args.every)
    rows: list[Row] = []
    for index, instance in enumerate(chosen):
        verdict, seconds, inner = run_nnv(
            ACASXU / instance["onnx"],
            ACASXU / instance["vnnlib"],
            args.solver,
            args.strategy,
            args.timeout,
        )
        rows.append(
            Row(instance["onnx"], instance["vnnlib"], verdict, instance["expected"], seconds, inner)
        )
        print(
            f"[{index + 1}/{len(chosen)}] {instance['onnx']} {instance['vnnlib']} {verdict} "
            f"({instance['expected']}) {seconds:.2f} s",
            flush=True,
        )
    which = "all instances" if args.every == 1 else f"every {args.every}th instance"
    title = (
        f"ACAS Xu, {which}: `nnv verify --solver {args.solver} --strategy {args.strategy} "
        f"--timeout {args.timeout:g}`"
    )
    command = "python " + " ".join(
        [Path(sys.argv[0]).as_posix(), *(f'"{a}"' if " " in a else a for a in sys.argv[1:])]
    )
    print(report(title, command, rows, args.out, args.plot))


if __name__ == "__main__":
    main()
