"""A run's results folder: the file names, and writing result.json and the networks."""

from __future__ import annotations

import importlib.metadata
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnv.core.errors import PluginError
from nnv.core.model.dataset import Dataset
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.registry import Registry
from nnv.core.repair.trial import TrialResult
from nnv.core.runtime.files import write_text_atomic

REPAIRED_FILE = "repaired.onnx"


UNVERIFIED_FILE = "unverified.onnx"  # a method's network that no certificate proved


RESULT_FILE = "result.json"


TRIALS_FILE = "trials.csv"


RUN_FILE = "run.json"


BOUNDARY_FILE = "boundary.png"  # drawn by the command line for 2-D inputs


# what a run leaves besides run.json and trials.csv: stale once another run takes the folder
STALE_FILES = (RESULT_FILE, REPAIRED_FILE, UNVERIFIED_FILE, BOUNDARY_FILE)


@dataclass
class RunOutcome:
    """What a run found: ``result`` is the content of result.json."""

    result: dict[str, Any]
    original: Network
    repaired: Network | None
    properties: list[Property]
    data: Dataset
    trials: list[TrialResult]

    @property
    def ok(self) -> bool:
        return self.repaired is not None


def finite(report: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN: an empty split's accuracy becomes null."""
    return {k: None if math.isnan(v) else v for k, v in report.items()}


def nnv_version() -> str | None:
    try:
        return importlib.metadata.version("nnv")
    except importlib.metadata.PackageNotFoundError:
        return None


def write_outputs(
    out: Path,
    registry: Registry,
    result: dict[str, Any],
    repaired: Network | None,
    unverified: Network | None = None,
) -> None:
    """The networks first, so a result.json that names one never precedes it.

    ``repaired`` must be a certified repair; ``unverified`` is a network a method kept without
    a proof. Either file absent from this run is removed: a stale one would mislead. Each is
    written in its precision and read back: the file must hold exactly the network given (the
    one certified, float32-rounded weights and all), or it is removed and the run fails.
    """
    for name, network in ((REPAIRED_FILE, repaired), (UNVERIFIED_FILE, unverified)):
        if network is not None:
            registry.save_network(network, out / name)
            if registry.load_network(out / name) != network:
                (out / name).unlink()
                raise PluginError(
                    f"{out / name} does not read back as the network nnv wrote to it, so it is "
                    "not what was certified; the saver plugin is at fault"
                )
        else:
            (out / name).unlink(missing_ok=True)
    write_text_atomic(out / RESULT_FILE, json.dumps(result, indent=2) + "\n")
