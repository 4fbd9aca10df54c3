"""Tolerances and limits of a repair."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from nnv.core.errors import InputError
from nnv.core.model.decision import Decision, check_decision
from nnv.core.repair.margins import MarginScale, check_margin_scale


@dataclass
class RepairSettings:
    """Tolerances and limits of a repair; the defaults suit networks with outputs of order 1."""

    mode: Literal["cegis", "quantified"] = "cegis"
    # the starting box: each free parameter's effect on its neuron within +- this (see
    # change_limits); MILP synthesis doubles it while the counterexamples are infeasible in it
    # or its optimum sits on a limit, up to max_growth times (the line needs no box)
    max_change: float = 10.0
    max_growth: float = 2.0**10
    threshold: int | None = None  # keep at least this many soft constraints
    threshold_search: bool = False  # quantified mode: raise the threshold while satisfiable
    # for outputs of order 1; with margins="outputs", times the order of magnitude of the
    # outputs' spread; the synthesis margin adapts within a trial (nnv.core.repair.margins)
    synthesis_margin: float = 1e-3
    verify_margin: float = 1e-4
    margins: MarginScale = "absolute"
    # A soft point counts as kept when its label leads every other output by soft_margin in
    # float64 (the count reported). Synthesis asks for the larger soft_synthesis_margin: its
    # optimum, with the smallest change, sits on the edge of what it keeps, and a point kept
    # there by exactly the margin (within solver tolerances, big-M rounding and float64
    # replay) would otherwise be lost to the recount, leaving a "proved" maximum one short.
    soft_margin: float = 1e-6
    soft_synthesis_margin: float = 1e-5
    trial_timeout: float | None = None
    max_rounds: int = 200
    seed_counterexamples: int = 4  # violating samples of each property that start the loop
    # The loop's verifier has at most check_seconds for each region of a candidate. A region
    # it cannot decide in that time adds its point nearest to the unsafe set as a constraint
    # of the next round (at most near_misses times a trial), instead of ending the trial: a
    # candidate that barely avoids the unsafe set is as hard to prove as to refute. Sound
    # either way: only a candidate verified everywhere is certified and reported.
    check_seconds: float | None = 10.0
    near_misses: int = 50
    # one free parameter: synthesise by the exact line analysis instead of the solver
    line_synthesis: bool = True
    # two free parameters that do not multiply (outside one neuron and the last layer):
    # seconds per trial for synthesis, the pair search first, then the MILP from its answer
    pair_time: float = 4.0
    # which output is the class a soft point keeps: the largest (argmax) or the smallest
    decision: Decision = "argmax"

    def __post_init__(self) -> None:
        if not 0 < self.verify_margin < self.synthesis_margin:
            raise InputError("the verify margin must be positive and below the synthesis margin")
        if not 0 <= self.soft_margin < self.soft_synthesis_margin:
            raise InputError("the soft margin must be >= 0 and below the soft synthesis margin")
        if self.max_change <= 0:
            raise InputError("max_change must be positive")
        if not self.pair_time >= 0:
            raise InputError("pair_time must be a number of seconds >= 0")
        if not self.max_growth >= 1:
            raise InputError("max_growth must be at least 1")
        check_decision(self.decision)
        check_margin_scale(self.margins)

    def deadline(self, start: float) -> float | None:
        """When a trial that began at ``start`` (``time.monotonic()``) must stop, if ever."""
        return None if self.trial_timeout is None else start + self.trial_timeout


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (never below 0), or None when there is none."""
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)
