"""The options model: every plugin's, method's and run's options as one typed dataclass.

Options are the fields of a dataclass (frozen, by convention); :func:`option` adds what a
reader and the command line need (help text, bounds, the flag's name, the plugin kind a
table of options is for). From those fields alone nnv

- checks a mapping of raw values (:func:`build`: unknown names refused, listing the known
  ones; each value checked against its type hint; bounds and ``Literal`` choices; NaN refused),
- makes the flags of ``nnv run`` and the keys of its TOML config (cli/), and the fingerprint
  of a run (:mod:`nnv.core.run.fingerprint`),
- writes the options out (:func:`to_json`).

A dataclass that derives from :class:`Options` is checked whenever it is made, also in
process; a plugin's plain dataclass is checked by :func:`build`. A plugin without an options
dataclass is checked against its constructor's signature (:func:`checked_keywords`). A plugin
whose library knows its own options (HiGHS, z3, cvc5) checks them itself and phrases its
errors with :func:`option_error` and :func:`check_kind`.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from nnv.core.errors import InputError

T = TypeVar("T")

# Up to this many known options are listed in full; beyond it, the closest names only.
_LISTED = 20

_METADATA_KEY = "nnv"


@dataclass(frozen=True)
class OptionInfo:
    """What :func:`option` records about one field."""

    help: str = ""
    minimum: float | None = None  # inclusive; also the range of its ``nnv run`` flag
    maximum: float | None = None
    flag: str | None = None  # the flag's declaration when not ``--name``: "--a/--no-a"
    cli: bool = True  # whether ``nnv run`` has a flag for it
    # text (a flag's value) or a config file's value -> the typed value; it gets a label for
    # its errors ("--free", "run.toml: free")
    parse: Callable[[str, Any], Any] | None = None
    kind: str | None = None  # a table of a plugin's options: ``-o KIND.KEY=VALUE`` lands here
    fingerprint: bool = False  # a trial's result depends on it (run.json)
    # options of one group are one choice: given on the command line, one replaces any of its
    # group a config file gives
    group: str | None = None


def option(
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | Any = MISSING,
    help: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    flag: str | None = None,
    cli: bool = True,
    parse: Callable[[str, Any], Any] | None = None,
    kind: str | None = None,
    fingerprint: bool = False,
    group: str | None = None,
) -> Any:
    """A dataclass field that is an option (see :class:`OptionInfo` for the arguments)."""
    info = OptionInfo(help, minimum, maximum, flag, cli, parse, kind, fingerprint, group)
    metadata = {_METADATA_KEY: info}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def info(field: dataclasses.Field[Any]) -> OptionInfo:
    """The option's metadata (a plain field's is the default)."""
    found = field.metadata.get(_METADATA_KEY)
    return found if isinstance(found, OptionInfo) else OptionInfo()


def option_fields(options_class: type) -> list[tuple[dataclasses.Field[Any], Any]]:
    """Each init field of the dataclass with its resolved type hint, in declaration order."""
    if not dataclasses.is_dataclass(options_class):
        raise TypeError(f"options must be a dataclass, not {options_class!r}")
    hints = typing.get_type_hints(options_class)
    return [(f, hints[f.name]) for f in dataclasses.fields(options_class) if f.init]


class Options:
    """Base of nnv's own option dataclasses: values are checked whenever one is made.

    Subclasses are ``@dataclass(frozen=True)``; one that checks more (a relation between
    fields, a bound the flag does not state) extends ``__post_init__``.
    """

    def __post_init__(self) -> None:
        check_values(self)


@dataclass(frozen=True)
class NoOptions(Options):
    """The options of a plugin that takes none."""


# -- building options from raw values ------------------------------------------------------


def build(options_class: type[T], raw: Mapping[str, Any], where: str) -> T:
    """``options_class`` made from ``raw``, checked: an ``InputError`` names an unknown
    option (with the known ones), a missing one, a value of the wrong type, or one out of
    range. ``where`` names whose options they are (``"solver 'highs'"``)."""
    known = {field.name: (field, hint) for field, hint in option_fields(options_class)}
    unknown = [key for key in raw if key not in known]
    if unknown:
        raise option_error(where, unknown, list(known))
    missing = [name for name, (f, _) in known.items() if name not in raw and _required(f)]
    if missing:
        raise InputError(f"{where} needs {', '.join(repr(name) for name in missing)}")
    values = {}
    for key, value in raw.items():
        field, hint = known[key]
        value = _converted(where, key, value, hint, info(field))
        check_kind(where, key, value, hint)
        values[key] = value
    built = options_class(**values)
    if not isinstance(built, Options):  # an Options checked itself when it was made
        check_values(built)
    return built


def checked_keywords(factory: Any, options: Any, where: str) -> dict[str, Any]:
    """The keyword arguments to build a plugin with: ``options`` (a mapping, an instance of
    the factory's ``Options`` or None) checked against its ``Options`` dataclass when it has
    one, else against the names its signature takes (the values are the constructor's to
    check). Nothing is built here, so a bad option fails before any plugin code runs."""
    declared = options_class(factory)
    if declared is not None:
        if options is None or isinstance(options, Mapping):
            options = build(declared, options or {}, where)
        elif not isinstance(options, declared):
            raise InputError(f"{where} takes {declared.__name__}, not {type(options).__name__}")
        return {field.name: getattr(options, field.name) for field, _ in option_fields(declared)}
    given = dict(options or {})
    parameters = _parameters(factory)
    if parameters is not None and not any(p.kind is p.VAR_KEYWORD for p in parameters):
        names = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = [key for key in given if key not in names]
        if unknown:
            raise option_error(where, unknown, names)
    return given


def options_class(factory: Any) -> type | None:
    """The factory's options dataclass (its ``Options`` attribute), or None."""
    declared = getattr(factory, "Options", None)
    return declared if isinstance(declared, type) and dataclasses.is_dataclass(declared) else None


def accepts(factory: Any, name: str) -> bool:
    """Whether the factory names the option ``name`` (a field of its Options, a parameter)."""
    declared = options_class(factory)
    if declared is not None:
        return any(field.name == name for field, _ in option_fields(declared))
    parameters = _parameters(factory)
    return parameters is not None and any(p.name == name for p in parameters)


def _parameters(factory: Any) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return None


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is MISSING and field.default_factory is MISSING


def _converted(where: str, key: str, value: Any, hint: Any, meta: OptionInfo) -> Any:
    """Text forms made typed: a string for a path, a parsed form (``"w1.1.1,b2.2"``)."""
    if meta.parse is not None and isinstance(value, str) and not _is_kind(value, hint):
        return meta.parse(f"{where}: option {key!r}", value)
    if isinstance(value, str) and Path in alternatives(hint):
        return Path(value)
    if isinstance(value, list) and any(_is_list_of(kind, Path) for kind in alternatives(hint)):
        return [Path(item) if isinstance(item, str) else item for item in value]
    return value


def _is_list_of(hint: Any, item: Any) -> bool:
    return typing.get_origin(hint) is list and typing.get_args(hint) == (item,)


# -- checking values --------------------------------------------------------------------------


def check_values(options: Any) -> None:
    """The value checks of every field: NaN refused, bounds, ``Literal`` choices."""
    for field, hint in option_fields(type(options)):
        value = getattr(options, field.name)
        check_kind(type(options).__name__, field.name, value, hint)
        meta = info(field)
        name = field.name
        if _is_number(value) and math.isnan(value):
            raise InputError(f"{name} must be a number, not {value!r}")
        if meta.minimum is not None and _is_number(value) and value < meta.minimum:
            raise InputError(f"{name} must be at least {meta.minimum:g}, not {value!r}")
        if meta.maximum is not None and _is_number(value) and value > meta.maximum:
            raise InputError(f"{name} must be at most {meta.maximum:g}, not {value!r}")
        choices = choices_of(hint)
        if choices and value is not None and value not in choices:
            listed = ", ".join(str(choice) for choice in choices)
            raise InputError(f"{name} must be one of {listed}, not {value!r}")


def choices_of(hint: Any) -> tuple[Any, ...]:
    """The values a ``Literal`` hint (or ``Literal[...] | None``) allows; () for others."""
    for kind in alternatives(hint):
        if typing.get_origin(kind) is Literal:
            return typing.get_args(kind)
    return ()


def check_kind(where: str, key: str, value: Any, hint: Any) -> None:
    """An ``InputError`` unless ``value`` fits the type hint (bool, int, float, str, Path,
    list[...], dict[str, ...], Literal[...] and unions of them; an int does for a float, a
    bool does for nothing else)."""
    if not _is_kind(value, hint):
        raise InputError(f"{where}: option {key!r} takes {describe(hint)}, not {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def alternatives(hint: Any) -> tuple[Any, ...]:
    """The types a union hint allows (``int | None`` -> int, None); a hint alone otherwise."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def _is_kind(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    kinds = alternatives(hint)
    if len(kinds) > 1:
        return any(_is_kind(value, kind) for kind in kinds)
    origin = typing.get_origin(hint)
    if origin is Literal:  # the type of its choices here; the choices in check_values
        return any(_is_kind(value, type(choice)) for choice in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_is_kind(entry, item) for entry in value)
    if origin is dict:
        key, item = typing.get_args(hint) or (Any, Any)
        return isinstance(value, dict) and all(
            _is_kind(k, key) and _is_kind(v, item) for k, v in value.items()
        )
    return _is_scalar(value, hint)


def _is_scalar(value: Any, kind: Any) -> bool:
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool | np.bool_)
    if isinstance(value, bool | np.bool_):  # True is an int to Python, not to an option
        return False
    if kind is int:
        return isinstance(value, numbers.Integral)
    if kind is float:
        return isinstance(value, numbers.Real)
    return not isinstance(kind, type) or isinstance(value, kind)  # unknown hints: unchecked


_KIND_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    Path: "a path",
    type(None): "None",
}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings", Path: "paths"}


def describe(hint: Any) -> str:
    """A type hint as a reader says it: ``int | None`` -> "an integer or None"."""
    kinds = alternatives(hint)
    if len(kinds) > 1:
        return " or ".join(describe(kind) for kind in kinds)
    origin = typing.get_origin(hint)
    if origin is Literal:
        return describe(type(typing.get_args(hint)[0]))
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        plural = "lists" if typing.get_origin(item) is list else _PLURALS.get(item, "values")
        return f"a list of {plural}"
    if origin is dict:
        return "a table of options"
    return _KIND_NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def option_error(
    where: str, unknown: Sequence[str], known: Collection[str], listing: str = ""
) -> InputError:
    """The error for options ``where`` does not have: every known name when there are few,
    otherwise the closest ones (and ``listing``: where to read them all)."""
    names = ", ".join(repr(name) for name in unknown)
    if len(known) <= _LISTED:
        hint = f"known: {', '.join(sorted(known)) or 'none'}"
    else:
        close = difflib.get_close_matches(unknown[0], list(known), n=3)
        hint = f"{len(known)} known"
        if close:
            hint += f"; closest: {', '.join(close)}"
        if listing:
            hint += f"; {listing}"
    plural = "options" if len(unknown) > 1 else "option"
    return InputError(f"{where} has no {plural} {names} ({hint})")


# -- the command line's pairs and JSON ----------------------------------------------------------


def parse_pairs(pairs: Sequence[str], what: str) -> dict[str, Any]:
    """``["key=value", ...]`` from the command line as typed values: ``true``/``false`` (any
    case) become booleans, then an int if it parses as one, then a float, else the string.
    ``what`` names whose options they are in the error (``"heuristic"``)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{what} option {pair!r} is not of the form key=value")
        options[key.strip()] = typed_value(raw.strip())
    return options


def typed_value(raw: str) -> Any:
    """One command-line value, typed as :func:`parse_pairs` says."""
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def to_json(options: Any) -> dict[str, Any]:
    """The options as JSON values, in field order (paths as strings)."""
    return {
        field.name: _json_value(getattr(options, field.name))
        for field, _ in option_fields(type(options))
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(value)
    return value
