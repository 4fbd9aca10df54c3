"""The loop's check of each candidate over every region, and what it remembers across rounds.

Each round the candidate is verified over each property's region, and each soft region the
proposal keeps, with the unsafe set widened by the verify margin. On large regions (ACAS Xu
boxes) one region can take many times as long to prove as all the others, and a candidate
that is safe but close to the unsafe set is as hard to prove as to refute. So the check

1. *falsifies first*: samples and gradient steps on every region not yet proved for these
   values; any violation ends the round with all the violations found, and no proof is spent
   on a candidate that is rejected anyway;
2. *remembers proofs*: a region proved for exactly these values is not proved again (a round
   that ends in a near miss the candidate already meets leaves the values unchanged);
3. *proves regions side by side* when the trial has ``workers`` > 1 (the run's only trial,
   with the cores to itself): :func:`~nnv.core.runtime.parallel.map_forked`;
4. *gives undecided regions more time*: a region the verifier could not decide in its time is
   tried again on the same candidate with twice the time, up to ``MAX_GROWTH`` x
   ``check_seconds`` (it keeps that time, and goes first, in later rounds); only then does it
   add its point nearest to the unsafe set (a near miss, at most ``near_misses`` a trial), so
   that the next candidate sits further from the unsafe set.

Sound either way: only a candidate proved over every region is passed on to be certified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.solver import Solver
from nnv.core.repair.outcome import region_property
from nnv.core.repair.settings import RepairSettings, remaining
from nnv.core.repair.trial import TrialResult
from nnv.core.runtime.parallel import map_forked
from nnv.core.verify.falsify import closest_to_unsafe, falsify
from nnv.core.verify.verifier import CounterexampleEvents, VerificationResult, Verifier

# how a candidate fared in the loop's verification
CandidateCheck = Literal["verified", "new counterexample", "timeout", "error"]
# a region checked: ("property", index) or ("soft region", index)
RegionKey = tuple[str, int]
Values = tuple[tuple[str, float], ...]
MAX_GROWTH = 4  # an undecided region's time grows to at most this many x check_seconds
# the first pass over the regions is cheap: the verifier falsifies again on each before proving
FALSIFY_SAMPLES = 500
FALSIFY_STARTS = 8


@dataclass
class RoundState:
    """What the loop has learnt so far in one trial."""

    counterexamples: list[list[np.ndarray]]  # per property
    region_points: list[list[np.ndarray]]  # per soft region
    rounds: int = 0
    near_misses: int = 0  # regions undecided in their time, met by their nearest point
    candidate: dict[str, float] = field(default_factory=dict)  # the values being checked
    # the undecided candidate proved on the largest share of the properties' regions
    partial: tuple[float, dict[str, float]] | None = None
    notes: list[str] = field(default_factory=list)
    proved: dict[RegionKey, Values] = field(default_factory=dict)  # the values each is proved for
    seconds: dict[RegionKey, float] = field(default_factory=dict)  # grown check times

    def keep_partial(self, share: float) -> None:
        """Remember the candidate being checked if it is the best-proved undecided one."""
        if self.partial is None or share > self.partial[0]:
            self.partial = (share, dict(self.candidate))

    def with_partial(self, result: TrialResult) -> TrialResult:
        """A trial that ran out of time, with its best-proved undecided candidate, if any."""
        if result.status == "timeout" and self.partial is not None:
            result.proved_fraction, result.values = self.partial
        return result


@dataclass(frozen=True)
class _Check:
    key: RegionKey
    prop: Property  # widened by the verify margin
    volume: float  # the region's volume when it is a property's, else 0
    points: list[np.ndarray]  # its counterexamples, which the check adds to


class CandidateChecker:
    """Verifies candidates of one trial over its properties' and soft regions."""

    def __init__(
        self,
        network: Network,
        properties: Sequence[Property],
        soft: SoftConstraints,
        verifier: Solver,
        settings: RepairSettings,
        events: CounterexampleEvents | None = None,
        workers: int = 1,
        verify_margin: float | None = None,
    ) -> None:
        self.network = network
        self.properties = list(properties)
        self.soft = soft
        self.verifier = verifier
        self.settings = settings
        self.events = events
        self.workers = workers  # processes proving regions at once (map_forked)
        # the unsafe sets are widened by this: settings.verify_margin scaled to the outputs
        self.verify_margin = settings.verify_margin if verify_margin is None else verify_margin
        self.total_volume = sum(p.volume() for p in self.properties)

    def check(
        self, candidate: Network, regions: list[int], state: RoundState, deadline: float | None
    ) -> CandidateCheck:
        """``verified``, ``new counterexample``, or why it could not be decided."""
        values = tuple(sorted(state.candidate.items()))
        checks = self._checks(regions, state)
        open_checks = [c for c in checks if state.proved.get(c.key) != values]
        if self._falsified(candidate, open_checks, state):
            return "new counterexample"
        proved = sum(c.volume for c in checks if state.proved.get(c.key) == values)
        # the hardest first: a region that stays undecided ends the round soonest
        pending = sorted(open_checks, key=lambda c: -state.seconds.get(c.key, 0.0))

        def prove(check: _Check) -> VerificationResult:
            seconds = self._check_time(check.key, state, deadline)
            return Verifier(self.verifier, timeout=seconds).verify(candidate, check.prop)

        while pending:
            undecided = []
            for check, result in zip(
                pending, map_forked(prove, pending, self.workers), strict=True
            ):
                if result.status == "unsat":
                    state.proved[check.key] = values
                    proved += check.volume
                elif result.status == "sat" and result.counterexample is not None:
                    self._add(candidate, check, result.counterexample, state)
                    return "new counterexample"
                elif result.status == "timeout":
                    share = proved + result.extra.get("proved_fraction", 0.0) * check.volume
                    if check.volume:
                        state.keep_partial(share / self.total_volume)
                    undecided.append((check, result))
                else:
                    return self._stopped(check, result, state)
            pending = []
            for check, result in undecided:
                if self._more_time(check.key, state, deadline):
                    pending.append(check)  # the same candidate, twice the time
                elif self._near_miss(candidate, check, state):
                    return "new counterexample"
                else:
                    return self._stopped(check, result, state)
        return "verified"

    def _stopped(
        self, check: _Check, result: VerificationResult, state: RoundState
    ) -> CandidateCheck:
        """The end of a check the loop cannot go on from (an error, or time that is up)."""
        reason = f" ({result.message})" if result.message else ""
        state.notes.append(f"verifying {check.prop.name}: {result.status}{reason}")
        return "timeout" if result.status == "timeout" else "error"

    def _more_time(self, key: RegionKey, state: RoundState, deadline: float | None) -> bool:
        """Double an undecided region's time for another try on the same candidate, unless it
        already had MAX_GROWTH x check_seconds (or the trial's time is up, or there are no
        near misses: then every check had the trial's whole time)."""
        cap = self.settings.check_seconds
        left = remaining(deadline)
        if cap is None or self.settings.near_misses == 0 or (left is not None and left <= 0):
            return False
        nominal = self._nominal_time(key, state)
        if nominal >= MAX_GROWTH * cap:
            return False
        state.seconds[key] = 2 * nominal
        return True

    def _checks(self, regions: list[int], state: RoundState) -> list[_Check]:
        """Every property's region, then the soft regions the proposal keeps."""
        margin = self.verify_margin
        checks = [
            _Check(("property", i), prop.expanded(margin), prop.volume(), points)
            for i, (prop, points) in enumerate(
                zip(self.properties, state.counterexamples, strict=True)
            )
        ]
        decision = self.settings.decision
        checks += [
            _Check(
                ("soft region", r),
                region_property(self.network, self.soft, r, decision).expanded(margin),
                0.0,
                state.region_points[r],
            )
            for r in regions
        ]
        return checks

    def _falsified(self, candidate: Network, checks: list[_Check], state: RoundState) -> bool:
        """Whether samples and gradient steps find a violation in any of ``checks`` (each
        one found is added to its region's counterexamples)."""
        found = False
        for check in checks:
            point = falsify(
                candidate, check.prop, FALSIFY_SAMPLES, state.rounds, FALSIFY_STARTS, FALSIFY_STARTS
            )
            if point is not None:
                self._add(candidate, check, point, state)
                found = True
        return found

    def _add(self, candidate: Network, check: _Check, point: np.ndarray, state: RoundState) -> None:
        """A counterexample, with the worst violation near it (fixing it first saves rounds)."""
        check.points.append(point)
        deepest = closest_to_unsafe(candidate, check.prop, seed=state.rounds)
        if deepest is not None and check.prop.violations(candidate.forward, deepest)[0]:
            check.points.append(deepest)
        if self.events is not None:
            output = candidate.forward(point[None, :])[0]
            self.events.nnv_counterexample_found(source="repair", inputs=point, outputs=output)

    def _nominal_time(self, key: RegionKey, state: RoundState) -> float:
        """check_seconds, doubled after each time the region was undecided."""
        return state.seconds.get(key, self.settings.check_seconds or 0.0)

    def _check_time(
        self, key: RegionKey, state: RoundState, deadline: float | None
    ) -> float | None:
        """The verifier's time for one region, within the trial's time (all of it without a
        per-region limit or near misses)."""
        left = remaining(deadline)
        if self.settings.check_seconds is None or self.settings.near_misses == 0:
            return left
        cap = self._nominal_time(key, state)
        return cap if left is None else min(cap, left)

    def _near_miss(self, candidate: Network, check: _Check, state: RoundState) -> bool:
        """After the verifier ran out of its time on a region: add the region's point nearest
        to the unsafe set to its counterexamples, unless the budget is spent (or no point is
        found, or the time was the trial's own): then the timeout stands."""
        if state.near_misses >= self.settings.near_misses or self.settings.check_seconds is None:
            return False
        point = closest_to_unsafe(candidate, check.prop, seed=state.rounds)
        if point is None:
            return False
        state.near_misses += 1
        check.points.append(point)
        return True
