"""Training curves as a PNG: the losses, and what the counterexample searches found."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from nnv.core.runtime.files import write_atomic

from .fitting import EpochRecord


def plot_curves(records: Sequence[EpochRecord], title: str, path: Path) -> None:
    """Loss per epoch (train and validation) beside counterexample violation and projections."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    losses, searches = figure.subplots(1, 2)
    epochs = [r.epoch for r in records]
    losses.plot(epochs, [r.train_loss for r in records], label="train")
    losses.plot(epochs, [r.val_loss for r in records], label="validation")
    losses.set_yscale("log")
    losses.set_xlabel("epoch")
    losses.set_ylabel("loss")
    losses.legend()
    # log scale, so the first epochs' spike does not flatten the rest; epochs that found no
    # counterexample (violation 0) have no point on it
    violations = [r.violation if r.violation > 0 else float("nan") for r in records]
    searches.plot(epochs, violations, color="tab:red", marker=".", markersize=3)
    if any(r.violation > 0 for r in records):
        searches.set_yscale("log")
    searches.set_xlabel("epoch")
    searches.set_ylabel("largest counterexample violation (log; none: no point)", color="tab:red")
    projections = searches.twinx()
    projections.plot(epochs, [r.projections for r in records], color="tab:gray")
    projections.set_ylabel("projections so far", color="tab:gray")
    figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())
