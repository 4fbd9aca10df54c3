"""nnv against the repair paper's Tables 4 and 5 (a Markdown table and a PNG chart) and its
Table 6 (the naive retraining baseline against repair, a Markdown table).

Reads the run folders that ``nnv run benchmarks/configs/NAME.toml`` writes (``runs/NAME``,
the folder named as the config) and the paper's figures in
``../shared/benchmarks/nnsynth/paper_results.json``::

    python benchmarks/report.py --runs runs --out benchmarks/results/tables45
    python benchmarks/report.py --runs runs --table6 benchmarks/results/table6

write ``tables45.md`` and ``tables45.png``, and ``table6.md`` (both at once if both options
are given). A config not run yet is reported as "not run". ``--chart-from
benchmarks/results/tables45.md`` draws tables45.png again from the report's table alone.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)

PAPER = Path(__file__).resolve().parents[2] / "shared/benchmarks/nnsynth/paper_results.json"
XOR_B = "xor_b_table4_samples_1562"
BLOBS = "blobs_table5_samples_6000"
STATUSES = ("repaired", "not_repaired", "timeout", "error")
NOT_RUN = "not run"
DASH = "—"


@dataclass(frozen=True)
class Block:
    """One config (its run folder has the same name) and the paper block it reproduces."""

    run: str
    label: str
    paper: tuple[str, int]  # (table in paper_results.json, index of the block in it)
    target: float | None = None  # issue 4's goal for the best weighted accuracy, percent
    singles_paper: tuple[str, int] | None = None  # runs with pairs: the paper's singles block


BLOCKS = (
    Block("xor_b_p1_singles", "XOR-B p1 singles", (XOR_B, 0)),
    Block("xor_b_p1_pairs", "XOR-B p1 singles+pairs", (XOR_B, 1), 99.16, (XOR_B, 0)),
    Block("xor_b_p2_singles", "XOR-B p2 singles", (XOR_B, 2), 99.22),
    Block("xor_b_p12_singles", "XOR-B p1+2 singles", (XOR_B, 3)),
    Block("xor_b_p12_pairs", "XOR-B p1+2 singles+pairs", (XOR_B, 4), 97.25, (XOR_B, 3)),
    Block("blobs_p1_singles", "Blobs p1 singles", (BLOBS, 0), 99.40),
    Block("blobs_p2_singles", "Blobs p2 singles", (BLOBS, 1)),
    Block("blobs_p12_greedy_pairs", "Blobs p1+2 greedy pairs", (BLOBS, 2), 99.46),
)
SOLVER_RUNS = ("blobs_p1_five_default", "blobs_p1_five_z3_quantified")


@dataclass(frozen=True)
class Trial:
    """One row of a run's trials.csv."""

    free: tuple[str, ...]
    status: str
    accuracy: float | None  # weighted, percent; None unless repaired
    seconds: float


@dataclass(frozen=True)
class Figures:
    """What the table shows for one side (nnv or the paper) of a row."""

    trials: int
    best: float | None
    mean: float | None
    counts: str
    seconds: float  # nnv: summed over the trials; paper: summed over the threshold rows
    wall: float | None = None  # nnv: result.json's seconds (None while unfinished)


@dataclass(frozen=True)
class Row:
    """One line of the table: nnv's figures and the paper's for the same block."""

    label: str
    nnv: Figures | None  # None: not run
    paper: Figures


# -- reading ----------------------------------------------------------------------------------


def read_trials(folder: Path) -> list[Trial] | None:
    """The trials of a run folder, or None when it has no trials.csv."""
    path = folder / "trials.csv"
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as file:
        return [
            Trial(
                free=tuple(row["free"].split(",")),
                status=row["status"],
                accuracy=100 * float(row["accuracy"]) if row["accuracy"] else None,
                seconds=float(row["seconds"]),
            )
            for row in csv.DictReader(file)
        ]


def read_wall_seconds(folder: Path) -> float | None:
    """The run's wall time from result.json, or None while it has none (unfinished)."""
    path = folder / "result.json"
    if not path.is_file():
        return None
    return float(json.loads(path.read_text(encoding="utf-8"))["seconds"])


# -- figures ----------------------------------------------------------------------------------


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def nnv_figures(trials: list[Trial], wall: float | None) -> Figures:
    """Best and mean accuracy over the repaired trials, counts per status, times."""
    accuracies = [t.accuracy for t in trials if t.status == "repaired" and t.accuracy is not None]
    counts = Counter(t.status for t in trials)
    return Figures(
        trials=len(trials),
        best=max(accuracies, default=None),
        mean=mean(accuracies),
        counts=" / ".join(str(counts[s]) for s in STATUSES),
        seconds=sum(t.seconds for t in trials),
        wall=wall,
    )


def paper_figures(block: dict[str, Any]) -> Figures:
    """The paper's block over its threshold rows: best and mean of the rows' max, sums."""
    rows = block["rows"]
    maxima = [row["max"] for row in rows if row["max"] is not None]
    counts = " / ".join(paper_count(rows, key) for key in ("sat", "unsat", "timeout"))
    return Figures(
        trials=block["trials"],
        best=max(maxima, default=None),
        mean=mean(maxima),
        counts=counts,
        seconds=sum(row["seconds"] for row in rows),
    )


def paper_count(rows: list[dict[str, Any]], key: str) -> str:
    """A count summed over the rows; "≥ n" when some rows do not report it, "n/r" if none do."""
    reported = [row[key] for row in rows if key in row]
    if not reported:
        return "n/r"
    prefix = "" if len(reported) == len(rows) else "≥ "
    return f"{prefix}{sum(reported)}"


def block_rows(block: Block, runs: Path, paper: dict[str, Any]) -> list[Row]:
    """The block's row, and for runs with pairs a row for their singles alone."""
    folder = runs / block.run
    trials = read_trials(folder)
    nnv = None if trials is None else nnv_figures(trials, read_wall_seconds(folder))
    rows = [Row(block.label, nnv, paper_figures(paper_block(paper, block.paper)))]
    if block.singles_paper is not None:
        singles = None if trials is None else [t for t in trials if len(t.free) == 1]
        nnv = None if singles is None else nnv_figures(singles, None)
        paper_singles = paper_figures(paper_block(paper, block.singles_paper))
        rows.append(Row(f"{block.label}: singles only", nnv, paper_singles))
    return rows


def paper_block(paper: dict[str, Any], where: tuple[str, int]) -> dict[str, Any]:
    table, index = where
    return paper[table][index]


# -- Markdown ---------------------------------------------------------------------------------


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def seconds_text(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


COLUMNS = (
    "block",
    "trials (nnv / paper)",
    "nnv best %",
    "nnv mean %",
    "nnv repaired / not / timeout / error",
    "nnv wall s / summed trial s",
    "paper best %",
    "paper mean of rows' max %",
    "paper sat / unsat / timeout",
    "paper summed s",
)


def table(rows: list[Row]) -> list[str]:
    lines = [markdown_row(COLUMNS), markdown_row(["---"] * len(COLUMNS))]
    for row in rows:
        paper = row.paper
        cells = [row.label, *nnv_cells(row.nnv, paper.trials), percent(paper.best)]
        cells += [percent(paper.mean), paper.counts, seconds_text(paper.seconds)]
        lines.append(markdown_row(cells))
    return lines


def nnv_cells(nnv: Figures | None, paper_trials: int) -> list[str]:
    if nnv is None:
        return [f"{NOT_RUN} / {paper_trials}", DASH, DASH, DASH, DASH]
    wall = DASH if nnv.wall is None else seconds_text(nnv.wall)
    return [
        f"{nnv.trials} / {paper_trials}",
        percent(nnv.best),
        percent(nnv.mean),
        nnv.counts,
        f"{wall} / {seconds_text(nnv.seconds)}",
    ]


def markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def targets(rows: dict[str, Row]) -> list[str]:
    """Issue 4's goal per block, and whether the run's best accuracy meets it."""
    lines = []
    for block in BLOCKS:
        if block.target is None:
            continue
        row = rows[block.label]
        if row.nnv is None:
            verdict = NOT_RUN
        elif row.nnv.best is None:
            verdict = "not met (nothing repaired)"
        else:
            verdict = f"{'met' if row.nnv.best >= block.target else 'not met'} ({row.nnv.best:.2f})"
        if row.nnv is not None and row.nnv.wall is None:
            verdict += ", run unfinished"
        lines.append(f"- {block.label}: best >= {block.target:.2f}%: {verdict}")
    return lines


def solver_comparison(runs: Path) -> list[str]:
    """The five Blobs p1 sets under the defaults and under z3's quantified mode, per trial."""
    found = {name: read_trials(runs / name) for name in SOLVER_RUNS}
    missing = [name for name, trials in found.items() if trials is None]
    default, quantified = found.values()
    if default is None or quantified is None:
        return [f"{NOT_RUN}: {', '.join(missing)}"]
    by_set = {t.free: t for t in quantified}
    columns = [
        "free",
        *(f"{run} {what}" for run in ("default", "z3 quantified") for what in ("status", "s", "%")),
    ]
    lines = [markdown_row(columns), markdown_row(["---"] * len(columns))]
    for trial in default:
        cells = [",".join(trial.free), *trial_cells(trial), *trial_cells(by_set.get(trial.free))]
        lines.append(markdown_row(cells))
    fast, slow = (sum(t.seconds for t in trials) for trials in (default, quantified))
    ratio = f"{slow / fast:.1f}x" if fast > 0 else DASH
    lines += [
        "",
        f"Summed seconds: default {seconds_text(fast)}, z3 quantified {seconds_text(slow)}; "
        f"speed-up of the default (z3 quantified / default): {ratio}.",
    ]
    return lines


def trial_cells(trial: Trial | None) -> list[str]:
    if trial is None:
        return [NOT_RUN, DASH, DASH]
    return [trial.status, f"{trial.seconds:.2f}", percent(trial.accuracy)]


def markdown(rows: list[Row], runs: Path, chart: Path, command: str) -> str:
    by_label = {row.label: row for row in rows}
    lines = [
        "# nnv against Cohen & Strichman, Tables 4 and 5",
        "",
        f"Made by `{command}` on {datetime.date.today().isoformat()}, from the run folders in "
        f"`{runs}`. Machine: 2-core machine.",
        "",
        "Accuracy is weighted over train, test and sampled points (percent). nnv runs each "
        "block once (most soft constraints kept; 60 s per trial and max_change 10, except XOR-B "
        "p1+2 singles+pairs: 30 s and max_change 100, see its config); the paper's figures are "
        "over its threshold rows (600 s per trial): best and mean of each row's max, counts and "
        "seconds summed over the rows (≥: some rows do not report the count; n/r: none do). "
        "A wall time of — means the run has not finished (no result.json yet). "
        'A row "singles only" takes the one-parameter trials of the run above it. Blobs '
        "p1+2: the paper paired the top-5 singles of each property; nnv's greedy search grows "
        "pairs from the 5 best singles for both properties at once.",
        "",
        *table(rows),
        "",
        "## Targets (issue 4)",
        "",
        *targets(by_label),
        "",
        "## Blobs p1, five single parameters: defaults against z3 quantified",
        "",
        *solver_comparison(runs),
        "",
        f"![best accuracy and time, nnv against the paper]({chart.name})",
        "",
    ]
    return "\n".join(lines)


# -- chart ------------------------------------------------------------------------------------


def chart(rows: list[Row], path: Path) -> None:
    """Best accuracy (bars, nnv and paper) and time (log scale: nnv wall, paper summed)."""
    labels = [row.label.replace(" ", "\n", 1) for row in rows]
    nnv_best = [nan_if_none(row.nnv.best if row.nnv else None) for row in rows]
    paper_best = [nan_if_none(row.paper.best) for row in rows]
    nnv_time = [nan_if_none(row.nnv.wall if row.nnv else None) for row in rows]
    paper_time = [row.paper.seconds for row in rows]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8.4), sharex=True)
    grouped_bars(top, nnv_best, paper_best)
    finite = [v for v in nnv_best + paper_best if not math.isnan(v)]
    top.set_ylim(max(0.0, min(finite, default=0.0) - 2), 100)
    top.set_title("best weighted accuracy of a repair (train, test and sampled points; higher "
                  "is better)", fontsize=10)  # fmt: skip
    top.set_ylabel("weighted accuracy (%)")
    handles, names = top.get_legend_handles_labels()
    figure.legend(handles, names, loc="lower center", ncols=2, fontsize=9)
    grouped_bars(bottom, nnv_time, paper_time)
    bottom.set_yscale("log")
    bottom.set_title("time: nnv's wall time for the whole block (2 cores) against the paper's "
                     "solver time summed over its rows (lower is better)", fontsize=10)  # fmt: skip
    bottom.set_ylabel("seconds (log scale)")
    bottom.set_xticks(range(len(labels)), labels, fontsize=8)
    figure.suptitle("nnv against Cohen & Strichman, Tables 4 and 5 (a missing bar: not run)")
    figure.tight_layout(rect=(0, 0.04, 1, 1))  # room for the legend below
    figure.savefig(path, dpi=120)
    plt.close(figure)


def grouped_bars(axes: Any, nnv: list[float], paper: list[float]) -> None:
    positions = range(len(nnv))
    axes.bar([p - 0.2 for p in positions], nnv, width=0.4, label="nnv")
    axes.bar([p + 0.2 for p in positions], paper, width=0.4, label="paper (Cohen & Strichman)")
    axes.grid(axis="y", alpha=0.3)


def rows_from_report(path: Path) -> list[Row]:
    """The chart's rows read back from the table of a tables45.md this script wrote (the
    first row of each block), to draw the chart again without the run folders."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != len(COLUMNS) or cells[0] in (COLUMNS[0], "---") or ":" in cells[0]:
            continue
        paper = Figures(0, number(cells[6]), None, "", number(cells[9]) or 0.0)
        ran = not cells[1].startswith(NOT_RUN)
        nnv = Figures(0, number(cells[2]), None, "", 0.0, number(cells[5].split("/")[0]))
        rows.append(Row(cells[0], nnv if ran else None, paper))
    return rows


def number(text: str) -> float | None:
    """A figure of the table; None for a dash."""
    text = text.strip()
    return None if text in (DASH, "") else float(text)


def nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


# -- Table 6: the retraining baseline ------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One (network, property set) of the paper's Table 6 and the runs that answer it."""

    label: str
    network: str  # key in paper_results.json
    properties: str  # "1", "2" or "1+2", as paper_results.json names them
    solver_runs: tuple[str, ...]  # the solver method's run folders for this case
    retrain: str  # the retrain configs' stem: RETRAIN_<sampling>

    def retrain_run(self, sampling: str) -> str:
        return f"{self.retrain}_{sampling}"


CASES = (
    Case("XOR-B p1", "xor_b", "1", ("xor_b_p1_singles", "xor_b_p1_pairs"), "retrain_xor_b_p1"),
    Case("XOR-B p2", "xor_b", "2", ("xor_b_p2_singles",), "retrain_xor_b_p2"),
    Case(
        "XOR-B p1+2", "xor_b", "1+2", ("xor_b_p12_singles", "xor_b_p12_pairs"), "retrain_xor_b_p12"
    ),
    Case("Blobs p1", "blobs", "1", ("blobs_p1_singles",), "retrain_blobs_p1"),
    Case("Blobs p2", "blobs", "2", ("blobs_p2_singles",), "retrain_blobs_p2"),
    Case("Blobs p1+2", "blobs", "1+2", ("blobs_p12_greedy_pairs",), "retrain_blobs_p12"),
)
SAMPLINGS = ("uniform", "counterexamples")
TABLE6_COLUMNS = (
    "case",
    "paper naive SGD %",
    "paper repair best %",
    "nnv solver best %",
    "nnv solver wall s (run)",
    *(
        f"retrain {sampling} {what}"
        for sampling in SAMPLINGS
        for what in ("status", "%", "iterations", "wall s")
    ),
)


def solver_cells(case: Case, runs: Path) -> list[str]:
    """The best repair among the case's solver runs, and the wall time of the run holding it."""
    found = []
    for name in case.solver_runs:
        trials = read_trials(runs / name)
        if trials is not None:
            found.append((name, nnv_figures(trials, read_wall_seconds(runs / name))))
    if not found:
        return [NOT_RUN, DASH]
    name, figures = max(found, key=lambda item: item[1].best or -1.0)
    wall = "unfinished" if figures.wall is None else seconds_text(figures.wall)
    return [percent(figures.best), f"{wall} ({name})"]


def retrain_cells(folder: Path) -> list[str]:
    """Status, weighted accuracy after (only when repaired), iterations, wall time."""
    path = folder / "result.json"
    if not path.is_file():
        return [NOT_RUN, DASH, DASH, DASH]
    result = json.loads(path.read_text(encoding="utf-8"))
    after = result["accuracy_after"]
    accuracy = DASH if after is None else percent(100 * after["weighted"])
    iterations = f"{result['iterations']} of {result['max_iterations']}"
    return [result["status"], accuracy, iterations, seconds_text(result["seconds"])]


def table6(runs: Path, paper: dict[str, Any]) -> list[str]:
    lines = [markdown_row(TABLE6_COLUMNS), markdown_row(["---"] * len(TABLE6_COLUMNS))]
    for case in CASES:
        naive = paper["naive_sgd_baseline_table6"][case.network][case.properties]
        best = paper["best_accuracy_after_repair"][case.network][case.properties]
        cells = [case.label, percent(naive), percent(best), *solver_cells(case, runs)]
        for sampling in SAMPLINGS:
            cells += retrain_cells(runs / case.retrain_run(sampling))
        lines.append(markdown_row(cells))
    return lines


def retrain_details(runs: Path) -> list[str]:
    """Per retrain run: what certified it, or why it was not repaired."""
    lines = []
    for case in CASES:
        for sampling in SAMPLINGS:
            name = case.retrain_run(sampling)
            path = runs / name / "result.json"
            if not path.is_file():
                lines.append(f"- {name}: {NOT_RUN}")
                continue
            result = json.loads(path.read_text(encoding="utf-8"))
            how = result["certified_by"] or DASH
            lines.append(f"- {name}: {result['status']}, certified by {how}: {result['message']}")
    return lines


def other_seeds(runs: Path) -> list[str]:
    """The same retrain configs with other seeds (``--seed S --out runs/NAME_seedS``), beside
    the seed-0 run: how many repaired, their iterations and the range of their accuracy."""
    columns = ("run", "seeds", "repaired", "iterations", "weighted % (min – max)")
    lines = [markdown_row(columns), markdown_row(["---"] * len(columns))]
    for case in CASES:
        for sampling in SAMPLINGS:
            name = case.retrain_run(sampling)
            folders = [runs / name, *sorted(runs.glob(f"{name}_seed*"))]
            results = [
                json.loads((folder / "result.json").read_text(encoding="utf-8"))
                for folder in folders
                if (folder / "result.json").is_file()
            ]
            seeds = ", ".join(str(r["seed"]) for r in results) or NOT_RUN
            repaired = [r for r in results if r["status"] == "repaired"]
            iterations = ", ".join(sorted({str(r["iterations"]) for r in repaired})) or DASH
            accuracy = [100 * r["accuracy_after"]["weighted"] for r in repaired]
            span = f"{percent(min(accuracy))} – {percent(max(accuracy))}" if accuracy else DASH
            cells = [name, seeds, f"{len(repaired)} of {len(results)}", iterations, span]
            lines.append(markdown_row(cells))
    return lines


def retrain_options(runs: Path) -> str:
    """The retrain runs' options but sampling, as result.json records them."""
    seen = set()
    for case in CASES:
        for sampling in SAMPLINGS:
            path = runs / case.retrain_run(sampling) / "result.json"
            if path.is_file():
                options = json.loads(path.read_text(encoding="utf-8"))["method_options"]
                seen.add(", ".join(f"{k} {v}" for k, v in options.items() if k != "sampling"))
    return "; ".join(sorted(seen)) or "no run yet"


def table6_markdown(runs: Path, paper: dict[str, Any], command: str) -> str:
    before = paper["accuracy_before_repair"]
    configs = "benchmarks/configs/retrain_<xor_b|blobs>_<p1|p2|p12>_<uniform|counterexamples>.toml"
    lines = [
        "# nnv against Cohen & Strichman, Table 6: the naive retraining baseline",
        "",
        f"Made by `{command}` on {datetime.date.today().isoformat()}, from the run folders in "
        f"`{runs}`. Machine: 2-core machine. The retrain runs: `nnv run {configs}` (12 configs, "
        "one after another).",
        "",
        "Accuracy is weighted over train, test and sampled points (percent); before repair "
        f"XOR-B {before['xor_b']:.2f}, Blobs {before['blobs']:.2f}. **retrain** (`nnv run "
        "--method retrain`) fine-tunes every weight until the verifier proves every property, "
        "at most 20 iterations; each iteration adds 200 points of each region not yet proved "
        "(`uniform`: uniform over the region, the paper's baseline; `counterexamples`: the "
        "verifier's counterexample, sampled violations and jitter around them) and 200 "
        "training points, then fine-tunes with Adam on all points added so far "
        f"({retrain_options(runs)}). Its accuracy is shown only when it repaired (certified); "
        "iterations counts fine-tuning rounds. **nnv solver** is the best repaired trial of "
        "the case's solver-method runs (Tables 4 and 5's configs), with the wall time of the "
        "run that holds it, read from the run folders when this report was made (they may be "
        "newer than tables45.md). The paper's figures: its Table 6 (naive SGD) and its best "
        "repair per case.",
        "",
        *table6(runs, paper),
        "",
        "## Each retrain run",
        "",
        *retrain_details(runs),
        "",
        "## Other seeds",
        "",
        "The table above is seed 0. The same configs with `--seed S --out runs/NAME_seedS` "
        "(S = 1 to 4, `nnv run benchmarks/configs/NAME.toml --seed S --out runs/NAME_seedS`):",
        "",
        *other_seeds(runs),
        "",
    ]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="the run folders")
    parser.add_argument("--out", type=Path, help="Tables 4 and 5: writes OUT.md and OUT.png")
    parser.add_argument("--table6", type=Path, help="Table 6: writes TABLE6.md")
    parser.add_argument("--paper", type=Path, default=PAPER, help="paper_results.json")
    parser.add_argument("--chart-from", type=Path, help="only draw OUT.png from this OUT.md")
    args = parser.parse_args()
    if args.chart_from is not None:
        chart_path = args.chart_from.with_suffix(".png")
        chart(rows_from_report(args.chart_from), chart_path)
        print(f"drew {chart_path} from {args.chart_from}")
        return
    if args.out is None and args.table6 is None:
        parser.error("give --out, --table6 or both")
    if not args.paper.is_file():
        parser.error(f"{args.paper}: not found (give --paper)")
    paper = json.loads(args.paper.read_text(encoding="utf-8"))
    command = shlex.join(["python", *sys.argv])
    if args.out is not None:
        per_block = [block_rows(block, args.runs, paper) for block in BLOCKS]
        rows = [row for rows_ in per_block for row in rows_]
        markdown_path = args.out.parent / f"{args.out.name}.md"
        chart_path = args.out.parent / f"{args.out.name}.png"
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(markdown(rows, args.runs, chart_path, command), encoding="utf-8")
        chart([rows_[0] for rows_ in per_block], chart_path)
        print(f"wrote {markdown_path} and {chart_path}")
    if args.table6 is not None:
        path = args.table6.parent / f"{args.table6.name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(table6_markdown(args.runs, paper, command), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
