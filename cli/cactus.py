"""The cactus plot of a batch: instances solved (x) within a time (y), one curve per tool.

A point (k, t) on a curve says the tool solved k instances, each in at most t seconds. nnv's
curve counts its right verdicts (a wrong one is not a solve); the other tools' curves come
from the CSV's ``<tool>_s`` columns (their times, on their hardware).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from nnv.core.run.batch import Record
from nnv.core.run.instances import InstanceTable
from nnv.core.runtime.files import write_atomic

NNV = "nnv"


def batch_cactus(records: Sequence[Record], table: InstanceTable, path: Path) -> None:
    """A batch's cactus: nnv's right (or, with no known answer, decided) verdicts, and the
    other tools' times from the CSV, titled with the CSV's name."""
    curves = {
        NNV: [r.time for r in records if r.verdict in ("sat", "unsat") and r.check != "wrong"]
    }
    for tool in table.tools:
        times = [instance.tool_times.get(tool) for instance in table.instances]
        curves[tool] = [time for time in times if time is not None]
    title = f"nnv verify --instances {table.path.name}: instances solved within a time"
    plot_cactus(curves, len(table.instances), path, title)


def plot_cactus(
    curves: Mapping[str, Sequence[float]], total: int, path: Path, title: str = ""
) -> None:
    """Draw each tool's solve times as a cactus curve into the PNG ``path``."""
    # imported here: matplotlib costs a quarter of a second, and only a batch draws
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = figure.subplots()
    for tool, times in curves.items():
        ordered = sorted(times)
        where = "right verdicts, whole process here" if tool == NNV else "competition's times"
        label = f"{tool}: {len(ordered)} solved ({where})"
        ax.step(range(1, len(ordered) + 1), ordered, where="post", marker=".", label=label)
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_xlim(0, max(total, 1))
    logarithmic = any(time > 0 for times in curves.values() for time in times)
    if logarithmic:
        ax.set_yscale("log")
    ax.set_xlabel(f"instances solved (of {total})")
    ax.set_ylabel("time per instance (s, log scale)" if logarithmic else "time per instance (s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    write_atomic(path, buffer.getvalue())
