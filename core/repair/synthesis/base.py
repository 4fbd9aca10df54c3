"""What every synthesis of the repair loop shares: the problem it is given, the state it reads
and the :class:`Proposal` it answers with.

A synthesiser proposes offsets for a trial's free parameters that fix every counterexample
found so far; the loop (:mod:`nnv.core.repair.loop`) then verifies them over whole regions.
The loop branches on ``Proposal.status`` only; the message is what the trial reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.repair.free import FreeParameters
from nnv.core.repair.margins import SynthesisMargin
from nnv.core.repair.settings import RepairSettings

# found: offsets that fix every counterexample; infeasible: proved that none within the limits
# do; not_found: a search tried values and none did (no proof); timeout, error: no answer
ProposalStatus = Literal["found", "infeasible", "not_found", "timeout", "error"]


@dataclass(frozen=True)
class Proposal:
    """One round's answer. ``offsets`` (one per free parameter) come with ``found`` and only
    then; ``regions`` are the soft regions the offsets must keep (verified by the loop);
    ``message`` says what a trial should report about how they were found, or why not."""

    status: ProposalStatus
    offsets: np.ndarray | None = None
    regions: list[int] = field(default_factory=list)
    proved_optimal: bool = False
    message: str = ""

    def __post_init__(self) -> None:
        if (self.status == "found") != (self.offsets is not None):
            raise ValueError("a proposal has offsets exactly when its status is 'found'")


class Rounds(Protocol):
    """What synthesis reads of the loop's state: the counterexamples found so far."""

    counterexamples: list[list[np.ndarray]]  # per property
    region_points: list[list[np.ndarray]]  # per soft region


class Synthesiser(Protocol):
    """Proposes offsets for one trial's free parameters, one call per round of the loop.

    ``max_change`` is the box it searches now: ``--max-change`` (see
    :func:`~nnv.core.repair.free.change_limits`), larger once it has grown, ``inf`` for a search
    of the whole real line; the trial reports it. ``problem`` is what it was given (the loop
    adapts its margin)."""

    max_change: float
    problem: SynthesisProblem

    def propose(self, state: Rounds) -> Proposal: ...


@dataclass(frozen=True)
class SynthesisProblem:
    """What a trial gives its synthesiser: the network and its free parameters, how far each
    may move (``limits``, see :func:`~nnv.core.repair.free.change_limits`), the properties,
    the soft constraints, the settings and the trial's synthesis margin (scaled to the
    outputs and adapted by the loop: :mod:`nnv.core.repair.margins`), which synthesis reads
    each round instead of ``settings.synthesis_margin``."""

    network: Network
    free: FreeParameters
    limits: np.ndarray
    properties: Sequence[Property]
    soft: SoftConstraints
    settings: RepairSettings
    margin: SynthesisMargin

    def counterexample_points(self, state: Rounds) -> list[tuple[Property, np.ndarray]]:
        """Every counterexample found so far, with the property it violated."""
        return [
            (prop, point)
            for prop, points in zip(self.properties, state.counterexamples, strict=True)
            for point in points
        ]
