"""How ``--help`` shows an option's value: as command lines do (``--out PATH``,
``--seed INTEGER``, ``--property PATH`` repeatable), nothing after a switch (``--json``,
``--restart``) and nothing after an argument, whose name says it (``NETWORK``).

typer prints the annotation instead (``<bool>``, ``<list[Path]>``, ``<float range>``), which
reads as Python, not as a command line. Its help renderer asks each parameter for
``display_type_rich``; the parameters here answer with the conventional name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typer.core import TyperArgument, TyperOption

# typer's bare type names -> what a user types
_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH", "bool": "BOOLEAN"}


def value_name(parameter: TyperOption) -> str:
    """The name of what ``parameter`` takes: "" for a switch, the element's for a list."""
    if parameter.is_flag:
        return ""
    bare = parameter.bare_type()
    if bare.startswith("list[") and bare.endswith("]"):
        bare = bare[5:-1]
    return _NAMES.get(bare, bare.upper())


def readable_metavars(parameters: Iterable[Any]) -> None:
    """Make each parameter's help show :func:`value_name` (arguments: nothing), in place."""
    for parameter in parameters:
        if isinstance(parameter, TyperArgument):
            label = ""
        elif isinstance(parameter, TyperOption):
            label = value_name(parameter)
        else:
            continue
        parameter.display_type_rich = lambda ctx, label=label: label  # type: ignore[method-assign]


def readable_command(command: Any) -> Any:
    """``command`` and its subcommands with :func:`readable_metavars` applied."""
    readable_metavars(command.params)
    made_help = command.get_help_option

    def help_option(ctx: Any) -> Any:  # --help itself is made when help is asked for
        option = made_help(ctx)
        readable_metavars([] if option is None else [option])
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        readable_command(sub)
    return command
