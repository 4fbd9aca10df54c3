"""``nnv run``: repair a network so that properties hold, and write the results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
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
from typer.core import TyperCommand

from nnv.core.plugin.registry import Registry, default_registry
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import DEFAULT_METHOD, RunConfig, assemble, settings_catalogue
from nnv.core.run.dispatch import run_repair
from nnv.core.run.results import BOUNDARY_FILE, RunOutcome, RunResult, percent
from nnv.plots import plot_boundary

from .config import load_config, merge
from .errors import user_errors
from .progress import progress_console, showing
from .run_options import command_line_settings, run_parameters

NOT_REPAIRED = 1


class RunCommand(TyperCommand):
    """``nnv run``. Its flags are made from the settings (RunConfig's and every installed
    method's options: :mod:`.run_options`) when the command is first parsed or its help shown,
    not when ``nnv`` starts: ``nnv --help`` and ``nnv verify`` load no plugin."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._made: list[click.Parameter] | None = None
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def params(self) -> list[click.Parameter]:
        if self._made is None:
            self._made = run_parameters(settings_catalogue(default_registry()))
        return self._made

    @params.setter
    def params(self, given: list[click.Parameter]) -> None:
        """typer hands over the parameters of :func:`run`'s own signature: none."""

    def invoke(self, ctx: click.Context) -> Any:
        # the values are in ctx.params: typer calls run with the context alone
        return ctx.invoke(self.callback) if self.callback is not None else None


# cli/main.py builds `nnv run` with this class: its flags come from the installed plugins
COMMAND_CLASS = RunCommand


def run(ctx: typer.Context) -> None:
    """Repair NETWORK so that every PROPERTY holds, changing a few free parameters.

    Writes OUT/result.json, OUT/trials.csv, OUT/repaired.onnx (when repaired and certified)
    and OUT/boundary.png (a 2-D slice for wider inputs). Running the same command again with
    the same OUT resumes: the trials OUT/trials.csv already holds are not run again.
    --method retrain fine-tunes every weight instead (the paper's baseline). Exit code 0 when
    repaired, 1 when not, 2 on bad input.
    """
    values = ctx.params
    with user_errors():
        registry = default_registry()
        catalogue = settings_catalogue(registry)
        config_file = values["config_file"]  # as typed: typer converts only a function's own
        file_settings = {} if config_file is None else load_config(Path(config_file), catalogue)
        given = command_line_settings(values, catalogue)
        config = assemble(merge(file_settings, given, catalogue), registry)
        outcome = _run_with_progress(config, registry, values["quiet"])
        _draw(config, outcome)
    if values["json_output"]:
        typer.echo(outcome.result.to_json())
    else:
        Console().print(summary_table(outcome.result, config.out))
    if not outcome.ok:
        raise typer.Exit(NOT_REPAIRED)


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


def _run_with_progress(config: RunConfig, registry: Registry, quiet: bool) -> RunOutcome:
    """A progress bar on stderr while trials run, when stderr is a terminal (not --quiet)."""
    console = progress_console(quiet)
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
    with Progress(*columns, console=console, disable=not showing(console)) as progress:
        bar = _Bar(progress)
        return run_repair(config, registry, bar.finished, bar.planned)


def _draw(config: RunConfig, outcome: RunOutcome) -> None:
    path = config.out / BOUNDARY_FILE
    drawn = plot_boundary(
        outcome.original, outcome.repaired, outcome.properties, outcome.data, path, config.decision
    )
    if not drawn:
        path.unlink(missing_ok=True)  # a stale picture from an earlier run would mislead


def summary_table(result: RunResult, out: Path) -> Table:
    """The run at a glance: what was repaired, at what cost, where the files are (the
    method's own rows come from its result details)."""
    table = Table(title="nnv run", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("status", result.status)
    if result.message:
        table.add_row("message", result.message)
    if result.method != DEFAULT_METHOD:
        table.add_row("method", f"{result.method}{result.details.method_note()}")
    details = result.details
    for row in details.summary("outcome"):
        table.add_row(*row)
    after = result.accuracy_after or {}
    for split, value in result.accuracy_before.items():
        table.add_row(f"accuracy {split}", f"{percent(value)} -> {percent(after.get(split))}")
    if result.drawdown and result.regions:  # elsewhere the accuracy rows say as much
        lost = ", ".join(f"{split} {percent(value)}" for split, value in result.drawdown.items())
        table.add_row("drawdown", lost)
    for row in details.summary("accuracy"):
        table.add_row(*row)
    for row in _region_rows(result.regions):
        table.add_row(*row)
    table.add_row("certified by", result.certified_by or "-")
    for row in details.summary("certificate"):
        table.add_row(*row)
    table.add_row("seconds", f"{result.seconds:.2f}")
    table.add_row("results", str(out))
    return table


def _region_rows(regions: dict[str, Any] | None) -> list[tuple[str, str]]:
    """--partition's rows: the boxes, and how the held-out ones fared after the repair."""
    if regions is None:
        return []
    rows = [
        (
            "regions",
            f"{regions['boxes']} boxes of side {regions['side']:g}, {regions['violating']} "
            f"violating at {regions['samples_per_box']} samples each: "
            f"{len(regions['repaired_boxes'])} repaired, {regions['held_out_boxes']} held out",
        )
    ]
    found = regions["generalisation"]
    if found is not None and found["held_out"]:
        rows.append(
            (
                "generalisation",
                f"{found['proved']} of {found['held_out']} held-out boxes proved "
                f"({percent(found['boxes_generalised'])}); {found['points_fixed']} of "
                f"{found['points']} violating points fixed "
                f"({percent(found['points_generalised'])})",
            )
        )
    return rows
