"""``nnv run``'s flags, made from its settings rather than written out.

Every setting (:func:`nnv.core.run.config.settings_catalogue`: RunConfig's fields and every
installed method's options) with ``cli`` set is a flag: its name, help, bounds and type come
from the field. A function signature is built from them and typer makes the click parameters,
so the flags look and check as typer's always do. A method plugin's options are flags once it
is installed; any plugin's option also goes through ``-o KIND.KEY=VALUE``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from nnv.core.errors import InputError
from nnv.core.plugin.options import alternatives, choices_of, info, parse_pairs, typed_value
from nnv.core.run.config import Setting

from .config import flag_name, is_table
from .errors import refuse_nan
from .help_text import readable_metavars

# the flags that are the command line's own, not settings
STATIC = [
    inspect.Parameter(
        "config_file",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Path | None,
            typer.Argument(metavar="CONFIG", help="TOML file with the same keys as the options."),
        ],
    ),
    inspect.Parameter(
        "json_output",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool, typer.Option("--json", help="Print result.json instead of the summary table.")
        ],
    ),
    inspect.Parameter(
        "quiet",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--quiet", help="No progress bar on stderr.")],
    ),
]


def run_parameters(catalogue: Mapping[str, Setting]) -> list[click.Parameter]:
    """The click parameters of ``nnv run``: CONFIG, RunConfig's flags, ``--json`` and ``-o``,
    then each method's flags under a heading of its own."""
    common = [_parameter(s) for s in catalogue.values() if not s.methods and info(s.field).cli]
    methods = [_parameter(s) for s in catalogue.values() if s.methods and info(s.field).cli]
    made = _typer_parameters([STATIC[0], *common, *STATIC[1:], _o(catalogue), *methods])
    readable_metavars(made)
    return made


def _o(catalogue: Mapping[str, Setting]) -> inspect.Parameter:
    """``-o KIND.KEY=VALUE``, for the kinds whose options a setting holds."""
    kinds = sorted({kind for s in catalogue.values() if (kind := info(s.field).kind)})
    flag = typer.Option(
        "--option",
        "-o",
        help=f"A plugin's option KIND.KEY=VALUE (repeatable); KIND: {', '.join(kinds)}.",
    )
    return inspect.Parameter(
        "option",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[list[str] | None, flag],
    )


def _typer_parameters(parameters: list[inspect.Parameter]) -> list[click.Parameter]:
    """The click parameters typer makes for a command with this signature."""

    def command() -> None:
        """The signature's carrier."""

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    app = typer.Typer(add_completion=False)
    app.command()(command)
    return list(typer.main.get_command(app).params)


def _parameter(setting: Setting) -> inspect.Parameter:
    """The flag of one setting; every flag defaults to None (not given), so a config file's
    value stands unless the flag is given."""
    meta = info(setting.field)
    declaration = meta.flag or flag_name(setting)
    kind, default = _flag_type(setting, declaration), None
    if kind is bool:
        default = False  # an on-only flag (--restart): off means not given
    panel = f"Options of --method {setting.methods[0]}" if setting.methods else None
    flag = typer.Option(
        declaration,
        help=meta.help,
        min=meta.minimum,
        max=meta.maximum,
        callback=refuse_nan if kind == float | None else None,
        rich_help_panel=panel,
    )
    return inspect.Parameter(
        setting.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, flag],
    )


def _flag_type(setting: Setting, declaration: str) -> Any:
    """What the flag reads: text to parse, ``key=value`` pairs, a switch, a value."""
    hint = setting.hint
    if info(setting.field).parse is not None or choices_of(hint):
        return str | None
    if is_table(setting):
        return list[str] | None
    kinds = [kind for kind in alternatives(hint) if kind is not type(None)]
    if kinds == [bool]:
        return bool | None if "/" in declaration else bool
    (kind,) = kinds
    return kind | None


# -- what the flags were given, as settings --------------------------------------------------


def command_line_settings(
    values: Mapping[str, Any], catalogue: Mapping[str, Setting]
) -> dict[str, Any]:
    """The settings the flags give (None where not given): parsed text, ``key=value`` pairs
    typed, and ``-o KIND.KEY=VALUE`` added to the table of options of its kind."""
    settings: dict[str, Any] = {}
    for name, setting in catalogue.items():
        value = values.get(name)
        meta = info(setting.field)
        on_only = value is False and "/" not in (meta.flag or "")  # off: not given
        if value is None or on_only or (isinstance(value, tuple | list) and not value):
            settings[name] = None
        elif meta.parse is not None:
            settings[name] = meta.parse(flag_name(setting), value)
        elif is_table(setting):
            settings[name] = parse_pairs(list(value), meta.kind or name)
        elif isinstance(value, tuple | list):
            settings[name] = list(value)
        else:
            settings[name] = value
    for kind, options in _kind_pairs(values.get("option") or (), catalogue).items():
        settings[kind] = {**(settings[kind] or {}), **options}
    return settings


def _kind_pairs(pairs: Any, catalogue: Mapping[str, Setting]) -> dict[str, dict[str, Any]]:
    """``-o KIND.KEY=VALUE`` by the setting that holds that kind's options."""
    tables = {info(s.field).kind: name for name, s in catalogue.items() if info(s.field).kind}
    found: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        target, sep, raw = pair.partition("=")
        kind, dot, key = target.strip().partition(".")
        if not sep or not dot or not kind or not key.strip():
            raise InputError(f"option {pair!r} is not of the form KIND.KEY=VALUE")
        if kind not in tables:
            known = ", ".join(sorted(k for k in tables if k))
            raise InputError(f"option {pair!r}: no plugin kind {kind!r} (kinds: {known})")
        found.setdefault(tables[kind], {})[key.strip()] = typed_value(raw.strip())
    return found
