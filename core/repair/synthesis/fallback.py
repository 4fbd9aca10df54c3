"""Two free parameters that do not multiply: the pair search's answer first, then the exact
MILP started from it, within a time box per trial.

The MILP gives the proved optimum, but on a few thousand soft points it may take minutes (the
4-input example's first-layer pairs). The pair search (:mod:`.pair`) answers in about a second,
not proved optimal. Synthesis has ``settings.pair_time`` seconds per trial (and at most half of
the trial's remaining time): each round the search answers, and the MILP, given that answer as
its incumbent, has what is left. If the MILP proves its optimum, the round's proposal is
proved; if it runs out of time, its best (at least the search's) is proposed, marked as not
proved optimal, and from then on the search answers alone.
"""

from __future__ import annotations

import time

from nnv.core.plugin.solver import Solver
from nnv.core.repair.settings import remaining
from nnv.core.repair.synthesis.base import Proposal, Rounds, SynthesisProblem
from nnv.core.repair.synthesis.pair import PairSynthesiser
from nnv.core.repair.synthesis.solver import SolverSynthesiser


class FallbackSynthesiser:
    """The pair search, then the MILP by ``solver`` from its answer within the time box."""

    def __init__(self, problem: SynthesisProblem, solver: Solver, deadline: float | None) -> None:
        self.problem = problem
        self.exact = SolverSynthesiser(problem, solver, False, deadline, share=0.5)
        self.search = PairSynthesiser(problem)
        self.deadline = deadline
        self.box = problem.settings.pair_time
        self.box_end: float | None = None  # set when the first round starts
        self.timed_out = False
        self.max_change = self.search.max_change  # the box of the last answer (the MILP's grows)

    def _budget(self) -> float:
        """Seconds the MILP may take now: the box left, at most half the trial's time left."""
        assert self.box_end is not None
        left = self.box_end - time.monotonic()
        trial = remaining(self.deadline)
        return max(0.0, left if trial is None else min(left, trial / 2))

    def propose(self, state: Rounds) -> Proposal:
        if self.box_end is None:  # the box starts with the trial's first round
            self.box_end = time.monotonic() + self.box
        searched = self.search.propose(state)
        budget = self._budget()
        if budget <= 0 or self.timed_out:
            return self._search_only(searched)
        start = searched.offsets if searched.status == "found" else None
        exact = self.exact.propose(state, start=start, budget=budget)
        if exact.status in ("found", "infeasible"):
            self.max_change = self.exact.max_change
        if exact.status == "found" and not exact.proved_optimal:
            self.timed_out = True
            return Proposal(
                "found",
                exact.offsets,
                message=f"the MILP's best in {budget:.2g} s, started from the pair search's "
                f"({self.search.summary}): not proved optimal",
            )
        if exact.status in ("found", "infeasible"):
            return exact
        self.timed_out = True
        return self._search_only(searched)

    def _search_only(self, searched: Proposal) -> Proposal:
        if searched.status != "found":
            return searched
        return Proposal(
            "found", searched.offsets, message=f"{searched.message}, after the MILP timed out"
        )
