"""The ``nnv`` command: one typer app, one module per command, imported when it runs.

``nnv --help`` lists the commands from :data:`COMMANDS` without importing them, and a
command's module (with the engine it needs) is imported only when that command runs or its
own help is asked for: start-up is most of a small verification's time.
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from .errors import BAD_INPUT
from .help_text import readable_command

# name -> (module, function, what `nnv --help` shows: the first paragraph of the function's
# docstring, which tests/test_cli.py checks)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "verify": ("verify_command", "verify", "Verify NETWORK against PROPERTY."),
    "plugins": (
        "plugins_command",
        "plugins",
        "List installed plugins: name, kind, capabilities, origin.",
    ),
    "run": (
        "run_command",
        "run",
        "Repair NETWORK so that every PROPERTY holds, changing a few free parameters.",
    ),
    "train": (
        "train_command",
        "train",
        "Train a network for a property and write OUT/model.onnx, OUT/result.json, "
        "OUT/property.json and OUT/curves.png.",
    ),
}


def load_command(name: str) -> Any:
    """The click command of ``name``, built from its module's function (with the command
    class the module names as ``COMMAND_CLASS``, if any: ``nnv run`` makes its flags from
    the installed plugins' options), its help reading as a command line."""
    module_name, function, _ = COMMANDS[name]
    module = importlib.import_module(f"{__package__}.{module_name}")
    single = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    command_class = getattr(module, "COMMAND_CLASS", None)
    extra = {} if command_class is None else {"cls": command_class}
    single.command(name=name, **extra)(getattr(module, function))
    return readable_command(typer.main.get_command(single))


class LazyGroup(TyperGroup):
    """The group of :data:`COMMANDS`: each loaded on first use; the group's help lists them
    by name and summary only."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:  # the group's help: a stand-in that carries the summary
            return typer.core.TyperCommand(cmd_name, help=COMMANDS[cmd_name][2])
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="nnv",
    cls=LazyGroup,
    # click's plain help for the group: typer's rich help imports rich's markdown renderer,
    # half of `nnv --help`'s time (each command's own help stays rich)
    rich_markup_mode=None,
    help="Verify, repair and train ReLU neural networks against formal properties.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Verify, repair and train ReLU neural networks against formal properties."""


def main() -> None:
    """Run the app; a usage error (bad option value, unknown or missing option) is bad input
    like any other: one ``nnv: error:`` line and exit code 2, not typer's framed usage box.

    Outside standalone mode typer returns the exit code of ``--help`` and of ``typer.Exit``
    (the commands' 0, 1 and 2) and raises its click errors, which derive from
    ``typer.TyperException``.

    Before the exit every object alive is frozen out of the garbage collector: the
    interpreter's final collections would otherwise walk all of them (torch alone makes
    hundreds of thousands), 1 to 2 s of a loaded machine after ``nnv verify --timeout T`` has
    answered, counted in T by whoever waits for the process.
    """
    code = _run()
    gc.freeze()
    sys.exit(code)


def _run() -> int:
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `nnv` alone: its message is the help
            print(error.format_message())
        else:
            print(f"nnv: error: {' '.join(error.format_message().split())}", file=sys.stderr)
        return BAD_INPUT
    except typer.Abort:
        print("nnv: aborted", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0
