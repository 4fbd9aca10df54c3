"""Option checks the region heuristics share: one clear line for a bad value."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from nnv.core import InputError


def integer_option(heuristic: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{heuristic}: {name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def margin_option(heuristic: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < np.inf:
        raise InputError(f"{heuristic}: margin must be a finite number >= 0, not {value!r}")
    return float(value)
