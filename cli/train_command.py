"""``nnv train``: train a network for a property (SMLE or a baseline) and write its folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nnv.core.errors import InputError
from nnv.core.plugin.options import parse_pairs
from nnv.core.plugin.registry import Registry, default_registry
from nnv.core.plugin.trainer import (
    SAMPLES,
    Trainer,
    TrainingStopped,
    TrainRequest,
    TrainResult,
)

from .errors import refuse_nan, user_errors
from .train_progress import TrainProgress

NOT_CERTIFIED = 1


# train() is long because typer reads its flags from its parameters: one declaration per flag,
# and a body of about 40 lines (the trainer's options, the request, the output).
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
    precision: Annotated[
        str | None,
        typer.Option(
            help="model.onnx's type: float32 (default; what onnxruntime users and Marabou "
            "expect) or float64."
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print result.json instead of the summary table.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar on stderr.")] = False,
) -> None:
    """Train a network for a property and write OUT/model.onnx, OUT/result.json,
    OUT/property.json and OUT/curves.png.

    smle trains a network that satisfies the property by construction and certifies the
    exported file (a MILP proof plus samples run through onnxruntime). Exit code 0 when
    trained (smle: and certified), 1 when an smle model is not certified (a solver that ran
    out of time included) or a baseline could not finish, 2 on bad input. model.onnx is
    float32 unless --precision float64; a float32 file that float32 rounding keeps from
    being certified gives way to the float64 one when that is certified, and one line on
    stderr says so.
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
                "precision": precision,
                "solver": solver,
                "solver_options": dict(parse_pairs(solver_option or [], "solver")) or None,
            }.items()
            if value is not None
        }
        registry = default_registry()
        trainer = registry.create("trainer", method, options)
        request = TrainRequest(
            data=data,
            out=out,
            property_file=property_file,
            property_name=property_name,
            quantile=quantile,
            series=series,
            level=level,
            samples=SAMPLES if samples is None else samples,
        )
        result = _with_progress(trainer, request, registry, epochs, quiet)
    if result.notice:
        print(f"nnv: {result.notice}", file=sys.stderr)
    if json_output:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        Console().print(summary_table(result, out))
    if result.method == "smle" and not result.certified:
        raise typer.Exit(NOT_CERTIFIED)


def _widths(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"--widths {text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise InputError(f"--widths {text!r} needs positive widths")
    return values


def _with_progress(
    trainer: Trainer, request: TrainRequest, registry: Registry, epochs: int | None, quiet: bool
) -> TrainResult:
    """Train with the progress lines on stderr (:mod:`.train_progress`).

    A trainer that cannot finish (a solver ran out of time) is an outcome, not bad input:
    one line on stderr and exit code 1.
    """
    with TrainProgress(epochs or 1000, quiet) as progress:
        try:
            return trainer.train(request, registry, progress)
        except TrainingStopped as stopped:
            progress.progress.stop()
            print(f"nnv: {stopped}", file=sys.stderr)
            raise typer.Exit(NOT_CERTIFIED) from None


def summary_table(result: TrainResult, out: Path) -> Table:
    """The run at a glance: the guarantee, the scores, the cost, where the files are."""
    table = Table(title=f"nnv train ({result.method})", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", overflow="fold")
    if result.series is not None:
        table.add_row("series", result.series)
    if result.level is not None:
        table.add_row("level", f"input {result.level} (outputs relative to it)")
    table.add_row("property", f"{result.property_name} ({result.property_kind})")
    table.add_row("certified", "yes" if result.certified else "no")
    table.add_row("certificate", result.certificate)
    for split, value in result.scores.items():
        violated = result.split_violation_rate[split]
        table.add_row(
            f"{result.metric} {split}", f"{value:.4f} (violations {100 * violated:.2f}%)"
        )
    samples = result.samples
    table.add_row("sampled inputs", f"{samples.count}: {samples.violations} violations")
    table.add_row("epochs", str(result.epochs))
    table.add_row("projections", str(result.projections))
    table.add_row("seconds", f"{result.total_seconds:.1f}")
    table.add_row("results", str(out))
    if result.files:
        typed = {"model.onnx": f"model.onnx ({result.precision})"} if result.precision else {}
        table.add_row("files", ", ".join(typed.get(name, name) for name in result.files))
    return table
