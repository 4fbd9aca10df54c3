"""``nnv train``: train a network for a property (SMLE or a baseline) and write its folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nnv.core.errors import InputError
from nnv.core.plugin.registry import default_registry
from nnv.core.plugin.solver import parse_options

from .errors import refuse_nan, user_errors

NOT_CERTIFIED = 1


def train(
    data: Annotated[
        Path,
        typer.Option(
            help="Training data: .npz (x_train, y_train, x_test, ...), multi-label .arff, or "
            "forecasting .csv (with --series)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Results folder.")],
    method: Annotated[
        str, typer.Option(help="Trainer: smle (default), preprocess or postprocess.")
    ] = "smle",
    property_file: Annotated[
        Path | None,
        typer.Option("--property", help="Property JSON (list of {name, input, output})."),
    ] = None,
    property_name: Annotated[
        str | None, typer.Option(help="Which property of the file (by its name).")
    ] = None,
    series: Annotated[
        str | None,
        typer.Option(help="Forecasting data: the id of the series to train on, e.g. D4099."),
    ] = None,
    quantile: Annotated[
        float | None,
        typer.Option(
            help="Multi-label data: forbid label pairs seen together at most this quantile "
            "of pair counts (default 0). Forecasting data: consecutive predictions differ by "
            "at most this quantile of the series' one-step changes (default 1).",
            min=0.0,
            max=1.0,
            callback=refuse_nan,
        ),
    ] = None,
    level: Annotated[
        bool | None,
        typer.Option(
            "--level/--no-level",
            help="Forecasting data: predict relative to each window's last input (default) or not.",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Most epochs (default 1000).", min=1)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default 128).", min=1)] = None,
    patience: Annotated[
        int | None, typer.Option(help="Epochs without progress before stopping (default 5).", min=1)
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(help="Adam's step size (default 0.001).", min=0.0, callback=refuse_nan),
    ] = None,
    widths: Annotated[
        str | None, typer.Option(help="Backbone widths, e.g. 8,16,8 (default: the paper's).")
    ] = None,
    box: Annotated[
        str | None,
        typer.Option(help="smle: unit [0,1] box (default), constant [-1,1] (paper) or linear."),
    ] = None,
    enforce: Annotated[
        str | None,
        typer.Option(help="smle: search and project after every step (default) or epoch."),
    ] = None,
    pool: Annotated[
        int | None,
        typer.Option(help="smle: counterexamples kept (default 1, mutual exclusion 10).", min=1),
    ] = None,
    max_rounds: Annotated[
        int | None,
        typer.Option(help="smle: most projections after training (default 1000).", min=0),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of every random choice (default 0).")
    ] = None,
    solver: Annotated[str | None, typer.Option(help="Solver plugin (default highs).")] = None,
    solver_option: Annotated[
        list[str] | None,
        typer.Option(help="Solver option key=value (repeatable), e.g. solver=highs for pyomo."),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(help="Random inputs of the region the check runs (default 100000).", min=1),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print result.json instead of the summary table.")
    ] = False,
) -> None:
    """Train a network for a property and write OUT/model.onnx, OUT/result.json,
    OUT/property.json and OUT/curves.png.

    smle trains a network that satisfies the property by construction and certifies the
    exported file (a MILP proof plus samples run through onnxruntime). Exit code 0 when
    trained (smle: and certified), 1 when an smle model is not certified, 2 on bad input.
    """
    with user_errors():
        options = {
            key: value
            for key, value in {
                "epochs": epochs,
                "batch_size": batch_size,
                "patience": patience,
                "learning_rate": learning_rate,
                "widths": None if widths is None else _widths(widths),
                "box": box,
                "enforce": enforce,
                "pool": pool,
                "max_rounds": max_rounds,
                "seed": seed,
                "solver": solver,
                "solver_options": dict(parse_options(solver_option or [])) or None,
            }.items()
            if value is not None
        }
        trainer = default_registry().get("trainer", method).factory(**options)
        request: dict[str, Any] = {
            "data": data,
            "out": out,
            "property_file": property_file,
            "property_name": property_name,
            "quantile": quantile,
        }
        if series is not None:
            request["series"] = series
        if level is not None:
            request["level"] = level
        if samples is not None:
            request["samples"] = samples
        result = _with_progress(trainer, request, epochs)
    if json_output:
        typer.echo(json.dumps(result, indent=2))
    else:
        Console().print(summary_table(result, out))
    if result["method"] == "smle" and not result["certified"]:
        raise typer.Exit(NOT_CERTIFIED)


def _widths(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"--widths {text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise InputError(f"--widths {text!r} needs positive widths")
    return values


def _with_progress(trainer: Any, request: dict[str, Any], epochs: int | None) -> dict[str, Any]:
    """A progress bar on stderr (when it is a terminal): epochs, losses, counterexamples."""
    console = Console(stderr=True)
    columns = (
        TextColumn("epoch"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("loss {task.fields[loss]}  val {task.fields[val]}"),
        TextColumn("violation {task.fields[violation]}  projections {task.fields[projections]}"),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task(
            "train", total=epochs or 1000, loss="-", val="-", violation="-", projections=0
        )

        def update(record: Any) -> None:
            progress.update(
                task,
                completed=record.epoch,
                loss=f"{record.train_loss:.4g}",
                val=f"{record.val_loss:.4g}",
                violation=f"{record.violation:.3g}",
                projections=record.projections,
            )

        return trainer.run(**request, progress=update)


def summary_table(result: dict[str, Any], out: Path) -> Table:
    """The run at a glance: the guarantee, the scores, the cost, where the files are."""
    table = Table(title=f"nnv train ({result['method']})", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", overflow="fold")
    if "series" in result:
        table.add_row("series", result["series"])
    if "level" in result:
        table.add_row("level", f"input {result['level']} (outputs relative to it)")
    table.add_row("property", f"{result['property']} ({result['property_kind']})")
    table.add_row("certified", "yes" if result["certified"] else "no")
    table.add_row("certificate", result["certificate"])
    metric = "r2" if "r2" in result else "accuracy"
    for split, value in result[metric].items():
        violated = result["split_violation_rate"][split]
        table.add_row(f"{metric} {split}", f"{value:.4f} (violations {100 * violated:.2f}%)")
    samples = result["samples"]
    table.add_row("sampled inputs", f"{samples['count']}: {samples['violations']} violations")
    table.add_row("epochs", str(result["epochs"]))
    table.add_row("projections", str(result["projections"]))
    table.add_row("seconds", f"{result['seconds']['total']:.1f}")
    table.add_row("results", str(out))
    return table
