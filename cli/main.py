"""The ``nnv`` command: one typer app, one module per command."""

from __future__ import annotations

import typer

from .plugins_command import plugins
from .run_command import run
from .train_command import train
from .verify_command import verify

app = typer.Typer(
    name="nnv",
    help="Verify, repair and train ReLU neural networks against formal properties.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(verify)
app.command()(plugins)
app.command()(run)
app.command()(train)


def main() -> None:
    app()
