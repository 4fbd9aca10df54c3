"""The ``nnv`` command: one typer app, one module per command."""

from __future__ import annotations

import sys

import typer

from .errors import BAD_INPUT
from .help_text import readable_command
from .plugins_command import plugins
from .run_command import RunCommand, run
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
app.command(cls=RunCommand)(run)
app.command()(train)


def main() -> None:
    """Run the app; a usage error (bad option value, unknown or missing option) is bad input
    like any other: one ``nnv: error:`` line and exit code 2, not typer's framed usage box.

    Outside standalone mode typer returns the exit code of ``--help`` and of ``typer.Exit``
    (the commands' 0, 1 and 2) and raises its click errors, which derive from
    ``typer.TyperException``.
    """
    try:
        command = readable_command(typer.main.get_command(app))
        code = command.main(prog_name="nnv", standalone_mode=False)
    except typer.TyperException as error:
        # `nnv` alone has printed the help already; that error's message is the help itself
        if type(error).__name__ != "NoArgsIsHelpError":
            print(f"nnv: error: {' '.join(error.format_message().split())}", file=sys.stderr)
        sys.exit(BAD_INPUT)
    except typer.Abort:
        print("nnv: aborted", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
