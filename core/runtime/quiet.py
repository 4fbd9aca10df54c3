"""Silencing libraries that write straight to file descriptor 1.

Some native libraries (HiGHS's first instance in a process, for one) print a banner on the
process's stdout whatever their options say, which would corrupt output such as the verdict
line of ``nnv verify``. Redirecting the descriptor, not ``sys.stdout``, is what stops them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Send everything written to file descriptor 1 inside the block to /dev/null."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
