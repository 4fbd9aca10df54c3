"""How ``--help`` shows an option's value: as command lines do (``--out PATH``,
``--seed INTEGER``, ``--property PATH`` repeatable), nothing after a switch (``--json``,
``--restart``) and nothing after an argument, whose name says it (``NETWORK``).

typer names the parameter's type instead (``<float range>``, ``<path>``), which reads as
Python, not as a command line. Its help and usage show an option's ``metavar`` when it has
one, and an argument's type only when that type names a metavar: the options here get the
conventional name, the arguments an empty one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from typer.core import TyperArgument, TyperOption

# typer's parameter type names -> what a user types
_NAMES = {
    "str": "TEXT",
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "NUMBER",
    "float range": "NUMBER",
    "path": "PATH",
    "boolean": "BOOLEAN",
}


def value_name(parameter: TyperOption) -> str:
    """The name of what ``parameter`` takes: "" for a switch, a choice's ``[a|b]``; a
    repeatable option names its element's type."""
    if parameter.is_flag:
        return ""
    kind = parameter.type
    if hasattr(kind, "choices"):
        return "[" + "|".join(str(choice) for choice in kind.choices) + "]"
    return _NAMES.get(kind.name, kind.name.upper())


def readable_metavars(parameters: Iterable[Any]) -> None:
    """Give each option the :func:`value_name` of its value as its metavar, and each argument
    no type name, in place."""
    for parameter in parameters:
        if isinstance(parameter, TyperOption):
            parameter.metavar = value_name(parameter) or None
        elif isinstance(parameter, TyperArgument):  # its own copy: types can be shared
            parameter.type = copy.copy(parameter.type)
            parameter.type.get_metavar = lambda param, ctx: ""  # type: ignore[method-assign]


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
