"""The exact MILP first, the pair search once it runs out of time.

For two free parameters that do not multiply each other (and no soft regions) the MILP gives
the proved optimum, but it may take longer than the trial has. With a trial timeout, each
round's MILP gets half of the time left; once one times out, the pair search (:mod:`.pair`)
answers that round and every later one, so a hard pair still ends with a (certified) repair,
marked as not proved optimal.
"""

from __future__ import annotations

from dataclasses import replace

from nnv.core.plugin.solver import Solver
from nnv.core.repair.synthesis.base import Proposal, Rounds, SynthesisProblem
from nnv.core.repair.synthesis.pair import PairSynthesiser
from nnv.core.repair.synthesis.solver import SolverSynthesiser


class FallbackSynthesiser:
    """The MILP by ``solver`` with half of the remaining time, then the pair search."""

    def __init__(self, problem: SynthesisProblem, solver: Solver, deadline: float) -> None:
        self.exact = SolverSynthesiser(problem, solver, False, deadline, share=0.5)
        self.search = PairSynthesiser(problem)
        self.timed_out = False

    @property
    def max_change(self) -> float:
        return self.search.max_change if self.timed_out else self.exact.max_change

    def propose(self, state: Rounds) -> Proposal:
        if not self.timed_out:
            proposal = self.exact.propose(state)
            if proposal.status != "timeout":
                return proposal
            self.timed_out = True
        proposal = self.search.propose(state)
        if proposal.status != "found":
            return proposal
        return replace(proposal, message=f"{proposal.message}, after the MILP timed out")
