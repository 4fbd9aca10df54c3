"""Synthesis for two free parameters that multiply each other, without a solver.

When a free weight reads an activation that the other free parameter changes, the outputs are
not piecewise linear in both offsets together, so there is no MILP; z3 and cvc5 can solve the
nonlinear problem exactly but slowly. Fixing the *outer* parameter (the one in the earlier
layer) leaves a single free parameter, whose best offset the exact line analysis of
:mod:`nnv.core.repair.synthesis.line` finds in milliseconds. This module searches the outer
offset on a grid that is refined around the best values found, solving the inner one exactly
at each.

The answer is the best over the values tried, not a proved optimum, and the trial says so.
Soundness does not depend on it: every candidate is still verified over the whole region and
certified like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnv.core.model.decision import DEFAULT_DECISION, Decision
from nnv.core.model.network import Network, ParameterAddress
from nnv.core.model.property import Property
from nnv.core.repair.points import PointEncoder, triage
from nnv.core.repair.synthesis.base import Proposal, Rounds, SynthesisProblem
from nnv.core.repair.synthesis.line import LineSynthesis


@dataclass
class PairAnswer:
    """The best offsets found (None: no value tried fixes every counterexample), the soft
    points they keep, and how many outer values were tried."""

    offsets: tuple[float, float] | None
    kept: int
    tried: int


class PairSynthesis:
    """Outer offset on a refined grid, inner offset by exact line synthesis.

    ``addresses`` and ``limits`` are in the order of the trial's free parameters; the outer
    parameter is the one in the earlier layer. Each outer value's line analysis (the soft
    points' kept sets) is computed once and reused by later rounds.
    """

    def __init__(
        self,
        network: Network,
        addresses: tuple[ParameterAddress, ParameterAddress],
        limits: np.ndarray,
        points: np.ndarray,
        labels: np.ndarray,
        soft_margin: float,
        grid: int = 64,
        refinements: int = 3,
        refine_best: int = 3,
        decision: Decision = DEFAULT_DECISION,
    ) -> None:
        self.decision = decision
        self.network = network
        self.outer = 0 if addresses[0].layer <= addresses[1].layer else 1
        self.addresses = addresses
        self.limits = np.asarray(limits, dtype=np.float64)
        self.points, self.labels, self.soft_margin = points, labels, soft_margin
        self.grid, self.refinements, self.refine_best = grid, refinements, refine_best
        self._original = network.parameter(addresses[self.outer])
        self._lines: dict[float, LineSynthesis] = {}

    def _line(self, offset: float) -> LineSynthesis:
        """The inner parameter's exact line analysis with the outer one moved by ``offset``."""
        if offset not in self._lines:
            moved = self.network.with_parameters(
                {self.addresses[self.outer]: self._original + offset}
            )
            inner = self.addresses[1 - self.outer]
            self._lines[offset] = LineSynthesis(
                moved,
                inner,
                float(self.limits[1 - self.outer]),
                self.points,
                self.labels,
                self.soft_margin,
                self.decision,
            )
        return self._lines[offset]

    def solve(
        self, counterexamples: Sequence[tuple[Property, np.ndarray]], synthesis_margin: float
    ) -> PairAnswer:
        """Most soft points kept over the values tried, then the smallest relative change."""
        limit = float(self.limits[self.outer])
        inner_limit = float(self.limits[1 - self.outer])
        scores: dict[float, tuple[int, float, float]] = {}  # outer -> (kept, -change, inner)

        def evaluate(values: np.ndarray) -> None:
            for value in np.unique(np.clip(values, -limit, limit)):
                offset = float(value)
                if offset in scores:
                    continue
                answer = self._line(offset).solve(counterexamples, synthesis_margin)
                if answer.delta is None:
                    scores[offset] = (-1, -np.inf, 0.0)
                    continue
                change = abs(offset) / limit + abs(answer.delta) / inner_limit
                scores[offset] = (answer.kept, -change, answer.delta)

        step = 2 * limit / self.grid
        evaluate(np.append(np.linspace(-limit, limit, self.grid + 1), 0.0))
        for _ in range(self.refinements):
            ranked = sorted(scores, key=lambda v: scores[v][:2], reverse=True)
            centres = [v for v in ranked[: self.refine_best] if scores[v][0] >= 0]
            if not centres:
                break
            fine = step / 8
            for centre in centres:
                evaluate(centre + fine * np.arange(-8, 9))
            step = fine
        best = max(scores, key=lambda v: scores[v][:2])
        kept, _, inner = scores[best]
        if kept < 0:
            return PairAnswer(None, 0, len(scores))
        offsets = [0.0, 0.0]
        offsets[self.outer], offsets[1 - self.outer] = best, inner
        return PairAnswer((offsets[0], offsets[1]), kept, len(scores))


class PairSynthesiser:
    """The loop's synthesis for two free parameters that multiply each other when the solver
    takes only linear problems: each round, the best :class:`PairSynthesis` finds.

    Only the soft points whose class some offsets within the limits may change are searched
    over (the others count the same for every value tried)."""

    def __init__(self, problem: SynthesisProblem) -> None:
        self.problem = problem
        self.max_change = problem.settings.max_change  # the grid spans the starting box
        free, soft, settings = problem.free, problem.soft, problem.settings
        encoder = PointEncoder(problem.network, free, problem.limits)
        margin = settings.soft_synthesis_margin
        _, uncertain = triage(encoder, soft.points, soft.labels, margin, settings.decision)
        self.pair = PairSynthesis(
            problem.network,
            (free.addresses[0], free.addresses[1]),
            problem.limits,
            soft.points[uncertain],
            soft.labels[uncertain],
            margin,
            decision=settings.decision,
        )
        self.summary = ""  # what the last round tried

    def propose(self, state: Rounds) -> Proposal:
        answer = self.pair.solve(
            self.problem.counterexample_points(state), self.problem.margin.value
        )
        outer = self.problem.free.names[self.pair.outer]
        self.summary = f"best of {answer.tried} values of {outer}"
        if answer.offsets is None:
            return Proposal("not_found")
        return Proposal(
            "found", np.array(answer.offsets), message=f"{self.summary} (not proved optimal)"
        )
