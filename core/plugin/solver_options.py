"""Checking a solver's options when it is built: unknown names and values of the wrong type.

A solver either declares its options as a dataclass (``Solver.Options``: field names, types
and defaults), checked by :func:`typed_options`, or asks its library, which knows its own
options (HiGHS, z3, cvc5), using :func:`option_error` and :func:`check_kind` for the same
messages. Either way a bad option is one ``InputError`` line when the solver is constructed,
not a traceback in the middle of a run (or never, when no solver call happens).
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import types
import typing
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from nnv.core.errors import InputError

# Up to this many known options are listed in full; beyond it, the closest names only.
_LISTED = 20


_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def typed_options(solver: str, spec: type, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against the dataclass ``spec``, with its defaults filled in."""
    if not dataclasses.is_dataclass(spec):
        raise TypeError(f"the Options of solver {solver!r} must be a dataclass")
    hints = typing.get_type_hints(spec)
    known = [f.name for f in dataclasses.fields(spec)]
    unknown = [key for key in options if key not in known]
    if unknown:
        raise option_error(solver, unknown, known)
    for key, value in options.items():
        allowed = _alternatives(hints[key])
        if not any(_is_kind(value, kind) for kind in allowed):
            wanted = " or ".join(_describe(kind) for kind in allowed)
            raise InputError(f"solver {solver!r}: option {key!r} takes {wanted}, not {value!r}")
    return dataclasses.asdict(spec(**options))


def option_error(
    solver: str, unknown: Sequence[str], known: Collection[str], listing: str = ""
) -> InputError:
    """The error for options ``solver`` does not have: every known name when there are few,
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
    return InputError(f"solver {solver!r} has no {plural} {names} ({hint})")


def check_kind(solver: str, key: str, value: Any, kind: type) -> None:
    """An ``InputError`` unless ``value`` is of ``kind`` (bool, int, float or str); an int
    does for a float, a bool does for nothing else."""
    if not _is_kind(value, kind):
        raise InputError(
            f"solver {solver!r}: option {key!r} takes {_describe(kind)}, not {value!r}"
        )


def _alternatives(hint: Any) -> tuple[Any, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def _is_kind(value: Any, kind: Any) -> bool:
    if typing.get_origin(kind) is typing.Literal:
        return value in typing.get_args(kind)
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
    return isinstance(kind, type) and isinstance(value, kind)


def _describe(kind: Any) -> str:
    if typing.get_origin(kind) is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(kind))
    if kind is type(None):
        return "None"
    return _KIND_NAMES.get(kind, getattr(kind, "__name__", str(kind)))
