"""``nnv.repair``: change a few weights so the network meets its properties, with a proof.

The run is the one ``nnv run`` makes (the same settings, checked the same way; the same
certificate, given in the process that reports it). Without ``out`` it runs in a temporary
folder that is removed afterwards; with ``out`` the folder is kept and a second call with the
same inputs and settings resumes from it (:attr:`RepairResult.resumed` says how many trials it
took from there).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnv.core.errors import InputError
from nnv.core.model.dataset import Dataset
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.registry import default_registry
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import assemble
from nnv.core.run.dispatch import run_repair
from nnv.core.run.results import RunOutcome, RunResult
from nnv.inputs import DataLike, NetworkLike, PropertyLike, write_inputs

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class RepairResult:
    """What a repair found. ``network`` is the certified repaired network (None when the run
    found none); ``result`` is result.json as a typed record."""

    outcome: RunOutcome
    out: Path | None  # the results folder, when one was asked for

    @property
    def result(self) -> RunResult:
        return self.outcome.result

    @property
    def status(self) -> str:
        """repaired (certified), not_repaired, timeout or error."""
        return self.result.status

    @property
    def message(self) -> str:
        return self.result.message

    @property
    def network(self) -> Network | None:
        return self.outcome.repaired

    @property
    def original(self) -> Network:
        return self.outcome.original

    @property
    def properties(self) -> list[Property]:
        return self.outcome.properties

    @property
    def data(self) -> Dataset:
        return self.outcome.data

    @property
    def accuracy(self) -> dict[str, float | None]:
        """Accuracy per split of the repaired network (of the original when none was found)."""
        return self.result.accuracy_after or self.result.accuracy_before

    @property
    def accuracy_before(self) -> dict[str, float | None]:
        return self.result.accuracy_before

    @property
    def certificate(self) -> str | None:
        """Who proved the repaired network safe (``z3 (exact)``, ...), None without one."""
        return self.result.certified_by

    @property
    def trials(self) -> list[TrialResult]:
        """Every trial (or retraining step), resumed ones included, in the order they ended."""
        return list(self.outcome.trials)

    @property
    def resumed(self) -> int:
        """How many trials were taken from an earlier run in ``out`` (0: none)."""
        return int(getattr(self.result.details, "resumed", 0) or 0)

    def to_onnx(self, path: str | Path) -> Path:
        """Write the repaired network (refused when there is none: nothing was certified)."""
        if self.network is None:
            raise InputError(f"no repaired network to write (status {self.status})")
        default_registry().save_network(self.network, path)
        return Path(path)

    def plot(self, axes: tuple[int, int] | None = None) -> Figure:
        """The decision boundary before and after, property regions outlined; more than 2
        inputs: the slice through the property's centre along ``axes`` (default: the two
        inputs its box is widest in)."""
        from nnv.plots import boundary_figure

        decision = self.result.decision  # type: ignore[arg-type]
        figure = boundary_figure(
            self.original, self.network, self.properties, self.data, axes, decision
        )
        if figure is None:
            raise InputError("plot() draws networks of 2 or more inputs")
        return figure

    def __repr__(self) -> str:
        said = f", resumed={self.resumed}" if self.resumed else ""
        return f"RepairResult(status={self.status!r}, certificate={self.certificate!r}{said})"


def repair(
    network: NetworkLike,
    properties: PropertyLike | Sequence[PropertyLike],
    data: DataLike,
    *,
    out: str | Path | None = None,
    on_trial: Callable[[TrialResult], None] | None = None,
    **settings: Any,
) -> RepairResult:
    """Repair ``network`` so that it meets ``properties``, keeping it close to ``data``.

    ``settings`` are ``nnv run``'s, by their config-file names: ``free=["w2.1.8"]``,
    ``heuristic="samples"``, ``solver="z3"``, ``search="greedy"``, ``max_free=2``,
    ``method="retrain"``, ``timeout=60``, ``heuristic_options={"count": 500}`` ... (see
    docs/cli.md); a bad one raises ``InputError`` before anything runs. ``on_trial`` hears each
    trial as it ends.
    """
    registry = default_registry()
    if "network" in settings or "properties" in settings or "data" in settings:
        raise InputError("give the network, properties and data as repair()'s arguments")
    with tempfile.TemporaryDirectory(prefix="nnv-repair-") as scratch:
        folder = Path(scratch) / "run" if out is None else Path(out)
        # the settings are checked before any input is written
        given = {**settings, "network": "", "properties": [], "data": "", "out": folder}
        config = assemble(given, registry)
        inputs_folder = Path(scratch) / "inputs" if out is None else folder / "inputs"
        files = write_inputs(network, properties, data, inputs_folder, registry)
        config = replace(
            config, network=files.network, properties=files.properties, data=files.data
        )
        outcome = run_repair(config, registry, on_trial)
    return RepairResult(outcome, None if out is None else Path(out))
