"""How the CLI reports a user's mistake: one line on stderr and exit code 2, no traceback."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator

import typer

from nnv.core.errors import NnvError

BAD_INPUT = 2


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn nnv's user-facing errors (and unreadable or unwritable files) into exit code 2."""
    try:
        yield
    except NnvError as error:
        _fail(str(error))
    except (OSError, UnicodeDecodeError) as error:
        where = getattr(error, "filename", None) or "file"
        _fail(f"{where}: {getattr(error, 'strerror', None) or error}")


def _fail(message: str) -> None:
    print(f"nnv: error: {message}", file=sys.stderr)
    raise typer.Exit(BAD_INPUT)


def refuse_nan(value: float | None) -> float | None:
    """The callback of every float option: NaN passes any range check (it compares false
    with every bound) and means nothing as a timeout, a change or a rate."""
    if value is not None and math.isnan(value):
        raise typer.BadParameter("nan is not a number")
    return value
