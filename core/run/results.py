"""A run's results folder: the file names, result.json as :class:`RunResult`, and writing it
with the networks.

result.json has the keys every method writes (:class:`RunResult`'s fields) and the method's
own (its :class:`ResultDetails`), each group of those placed after one of the common keys,
so that a method's file reads in the same order as it always has.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nnv.core.errors import PluginError
from nnv.core.model.dataset import Dataset
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.registry import Registry
from nnv.core.repair.trial import TrialResult
from nnv.core.runtime.files import write_text_atomic
from nnv.core.status import RunStatus

if TYPE_CHECKING:
    from nnv.core.run.config import RunConfig

REPAIRED_FILE = "repaired.onnx"


UNVERIFIED_FILE = "unverified.onnx"  # a method's network that no certificate proved


RESULT_FILE = "result.json"


TRIALS_FILE = "trials.csv"


RUN_FILE = "run.json"


BOUNDARY_FILE = "boundary.png"  # drawn by the command line for 2-D inputs


# what a run leaves besides run.json and trials.csv: stale once another run takes the folder
STALE_FILES = (RESULT_FILE, REPAIRED_FILE, UNVERIFIED_FILE, BOUNDARY_FILE)


Row = tuple[str, str]  # a row of ``nnv run``'s summary table: label, text
SummaryPlace = Literal["outcome", "accuracy", "certificate"]


def placed(after: str) -> dict[str, str]:
    """The metadata of a :class:`ResultDetails` field that follows the common key ``after``
    in result.json (``field(metadata=placed("seconds"))``); the fields declared after it follow
    it, up to the next placed one."""
    return {"after": after}


@dataclass
class ResultDetails:
    """A method's own keys of result.json: a dataclass deriving from this one, its groups of
    fields placed with :func:`placed` (a field before any placed one goes at the end). The
    method also says how its details read in ``nnv run``'s summary table."""

    def method_note(self) -> str:
        """Words after the method's name in the summary (" (uniform sampling)")."""
        return ""

    def summary(self, place: SummaryPlace) -> list[Row]:
        """The summary's rows after the message (``outcome``), after the accuracy rows
        (``accuracy``) or after the certificate (``certificate``)."""
        return []

    def groups(self) -> dict[str, list[tuple[str, Any]]]:
        """The fields as (key, value), by the common key they follow."""
        grouped: dict[str, list[tuple[str, Any]]] = {}
        after = "nnv_version"
        for item in fields(self):
            after = item.metadata.get("after", after)
            grouped.setdefault(after, []).append((item.name, getattr(self, item.name)))
        return grouped


@dataclass
class RunResult:
    """result.json: what a run found and the settings it ran with (the keys every method
    writes, in this order; the method's own are its ``details``)."""

    status: RunStatus
    method: str
    message: str
    certified_by: str | None
    accuracy_before: dict[str, float | None]
    accuracy_after: dict[str, float | None] | None
    # accuracy lost per split (before - after; negative: gained), the field's "drawdown"
    drawdown: dict[str, float | None] | None
    seconds: float
    verifier: str
    decision: str  # the decision rule accuracy and the class-keeping constraints used
    timeout: float | None
    seed: int
    network: str
    properties: list[str]
    # --partition: the boxes, which were repaired, and how the held-out ones fared
    regions: dict[str, Any] | None
    data: str
    repaired_network: str | None
    nnv_version: str | None
    details: ResultDetails = field(default_factory=ResultDetails)

    @classmethod
    def of(
        cls,
        config: RunConfig,
        repaired: Network | None,
        *,
        status: RunStatus,
        message: str,
        certified_by: str | None,
        accuracy_before: dict[str, float | None],
        accuracy_after: dict[str, float | None] | None,
        seconds: float,
        details: ResultDetails,
        regions: dict[str, Any] | None = None,
    ) -> RunResult:
        """The result of a run of ``config`` that found these (``repaired``: the certified
        network written, if any); the settings are ``config``'s."""
        return cls(
            status=status,
            message=message,
            certified_by=certified_by,
            accuracy_before=accuracy_before,
            accuracy_after=accuracy_after,
            drawdown=drawdown(accuracy_before, accuracy_after),
            seconds=seconds,
            details=details,
            regions=regions,
            method=config.method,
            verifier=config.verifier,
            decision=config.decision,
            timeout=config.timeout,
            seed=config.seed,
            network=str(config.network),
            properties=[str(path) for path in config.properties],
            data=str(config.data),
            repaired_network=None if repaired is None else REPAIRED_FILE,
            nnv_version=nnv_version(),
        )

    def to_dict(self) -> dict[str, Any]:
        """result.json's content, keys in order."""
        groups = self.details.groups()
        content: dict[str, Any] = {}
        for item in fields(self):
            if item.name != "details":
                content[item.name] = getattr(self, item.name)
                content.update(groups.get(item.name, ()))
        return content

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


@dataclass
class RunOutcome:
    """What a run found: ``result`` is result.json."""

    result: RunResult
    original: Network
    repaired: Network | None
    properties: list[Property]
    data: Dataset
    trials: list[TrialResult]

    @property
    def ok(self) -> bool:
        return self.repaired is not None


def drawdown(
    before: dict[str, float | None], after: dict[str, float | None] | None
) -> dict[str, float | None] | None:
    """Accuracy lost per split by the repair (None where a split has no accuracy)."""
    if after is None:
        return None
    lost = {}
    for split, value in before.items():
        now = after.get(split)
        lost[split] = None if value is None or now is None else round(value - now, 12)
    return lost


def finite(report: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN: an empty split's accuracy becomes null."""
    return {k: None if math.isnan(v) else v for k, v in report.items()}


def percent(value: float | None) -> str:
    """An accuracy as the summary shows it: ``99.75%``, ``-`` for none."""
    return "-" if value is None else f"{100 * value:.2f}%"


def nnv_version() -> str | None:
    try:
        return importlib.metadata.version("nnv")
    except importlib.metadata.PackageNotFoundError:
        return None


def write_outputs(
    out: Path,
    registry: Registry,
    result: RunResult,
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
    write_text_atomic(out / RESULT_FILE, result.to_json() + "\n")
