"""The outcome of one repair trial: repairing with one set of free parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

from nnv.core.status import TrialStatus

FreeSet = tuple[str, ...]  # parameter addresses, e.g. ("w1.1.1", "b2.2")


@dataclass
class TrialResult:
    """The outcome of repairing with one set of free parameters."""

    free: FreeSet
    status: TrialStatus
    seconds: float = 0.0
    accuracy: float | None = None  # weighted accuracy of the repaired network
    kept: int | None = None  # soft constraints kept
    soft_total: int = 0
    values: dict[str, float] = field(default_factory=dict)  # address -> new value
    certified_by: str | None = None
    rounds: int = 0  # counterexample rounds
    message: str = ""
    # the box synthesis searched in the end: --max-change, or more where the MILP's box grew;
    # inf for one parameter's exact line (the whole real line), None where none ran
    max_change_used: float | None = None
    # the synthesis margin the trial ended with (scaled to the outputs, relaxed or tightened
    # by the loop: nnv.core.repair.margins); None where the quantified mode ran
    synthesis_margin: float | None = None
    # a trial that timed out verifying a candidate: the share of the properties' regions (by
    # volume) proved for it, whose values are then ``values``; None otherwise
    proved_fraction: float | None = None
    started: bool = True  # False: the run's timeout passed before the trial could start
    cut_short: bool = False  # the run's timeout stopped it; a resumed run runs it again

    @property
    def repaired(self) -> bool:
        return self.status == "repaired"
