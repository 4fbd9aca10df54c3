"""The cactus plot of a batch: instances solved (x) within a time (y), one curve per tool.

A point (k, t) on a curve says the tool solved k instances, each in at most t seconds. nnv's
curve counts its right verdicts (a wrong one is not a solve); the other tools' curves come
from the CSV's ``<tool>_s`` columns (their times, on their hardware).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from nnv.core.runtime.files import write_atomic


def plot_cactus(curves: Mapping[str, Sequence[float]], total: int, path: Path) -> None:
    """Draw each tool's solve times as a cactus curve into the PNG ``path``."""
    # imported here: matplotlib costs a quarter of a second, and only a batch draws
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = figure.subplots()
    for tool, times in curves.items():
        ordered = sorted(times)
        label = f"{tool} ({len(ordered)})"
        ax.step(range(1, len(ordered) + 1), ordered, where="post", marker=".", label=label)
    ax.set_xlim(0, max(total, 1))
    if any(time > 0 for times in curves.values() for time in times):
        ax.set_yscale("log")
    ax.set_xlabel(f"instances solved (of {total})")
    ax.set_ylabel("time per instance (s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    write_atomic(path, buffer.getvalue())
