"""HiGHS's options, checked and set: shared by the ``highs`` plugin and the ``pyomo`` plugin's
HiGHS backends (which hand their options to HiGHS too).

HiGHS knows its options and their types (``getOptionType``); a value of the wrong type is
refused here, in Python, before HiGHS sees it, and a value out of range by HiGHS itself on a
scratch instance, so that a bad option is one ``InputError`` when the solver is built.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping
from typing import Any

import highspy
import numpy as np

from nnv.core import InputError
from nnv.core.plugin.options import check_kind, option_error
from nnv.core.runtime.quiet import stdout_to_devnull

_KINDS: dict[Any, type] = {
    highspy.HighsOptionType.kBool: bool,
    highspy.HighsOptionType.kInt: int,
    highspy.HighsOptionType.kDouble: float,
    highspy.HighsOptionType.kString: str,
}
_LISTING = "see https://ergo-code.github.io/HiGHS/stable/options/definitions/"


def check_highs_options(solver: str, options: Mapping[str, Any]) -> None:
    """An ``InputError`` for an option HiGHS does not have or a value it does not take."""
    highs = quiet_highs()
    unknown = [key for key in options if _kind(highs, key) is None]
    if unknown:
        raise option_error(f"solver {solver!r}", unknown, _names(), _LISTING)
    for key, value in options.items():
        check_kind(f"solver {solver!r}", key, value, _kind(highs, key))  # type: ignore[arg-type]
        set_highs_option(highs, key, value)


def set_highs_option(highs: highspy.Highs, key: str, value: Any) -> None:
    """Set one option; one that HiGHS refuses is an ``InputError``."""
    if highs.setOptionValue(key, _plain(value)) == highspy.HighsStatus.kError:
        raise InputError(f"HiGHS option {key!r} does not take the value {value!r}")


def quiet_highs() -> highspy.Highs:
    """A fresh HiGHS instance that prints nothing (no banner on stdout, no log)."""
    _swallow_banner()
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    return highs


@functools.cache
def _swallow_banner() -> None:
    """The first Highs() of a process writes a banner to fd 1 before any option can stop it,
    which would corrupt the verdict ``nnv verify`` prints on stdout; later ones are silent."""
    with stdout_to_devnull():
        highspy.Highs()


def _kind(highs: highspy.Highs, key: str) -> type | None:
    status, kind = highs.getOptionType(key)
    return None if status == highspy.HighsStatus.kError else _KINDS.get(kind)


@functools.cache
def _names() -> tuple[str, ...]:
    """HiGHS's option names, for suggestions (the binding lists the documented ones)."""
    return tuple(name for name in dir(quiet_highs().getOptions()) if not name.startswith("_"))


def _plain(value: Any) -> bool | int | float | str:
    """A Python scalar, so pybind picks the right setOptionValue overload (np.float64 would not)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)
