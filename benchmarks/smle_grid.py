"""SMLE against the paper: the synthetic grid, the multi-label data sets and the forecasting
series, as a Markdown report.

Runs ``nnv train`` (through the trainer plugins, exactly as the command does) for

- the 9 synthetic tasks x 6 properties (``../shared/benchmarks/smle/synthetic``), with the
  paper's regression set-up (batch 128, patience 5, at most 1000 epochs);
- the 5 multi-label ARFF data sets x q in {0, 0.3, 0.6} (batch 32, patience 30);
- the first 25 M4 series of ``forecasting/series.csv`` x q in {1, 0.95, 0.9} (windows of 8 in
  and 4 out, predicted relative to the last input, batch 32, patience 15, at most 1000
  epochs). The paper used 25 series; the file
  holds 120, sorted longest first, and the paper does not say which 25, so the grid takes the
  25 longest (the first rows): the most windows to train and test on;

for ``smle`` and (unless ``--smle-only``) the ``preprocess`` and ``postprocess`` baselines,
computes the oracle (the true test targets projected onto the property), and writes
``benchmarks/results/smle.md`` against ``../shared/benchmarks/smle/paper_results.json``::

    python benchmarks/smle_grid.py --runs runs/smle --workers 2

Each run's folder (``runs/smle/<method>/<task>_<property>``) holds its result.json; a run whose
result.json exists is not run again, so a stopped grid resumes. ``--family`` runs one family
(``--match`` only the runs whose folder matches a pattern, e.g. ``'smle/D4099_*'``); the report
still covers every run of every family that has a result.json under ``--runs``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import fnmatch
import json
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared/benchmarks/smle"
OUT = Path(__file__).resolve().parent / "results" / "smle.md"
TASKS = tuple(f"n{n}_{level}" for n in (2, 4, 8) for level in ("easy", "medium", "hard"))
PROPERTIES = tuple(f"P{i}" for i in range(1, 7))
DATASETS = ("CHD-49", "Flags", "Water-quality", "Yeast", "foodtruck")
QUANTILES = (0.0, 0.3, 0.6)
SERIES_FILE = SHARED / "forecasting" / "series.csv"
SERIES_COUNT = 25  # the paper's; the first (longest) rows of the file
FORECAST_QUANTILES = (1.0, 0.95, 0.9)
METHODS = ("smle", "preprocess", "postprocess")
FAMILIES = ("synthetic", "classification", "forecasting")
OPTIONS = {
    "synthetic": {"batch_size": 128, "patience": 5, "epochs": 1000},
    "classification": {"batch_size": 32, "patience": 30, "epochs": 1000},
    "forecasting": {"batch_size": 32, "patience": 15, "epochs": 1000},
}


@dataclass(frozen=True)
class Run:
    method: str
    family: str  # "synthetic", "classification" or "forecasting"
    data: str  # task, data set or series name
    case: str  # property name or quantile

    @property
    def folder(self) -> str:
        return f"{self.method}/{self.data}_{self.case}"


def plan(methods: Sequence[str], families: Sequence[str] = FAMILIES) -> list[Run]:
    runs: list[Run] = []
    if "synthetic" in families:
        runs += [Run(m, "synthetic", t, p) for m in methods for t in TASKS for p in PROPERTIES]
    if "classification" in families:
        runs += [Run(m, "classification", d, f"q{q:g}") for m in methods for d in DATASETS
                 for q in QUANTILES]
    if "forecasting" in families:
        runs += [Run(m, "forecasting", s, f"q{q:g}") for m in methods for s in series_ids()
                 for q in FORECAST_QUANTILES]
    return runs


def series_ids(count: int = SERIES_COUNT) -> list[str]:
    """The ids of the first ``count`` series of the forecasting file (the longest); none when
    the file is absent, so that the other families still plan."""
    if not SERIES_FILE.is_file():
        return []
    with open(SERIES_FILE, newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        return [row[0] for _, row in zip(range(count), rows, strict=False)]


def existing(runs: Sequence[Run], root: Path) -> dict[Run, dict[str, Any]]:
    """The results of the runs whose folder already holds a result.json."""
    found = {}
    for run in runs:
        path = root / run.folder / "result.json"
        if path.is_file():
            found[run] = json.loads(path.read_text())
    return found


def execute(run: Run, root: Path) -> dict[str, Any]:
    """One run, in a worker process (one torch thread: the cores go to the workers)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from nnv.core.plugin.registry import default_registry
    from nnv.core.plugin.trainer import TrainRequest

    torch.set_num_threads(1)
    out = root / run.folder
    if (out / "result.json").is_file():
        return json.loads((out / "result.json").read_text())
    registry = default_registry()
    trainer = registry.get("trainer", run.method).factory(**OPTIONS[run.family])
    return trainer.train(TrainRequest(out=out, **request(run)), registry).to_json()


def request(run: Run) -> dict[str, Any]:
    """Where a run's data and property come from, as ``nnv train`` takes them."""
    if run.family == "synthetic":
        return {
            "data": SHARED / "synthetic" / f"{run.data}.npz",
            "property_file": SHARED / "synthetic" / f"{run.data}.properties.json",
            "property_name": run.case,
        }
    if run.family == "forecasting":
        return {"data": SERIES_FILE, "series": run.data, "quantile": float(run.case[1:])}
    return {
        "data": SHARED / "classification" / f"{run.data}.arff",
        "quantile": float(run.case[1:]),
    }


def oracle(run: Run) -> float:
    """The test score of the true targets projected onto the property (the best any model
    that satisfies it can reach on the test points)."""
    from nnv.core.plugin.registry import default_registry
    from nnv.plugins.smle.baselines import project_targets
    from nnv.plugins.smle.data import load_task
    from nnv.plugins.smle.spec import MutualExclusion
    from nnv.plugins.smle.workflow import r2_score, resolve_spec

    solver = default_registry().solver("highs")
    if run.family in ("synthetic", "forecasting"):
        where = request(run)
        task = load_task(where["data"], where.get("series"))
        spec = resolve_spec(task, where.get("property_file"), where.get("property_name"),
                            where.get("quantile"))
        X, Y = task.splits["test"]
        return r2_score(Y, project_targets(spec, X, Y, solver))
    task = load_task(SHARED / "classification" / f"{run.data}.arff")
    exclusion = MutualExclusion.from_labels(task.splits["train"][1], float(run.case[1:]))
    X, Y = task.splits["test"]
    return float(np.mean(project_targets(exclusion, X, Y, solver) == Y))


# -- the report ---------------------------------------------------------------------------


def score(result: dict[str, Any]) -> float:
    return result["r2"]["test"] if "r2" in result else result["accuracy"]["test"]


def median(values: Sequence[float]) -> float:
    return float(np.median(values)) if values else float("nan")


@dataclass(frozen=True)
class Section:
    """One family's table: a row per case, the paper's medians from ``paper_key``."""

    family: str
    title: str
    label: str  # the first column's heading
    cases: tuple[tuple[str, str], ...]  # (case as in Run.case, as shown)
    paper_key: str
    notes: tuple[str, ...] = ()


SECTIONS = (
    Section(
        "synthetic", "Synthetic regression: median test R^2 over the 9 tasks, per property rank",
        "rank", tuple((p, p) for p in PROPERTIES), "synthetic_median_test_r2",
        ("The oracle is the test targets projected onto the property (inside its input region):",
         "no model that satisfies the property can beat it on a task, so a rank's median for "
         "SMLE cannot exceed the oracle's median. Where this data's oracle lies below the "
         "paper's SMLE figure, the paper's figure is out of reach on this data."),
    ),
    Section(
        "classification",
        "Multi-label classification: median label-wise test accuracy over the 5 data sets",
        "q", tuple((f"q{q:g}", f"{q:g}") for q in QUANTILES),
        "classification_median_labelwise_accuracy",
    ),
    Section(
        "forecasting", f"Forecasting: median test R^2 over the {SERIES_COUNT} series, per q",
        "q", tuple((f"q{q:g}", f"{q:g}") for q in FORECAST_QUANTILES),
        "forecasting_median_test_r2",
        (f"The first {SERIES_COUNT} series of `forecasting/series.csv` (the longest; the paper "
         "used 25 but does not say which), windows of 8 values in and 4 out, the first 80 % of "
         "the windows for training and the last 20 % for testing, every series standardised "
         "with its training part's mean and deviation. The property: consecutive predictions "
         "differ by at most the q-quantile of the training part's absolute one-step changes. "
         "Every method predicts relative to each window's last input (the level, which the "
         "property allows: its rows sum to zero; see docs/smle.md), unless a run's result.json "
         "has no `level`. R^2 is averaged over the 4 predicted steps. The paper reports no "
         "oracle here.",),
    ),
)


def report(runs: list[Run], results: dict[Run, dict[str, Any]], oracles: dict[Run, float],
           command: str) -> str:
    """The Markdown report: a section per family that has at least one result."""
    paper = json.loads((SHARED / "paper_results.json").read_text())
    lines = [
        "# SMLE: nnv against the paper",
        "",
        f"Generated {datetime.date.today()} by `{command}` on {platform.machine()} "
        f"({os.cpu_count()} cores, shared). Every number is this machine's, from the run "
        "folders' result.json; the paper's are read from "
        "`../shared/benchmarks/smle/paper_results.json`.",
        "",
    ]
    for section in SECTIONS:
        if any(r.family == section.family for r in results):
            lines += _section(section, runs, results, oracles, paper[section.paper_key])
            lines += _guarantees(runs, results, section.family)
    lines += _every_run(runs, results, oracles)
    return "\n".join(lines) + "\n"


def _section(section: Section, runs: list[Run], results: dict[Run, dict[str, Any]],
             oracles: dict[Run, float], paper: dict[str, list[float]]) -> list[str]:
    """The family's medians per case: the paper's SMLE, nnv's methods, the oracles."""
    methods = sorted({r.method for r in results if r.family == section.family},
                     key=METHODS.index)
    others = [m for m in methods if m != "smle"]
    lines = [
        f"## {section.title}",
        "",
        f"| {section.label} | paper SMLE | nnv SMLE | difference | "
        + "".join(f"nnv {m} | " for m in others) + "nnv oracle | paper oracle |",
        "|---|---|---|---|" + "---|" * len(others) + "---|---|",
    ]
    for index, (case, shown) in enumerate(section.cases):
        def med(method: str, case: str = case) -> float:
            return median([score(results[r]) for r in runs if r.family == section.family
                           and r.case == case and r.method == method and r in results])
        ours, theirs = med("smle"), paper["smle"][index]
        orc = median([v for r, v in oracles.items()
                      if r.family == section.family and r.case == case])
        paper_oracle = f"{paper['oracle'][index]:.3f}" if "oracle" in paper else "-"
        lines.append(
            f"| {shown} | {theirs:.3f} | {ours:.3f} | {ours - theirs:+.3f} | "
            + "".join(f"{med(m):.3f} | " for m in others) + f"{orc:.3f} | {paper_oracle} |"
        )
    baselines = [f"{m} {', '.join(f'{v:.3f}' for v in paper[m])}" for m in others if m in paper]
    if section.family == "forecasting" and baselines:
        lines += ["", f"The paper's baselines, per q: {'; '.join(baselines)}."]
    return [*lines, "", *section.notes, *([""] if section.notes else [])]


def _guarantees(runs: list[Run], results: dict[Run, dict[str, Any]], family: str) -> list[str]:
    lines = [
        f"### {family}: guarantees and cost",
        "",
        "| method | runs | certified | sampled inputs violating (median, max) | test rows "
        "violating (median, max) | seconds per run (median, max) |",
        "|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        done = [results[r] for r in runs if r.family == family and r.method == method
                and r in results]
        if not done:
            continue
        sampled = [100 * d["violation_rate"] for d in done]
        tested = [100 * d["split_violation_rate"]["test"] for d in done]
        seconds = [d["seconds"]["total"] for d in done]
        lines.append(
            f"| {method} | {len(done)} | {sum(d['certified'] for d in done)} | "
            f"{median(sampled):.2f}%, {max(sampled):.2f}% | {median(tested):.2f}%, "
            f"{max(tested):.2f}% | {median(seconds):.1f}, {max(seconds):.1f} |"
        )
    return [*lines, ""]


def _every_run(runs: list[Run], results: dict[Run, dict[str, Any]],
               oracles: dict[Run, float]) -> list[str]:
    lines = [
        "## Every SMLE run",
        "",
        "| data | property | test score | oracle | certified | sampled inputs | violations "
        "| epochs | projections | closing rounds | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if run.method != "smle" or run not in results:
            continue
        result = results[run]
        settings = result["settings"]
        lines.append(
            f"| {run.data} | {run.case} | {score(result):.4f} | {oracles.get(run, np.nan):.4f} | "
            f"{'yes' if result['certified'] else 'no'} | {result['samples']['count']} | "
            f"{result['samples']['violations']} | {result['epochs']} | {result['projections']} "
            f"| {settings['closing_rounds']} | {result['seconds']['total']:.1f} |"
        )
    return [*lines, ""]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/smle"), help="run folders")
    parser.add_argument("--out", type=Path, default=OUT, help="the Markdown report")
    parser.add_argument("--workers", type=int, default=1, help="runs at once")
    parser.add_argument("--smle-only", action="store_true", help="skip the baselines")
    parser.add_argument("--family", choices=(*FAMILIES, "all"), default="all",
                        help="run one family only (the report still shows the others' folders)")
    parser.add_argument("--match", action="append", metavar="PATTERN",
                        help="run only the runs whose folder (method/data_case) matches this "
                        "shell pattern, e.g. 'smle/D4099_*' (repeatable)")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} is absent")
    families = FAMILIES if args.family == "all" else (args.family,)
    runs = [run for run in plan(("smle",) if args.smle_only else METHODS, families)
            if not args.match or any(fnmatch.fnmatch(run.folder, p) for p in args.match)]
    results = run_all(runs, args.runs, args.workers)
    catalogue = plan(METHODS)
    results.update(existing([run for run in catalogue if run not in results], args.runs))
    cases = {(r.family, r.data, r.case) for r in results}
    oracles = {Run("smle", *case): oracle(Run("smle", *case)) for case in sorted(cases)}
    command = "python benchmarks/smle_grid.py " + shlex.join(sys.argv[1:] if argv is None
                                                              else list(argv))
    from nnv.core.runtime.files import write_text_atomic

    write_text_atomic(args.out, report(catalogue, results, oracles, command.strip()))
    print(f"wrote {args.out}")


def run_all(runs: list[Run], root: Path, workers: int) -> dict[Run, dict[str, Any]]:
    """Every run, ``workers`` at a time; a failed run is reported and left out."""
    results: dict[Run, dict[str, Any]] = {}
    with ProcessPoolExecutor(workers) as pool:
        futures = {run: pool.submit(execute, run, root) for run in runs}
        for run, future in futures.items():
            try:
                results[run] = future.result()
            except Exception as error:  # noqa: BLE001 - one failed run must not stop the grid
                print(f"{run.folder}: {type(error).__name__}: {error}", file=sys.stderr)
            else:
                print(f"{run.folder}: {score(results[run]):.4f}", flush=True)
    return results


if __name__ == "__main__":
    main()
