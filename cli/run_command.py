"""``nnv run``: repair a network so that properties hold, and write the results folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from nnv.core.plugin.registry import default_registry
from nnv.core.plugin.solver import parse_options
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import RunConfig
from nnv.core.run.dispatch import run_repair
from nnv.core.run.results import BOUNDARY_FILE, RunOutcome

from .boundary import plot_boundary
from .config import free_set, free_sets, layer_list, load_config, merge, names
from .errors import refuse_nan, user_errors

NOT_REPAIRED = 1


def run(
    config_file: Annotated[
        Path | None,
        typer.Argument(metavar="CONFIG", help="TOML file with the same keys as the options."),
    ] = None,
    network: Annotated[
        Path | None, typer.Option(help="Network file (.onnx, .json, .nnet).")
    ] = None,
    property_files: Annotated[
        list[Path] | None,
        typer.Option("--property", help="Property file (.vnnlib); repeat to repair several."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help=".npz (X_train, y_train, X_test, ...) or .csv data.")
    ] = None,
    free: Annotated[
        str | None,
        typer.Option(help="Exactly this set of free parameters: w1.1.1,b2.2; globs: 'w7.*.*'."),
    ] = None,
    free_layer: Annotated[
        list[str] | None,
        typer.Option(help="Free every weight and bias of this layer: 7 (repeatable, or 6,7)."),
    ] = None,
    free_neuron: Annotated[
        list[str] | None,
        typer.Option(help="Free a neuron's incoming weights and bias: 6.30 (repeatable)."),
    ] = None,
    free_sets_text: Annotated[
        str | None,
        typer.Option("--free-sets", help='Exactly these sets, ";" between: "w1.1.1;b2.1,b2.2".'),
    ] = None,
    search: Annotated[
        str | None, typer.Option(help="Search strategy: exhaustive (default), greedy.")
    ] = None,
    max_free: Annotated[
        int | None, typer.Option(help="Largest free set the search tries (default 1).", min=1)
    ] = None,
    layers: Annotated[
        str | None, typer.Option(help="Search only these layers' parameters: 1,2.")
    ] = None,
    top_k: Annotated[
        int | None, typer.Option(help="greedy: sets kept per level (default 5).", min=1)
    ] = None,
    target_accuracy: Annotated[
        float | None,
        typer.Option(
            help="Stop the search once a repair reaches this weighted accuracy (0-1).",
            callback=refuse_nan,
        ),
    ] = None,
    heuristic: Annotated[
        str | None, typer.Option(help="Similarity heuristic: samples (default), grid, voronoi.")
    ] = None,
    heuristic_option: Annotated[
        list[str] | None,
        typer.Option(help="Heuristic option key=value (repeatable), e.g. count=500."),
    ] = None,
    solver: Annotated[str | None, typer.Option(help="Synthesis solver (default highs).")] = None,
    verifier: Annotated[
        str | None,
        typer.Option(help="Solver that verifies candidates in the loop (default highs)."),
    ] = None,
    mode: Annotated[str | None, typer.Option(help="cegis (default) or quantified.")] = None,
    threshold: Annotated[
        int | None, typer.Option(help="Keep at least this many soft constraints.", min=0)
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            help="What synthesis minimises, in order: keep (default), l1, linf, output; "
            "e.g. keep,l1."
        ),
    ] = None,
    threshold_search: Annotated[
        bool,
        typer.Option(
            "--threshold-search",
            help="quantified: raise the threshold while satisfiable (the paper's skip).",
        ),
    ] = False,
    max_change: Annotated[
        float | None,
        typer.Option(
            help="Each free parameter moves at most this much (default 10).", callback=refuse_nan
        ),
    ] = None,
    line_synthesis: Annotated[
        bool | None,
        typer.Option(
            "--line-synthesis/--no-line-synthesis",
            help=(
                "Exact line analysis for one free parameter and the pair search for two "
                "(default), or the synthesis solver only."
            ),
        ),
    ] = None,
    pair_time: Annotated[
        float | None,
        typer.Option(
            help="Two free parameters: seconds per trial for synthesis, the pair search, then "
            "the MILP from its answer (default 4).",
            min=0,
            callback=refuse_nan,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds for the whole run.", min=0, callback=refuse_nan),
    ] = None,
    trial_timeout: Annotated[
        float | None, typer.Option(help="Seconds for each trial.", min=0, callback=refuse_nan)
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Results folder (default runs/latest).")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print result.json instead of the summary table.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the heuristic's random choices (default 0).")
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="Where trials run: local (default) or dask.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Trials at once (default: one per core).", min=1)
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="dask: join the cluster at this address (tcp://host:8786)."),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart", help="Run every trial again, ignoring those OUT holds from this run."
        ),
    ] = False,
    method: Annotated[
        str | None,
        typer.Option(help="Repair method: solver (default, the paper's) or retrain (baseline)."),
    ] = None,
    decision: Annotated[
        str | None,
        typer.Option(
            help="The class is the largest output (argmax, default) or the smallest (argmin)."
        ),
    ] = None,
    method_option: Annotated[
        list[str] | None, typer.Option(help="A method option key=value (repeatable).")
    ] = None,
    iterations: Annotated[
        int | None, typer.Option(help="retrain: fine-tuning iterations at most (default 20).")
    ] = None,
    sampling: Annotated[
        str | None,
        typer.Option(help="retrain: region points uniform (default) or near counterexamples."),
    ] = None,
    region_points: Annotated[
        int | None,
        typer.Option(help="retrain: points per unproved property per iteration (default 200)."),
    ] = None,
    train_points: Annotated[
        int | None,
        typer.Option(help="retrain: training points drawn per iteration (default 200)."),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="retrain: epochs per fine-tuning (default 10).")
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(help="retrain: Adam's learning rate (default 0.001).", callback=refuse_nan),
    ] = None,
) -> None:
    """Repair NETWORK so that every PROPERTY holds, changing a few free parameters.

    Writes OUT/result.json, OUT/trials.csv, OUT/repaired.onnx (when repaired and certified)
    and, for 2-D inputs, OUT/boundary.png. Running the same command again with the same OUT
    resumes: the trials OUT/trials.csv already holds are not run again. --method retrain
    fine-tunes every weight instead (the paper's baseline). Exit code 0 when repaired, 1 when
    not, 2 on bad input.
    """
    with user_errors():
        file_settings = load_config(config_file) if config_file is not None else {}
        sets = None if free_sets_text is None else free_sets("--free-sets", free_sets_text)
        config = merge(
            file_settings,
            {
                "network": network,
                "properties": property_files or None,
                "data": data,
                "free": None if free is None else free_set("--free", free),
                "free_layers": _joined(free_layer, layer_list, "--free-layer"),
                "free_neurons": _joined(free_neuron, free_set, "--free-neuron"),
                "free_sets": sets,
                "search": search,
                "max_free": max_free,
                "layers": None if layers is None else layer_list("--layers", layers),
                "top_k": top_k,
                "target_accuracy": target_accuracy,
                "heuristic": heuristic,
                "heuristic_options": dict(parse_options(heuristic_option or [])),
                "solver": solver,
                "verifier": verifier,
                "mode": mode,
                "threshold": threshold,
                "objective": None if objective is None else names("--objective", objective),
                "threshold_search": True if threshold_search else None,
                "max_change": max_change,
                "line_synthesis": line_synthesis,
                "pair_time": pair_time,
                "timeout": timeout,
                "trial_timeout": trial_timeout,
                "out": out,
                "seed": seed,
                "executor": executor,
                "workers": workers,
                "scheduler": scheduler,
                "restart": True if restart else None,
                "method": method,
                "decision": decision,
                "method_options": dict(parse_options(method_option or [])),
                "iterations": iterations,
                "sampling": sampling,
                "region_points": region_points,
                "train_points": train_points,
                "epochs": epochs,
                "learning_rate": learning_rate,
            },
        )
        outcome = _run_with_progress(config)
        _draw(config, outcome)
    if json_output:
        typer.echo(json.dumps(outcome.result, indent=2))
    else:
        Console().print(summary_table(outcome.result, config.out))
    if not outcome.ok:
        raise typer.Exit(NOT_REPAIRED)


def _joined(
    values: list[str] | None, parse: Callable[[str, Any], list[Any]], flag: str
) -> list[Any] | None:
    """A repeatable option whose values may also be comma-separated lists."""
    if not values:
        return None
    return [item for value in values for item in parse(flag, value)]


class _Bar:
    """The progress bar's view of a run: trials done and left, best accuracy so far."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("trials", total=None, best="none repaired yet")
        self.best: float | None = None

    def planned(self, total: int | None) -> None:
        self.progress.update(self.task, total=total)

    def finished(self, result: TrialResult) -> None:
        if result.repaired and result.accuracy is not None:
            self.best = max(result.accuracy, self.best or 0.0)
        best = "none repaired yet" if self.best is None else f"best accuracy {self.best:.4f}"
        self.progress.update(self.task, advance=1, best=best)


class _Left(ProgressColumn):
    """Trials still to run, where the total is known."""

    def render(self, task: Task) -> Text:
        left = "" if task.total is None else f"{int(task.total - task.completed)} left"
        return Text(left)


def _run_with_progress(config: RunConfig) -> RunOutcome:
    """A progress bar on stderr while trials run, when stderr is a terminal."""
    console = Console(stderr=True)
    columns = (
        TextColumn("trials"),
        BarColumn(),
        MofNCompleteColumn(),
        _Left(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[best]}"),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        bar = _Bar(progress)
        return run_repair(config, default_registry(), bar.finished, bar.planned)


def _draw(config: RunConfig, outcome: RunOutcome) -> None:
    path = config.out / BOUNDARY_FILE
    drawn = plot_boundary(
        outcome.original, outcome.repaired, outcome.properties, outcome.data, path, config.decision
    )
    if not drawn:
        path.unlink(missing_ok=True)  # a stale picture from an earlier run would mislead


def summary_table(result: dict[str, Any], out: Path) -> Table:
    """The run at a glance: what was repaired, at what cost, where the files are."""
    table = Table(title="nnv run", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("status", result["status"])
    if result["message"]:
        table.add_row("message", result["message"])
    if result.get("method", "solver") != "solver":
        sampling = f" ({result['sampling']} sampling)" if result.get("sampling") else ""
        table.add_row("method", f"{result['method']}{sampling}")
    _parameter_rows(table, result.get("parameters") or {})
    after = result["accuracy_after"] or {}
    for split, value in result["accuracy_before"].items():
        table.add_row(f"accuracy {split}", f"{_percent(value)} -> {_percent(after.get(split))}")
    if result.get("kept") is not None:
        table.add_row("soft constraints kept", f"{result['kept']} of {result['soft_total']}")
    table.add_row("certified by", result["certified_by"] or "-")
    if "trial_counts" in result:
        counts = ", ".join(f"{n} {status}" for status, n in result["trial_counts"].items())
        table.add_row("trials", f"{result['trials']} ({counts})" if counts else "0")
    if result.get("resumed"):
        table.add_row("resumed", f"{result['resumed']} trials taken from an earlier run")
    if result.get("demoted"):
        table.add_row(
            "demoted",
            f"{len(result['demoted'])} resumed repairs failed re-certification (see trials.csv)",
        )
    if result.get("cut_short"):
        table.add_row("search", "cut short by the run's timeout (rerun to go on)")
    if "max_iterations" in result:
        table.add_row("iterations", f"{result['iterations']} of at most {result['max_iterations']}")
    unverified = result.get("unverified_network")
    if unverified:
        table.add_row(
            "unverified network",
            f"{unverified['file']} (iteration {unverified['iteration']}, weighted "
            f"{_percent(unverified['accuracy']['weighted'])}, not a repair)",
        )
    if "executor" in result:
        table.add_row("executor", f"{result['executor']}, {result['workers']} workers")
    table.add_row("seconds", f"{result['seconds']:.2f}")
    table.add_row("results", str(out))
    return table


SHOWN_PARAMETERS = 12  # a larger free set lists only the parameters that moved, this many


def _parameter_rows(table: Table, parameters: dict[str, dict[str, float]]) -> None:
    """One row per free parameter; for a large set, a count and the ones that moved."""
    shown = parameters
    if len(parameters) > SHOWN_PARAMETERS:
        moved = {a: c for a, c in parameters.items() if c["after"] != c["before"]}
        table.add_row("free", f"{len(parameters)} parameters, {len(moved)} changed")
        shown = dict(list(moved.items())[:SHOWN_PARAMETERS])
        if len(moved) > SHOWN_PARAMETERS:
            table.add_row("", f"(the first {SHOWN_PARAMETERS} changed are listed)")
    for address, change in shown.items():
        table.add_row(f"free {address}", f"{change['before']:.6g} -> {change['after']:.6g}")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"
