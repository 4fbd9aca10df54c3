"""VNN-COMP families with the batch command, summarised in benchmarks/results/vnncomp.md.

Runs ``nnv verify --instances CSV --out DIR`` (each instance in its own process, whole-process
wall time, VNN-COMP result files, results.csv, cactus.png) on the rows of
../shared/benchmarks/vnncomp/instances.csv of the chosen families, then writes the counts per
family (right, wrong, timeout, median time) next to the competition tools' counts from the CSV,
and copies the batch's cactus plot (``--redraw``: only draws it again from OUT's files).

    python benchmarks/vnncomp.py --families eran collins_rul_cnn verivital oval21 \
        --out runs/vnncomp --report benchmarks/results/vnncomp.md
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from nnv.cli.cactus import batch_cactus
from nnv.core.run.batch import read_records
from nnv.core.run.instances import read_instances

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "benchmarks" / "vnncomp" / "instances.csv"
TOOLS = ("nnenum", "abcrown", "marabou")


def chosen_rows(families: list[str] | None) -> list[dict[str, str]]:
    with SOURCE.open() as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if families is None or row["family"] in families]


def write_subset(rows: list[dict[str, str]], out: Path) -> Path:
    """The chosen rows as a CSV beside the benchmark's (paths made absolute)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "instances.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "onnx": str(SOURCE.parent / row["onnx"]),
                             "vnnlib": str(SOURCE.parent / row["vnnlib"])})  # fmt: skip
    return path


def tool_counts(rows: list[dict[str, str]]) -> dict[str, dict[str, tuple[int, float | None]]]:
    """Per family and tool: instances solved in the competition and their median time."""
    times: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        for tool in TOOLS:
            value = row.get(f"{tool}_s", "")
            if value not in ("", "-"):
                times[row["family"]][tool].append(float(value))
    return {
        family: {t: (len(v), statistics.median(v) if v else None) for t, v in tools.items()}
        for family, tools in times.items()
    }


def report(results: Path, rows: list[dict[str, str]], command: str, scale: float) -> str:
    with results.open() as handle:
        done = list(csv.DictReader(handle))
    by_family: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in done:
        by_family[row["family"]].append(row)
    tools = tool_counts(rows)
    lines = [
        "# VNN-COMP families with `nnv verify --instances`",
        "",
        f"Command: `{command}`",
        "",
        "Whole-process wall time of each instance on the shared 2-core development machine "
        f"(timeouts scaled by {scale:g}). The competition tools' counts and medians come from "
        "instances.csv (their hardware, faster than this machine): difficulty hints, not a "
        "like-for-like timing.",
        "",
        "| family | instances | right | wrong | timeout/unknown | nnv median (s) | "
        + " | ".join(f"{t} solved (median s)" for t in TOOLS) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(TOOLS),
    ]
    for family, items in sorted(by_family.items()):
        right = [r for r in items if r["check"] == "right"]
        wrong = [r for r in items if r["check"] == "wrong"]
        median = statistics.median(float(r["time"]) for r in right) if right else None
        cells = []
        for tool in TOOLS:
            count, tool_median = tools.get(family, {}).get(tool, (0, None))
            cells.append(f"{count}" + ("" if tool_median is None else f" ({tool_median:.1f})"))
        lines.append(
            f"| {family} | {len(items)} | {len(right)} | {len(wrong)} | "
            f"{len(items) - len(right) - len(wrong)} | "
            f"{'-' if median is None else f'{median:.2f}'} | " + " | ".join(cells) + " |"
        )
    lines += ["", "![cactus](vnncomp_cactus.png)", "", "| family | network | property | expected "
              "| nnv | time (s) |", "|---|---|---|---|---|---|"]  # fmt: skip
    for row in done:
        lines.append(
            f"| {row['family']} | {Path(row['network']).name} | {Path(row['property']).name} | "
            f"{row['expected']} | {row['verdict']} | {float(row['time']):.2f} |"
        )
    return "\n".join(lines) + "\n"


def redraw(out: Path, path: Path) -> None:
    """The batch's cactus drawn again from its results.csv and instances.csv, running nothing
    (the batch would run every row again once nnv's code has changed)."""
    records = sorted(read_records(out / "batch").values(), key=lambda record: record.line)
    batch_cactus(records, read_instances(out / "instances.csv"), path)
    print(f"drew {path} from the {len(records)} rows of {out / 'batch' / 'results.csv'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", help="families to run (default: all)")
    parser.add_argument("--out", type=Path, default=Path("runs/vnncomp"))
    parser.add_argument("--report", type=Path, default=ROOT / "benchmarks/results/vnncomp.md")
    parser.add_argument("--timeout-scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redraw", action="store_true",
                        help="only draw the cactus again from OUT/batch/results.csv")  # fmt: skip
    args = parser.parse_args()
    if args.redraw:
        redraw(args.out, args.report.parent / "vnncomp_cactus.png")
        return
    rows = chosen_rows(args.families)
    subset = write_subset(rows, args.out)
    command = [sys.executable, "-m", "nnv.cli", "verify", "--instances", str(subset),
               "--out", str(args.out / "batch"), "--workers", str(args.workers),
               "--timeout-scale", str(args.timeout_scale)]  # fmt: skip
    subprocess.run(command, check=False)
    shown = "python benchmarks/vnncomp.py " + " ".join(sys.argv[1:])
    text = report(args.out / "batch" / "results.csv", rows, shown, args.timeout_scale)
    args.report.write_text(text)
    cactus = args.out / "batch" / "cactus.png"
    if cactus.is_file():
        shutil.copyfile(cactus, args.report.parent / "vnncomp_cactus.png")
    print(text)


if __name__ == "__main__":
    main()
