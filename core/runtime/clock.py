"""How long this process has run, for timeouts that are the user's whole wait.

``nnv verify --timeout T`` promises that the command ends about T seconds after it was started,
and Python's own start-up and imports (a second or more on a loaded machine) happen before any
of nnv's code runs. On Linux the process's start time is in ``/proc/self/stat``; elsewhere the
age counts from the first call here.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path


@functools.cache
def _start() -> float:
    """The process's start on the ``time.monotonic()`` clock (boot-relative on Linux, like
    ``/proc``'s times), or now where that cannot be read."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        started = int(fields[19]) / ticks  # field 22 of stat: start time after boot, in ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return time.monotonic()
    return time.monotonic() - (uptime - started)


def process_age() -> float:
    """Seconds since this process started (never negative)."""
    return max(0.0, time.monotonic() - _start())
