"""Provable repair: change a few parameters so that properties hold everywhere in their regions.

The counterexample-guided loop (``cegis``, the default) keeps a finite set of counterexample
inputs per property. Each round it

1. *synthesises* offsets for the free parameters that classify every counterexample right
   with ``synthesis_margin`` to spare and keep the maximum number of soft constraints, each
   with ``soft_synthesis_margin`` to spare, so that the float64 recount (``soft_margin``, the
   count reported) keeps every one of them. A :class:`~.synthesis.base.Synthesiser` chosen
   once per trial (:meth:`Repairer.synthesiser`) answers with a typed
   :class:`~.synthesis.base.Proposal`: for one free parameter and soft points the exact
   one-dimensional analysis of :mod:`.synthesis.line`, no solver needed; otherwise a MILP when
   the free parameters do not multiply each other, else QF_NRA for SMT solvers
   (:mod:`.synthesis.solver`), or the pair search of :mod:`.synthesis.pair` where those do not
   apply or time out; with every free parameter in the last layer, rows over the offsets
   alone (:mod:`.synthesis.affine`: an LP unless soft constraints are counted). Which offsets
   are best is the run's objectives' say (:mod:`nnv.core.plugin.objective`; by default the
   most soft constraints kept, then the smallest change); then
2. *verifies* the candidate over each whole region with the verify engine, with the unsafe
   set widened by ``verify_margin`` (smaller than the synthesis margin, so a counterexample
   once fixed is never found again), adding any new counterexample and repeating
   (:mod:`.candidates`: falsification first, proofs remembered, more time for the regions
   the verifier could not decide).

A candidate that passes is *certified* independently (see :mod:`nnv.core.verify.certifier`)
before it is reported as repaired (:mod:`.outcome`); one that fails certification never is.
The ``quantified`` mode solves the paper's formula instead (:mod:`.quantified`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from nnv.core.errors import CapabilityError, InputError
from nnv.core.model.dataset import Dataset
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.objective import MostKept, Objective
from nnv.core.plugin.solver import Solver
from nnv.core.query.capabilities import Capability
from nnv.core.repair.candidates import CandidateChecker, RoundState
from nnv.core.repair.free import FreeParameters, change_limits, is_bilinear
from nnv.core.repair.margins import SynthesisMargin, output_scale
from nnv.core.repair.metrics import accuracy_report
from nnv.core.repair.outcome import Outcomes
from nnv.core.repair.quantified import quantified_trial
from nnv.core.repair.settings import RepairSettings, remaining
from nnv.core.repair.synthesis.affine import AffineSynthesiser, in_last_layer
from nnv.core.repair.synthesis.base import Proposal, Synthesiser, SynthesisProblem
from nnv.core.repair.synthesis.fallback import FallbackSynthesiser
from nnv.core.repair.synthesis.line import LineSynthesiser
from nnv.core.repair.synthesis.pair import PairSynthesiser
from nnv.core.repair.synthesis.plane import NeuronPairSynthesiser, one_neuron
from nnv.core.repair.synthesis.solver import SolverSynthesiser
from nnv.core.repair.trial import FreeSet, TrialResult
from nnv.core.verify.certifier import Certifier
from nnv.core.verify.falsify import violating_samples
from nnv.core.verify.verifier import CounterexampleEvents


class Repairer:
    """Runs repair trials for one network, set of properties and soft constraints."""

    def __init__(
        self,
        network: Network,
        properties: Sequence[Property],
        soft: SoftConstraints,
        data: Dataset,
        solver: Solver,
        verifier: Solver,
        certifier: Certifier,
        settings: RepairSettings | None = None,
        events: CounterexampleEvents | None = None,
        objectives: Sequence[Objective] | None = None,
        workers: int = 1,
    ) -> None:
        if not properties:
            raise InputError("repair needs at least one property")
        for prop in properties:
            prop.check_fits(network.n_inputs, network.n_outputs)
        self.network = network.as_dense("repair")  # the encoders read dense weights
        self.properties = list(properties)
        self.soft = soft
        self.data = data
        self.solver = solver
        self.verifier = verifier
        self.certifier = certifier
        self.settings = settings or RepairSettings()
        self.events = events  # hears of each counterexample the loop's verification finds
        # minimised in order; by default the most soft constraints kept, then the least change
        self.objectives = list(objectives or [MostKept()])
        self.accuracy_before = accuracy_report(network, data, self.settings.decision)
        self.outcomes = Outcomes(
            network, self.properties, soft, data, verifier, certifier, self.settings
        )
        # the margins for this network's outputs (nnv.core.repair.margins)
        outputs = self.settings.margins == "outputs"
        scale = output_scale(self.network, self._inputs()) if outputs else 1.0
        self.synthesis_margin = self.settings.synthesis_margin * scale
        self.verify_margin = self.settings.verify_margin * scale
        self.checker = CandidateChecker(
            self.network,
            self.properties,
            soft,
            verifier,
            self.settings,
            events,
            workers,
            self.verify_margin,
        )

    # -- one trial -------------------------------------------------------------------------

    def check(self, names: Sequence[str]) -> FreeParameters:
        """The free parameters a trial with ``names`` would use, or the error it would raise:
        an ``InputError`` for an address the network lacks, a ``CapabilityError`` when the
        solver cannot take the synthesis problem. Solves nothing."""
        free = FreeParameters.of(self.network, tuple(names))
        if self.settings.mode == "quantified":
            missing = {Capability.QUANTIFIERS, Capability.BILINEAR} - self.solver.capabilities
            if missing:
                raise CapabilityError(
                    f"quantified mode needs a solver with {' and '.join(sorted(missing))}; "
                    f"{self.solver.name!r} has neither: use z3 or cvc5, or --mode cegis"
                )
            return free
        bilinear = is_bilinear(self.network, free)
        self._check_objectives(bilinear)
        linear_only = Capability.BILINEAR not in self.solver.capabilities
        if bilinear and linear_only and not self._on_a_plane(free):
            raise CapabilityError(
                f"free parameters {', '.join(free.names)} multiply each other (a free weight "
                f"reads an activation another one changes): synthesis is nonlinear and solver "
                f"{self.solver.name!r} takes only linear problems; use z3 or cvc5"
            )
        return free

    def _check_objectives(self, bilinear: bool) -> None:
        """Objectives other than the default need a solver that minimises a linear objective:
        a ``CapabilityError`` otherwise (nonlinear synthesis keeps the most soft constraints)."""
        others = [o.name for o in self.objectives if not o.line_search]
        if not others:
            return
        if bilinear or Capability.OPTIMIZE not in self.solver.capabilities:
            why = (
                "the free parameters multiply each other"
                if bilinear
                else (f"solver {self.solver.name!r} does not optimise a linear objective")
            )
            raise CapabilityError(
                f"objective {others[0]!r} needs a linear synthesis problem and a solver that "
                f"optimises (highs, pyomo); {why}"
            )

    def trial(self, names: Sequence[str]) -> TrialResult:
        """Repair with exactly these free parameters."""
        start = time.monotonic()
        free = self.check(names)
        deadline = self.settings.deadline(start)
        if self.settings.mode == "quantified":
            result = quantified_trial(self.problem(free), self.solver, self.outcomes, deadline)
            result.max_change_used = self.settings.max_change
        else:
            synthesiser = self.synthesiser(free, deadline)
            result = self._cegis(free, synthesiser, deadline)
            result.max_change_used = synthesiser.max_change
            result.synthesis_margin = synthesiser.problem.margin.value
        result.seconds = time.monotonic() - start
        return result

    def recertify(self, claimed: TrialResult) -> TrialResult:
        """A repaired trial read back from a file, certified again in this process (see
        :meth:`Outcomes.recertify`)."""
        return self.outcomes.recertify(claimed)

    def problem(self, free: FreeParameters) -> SynthesisProblem:
        """What synthesis for ``free`` is given, with the limits of each offset."""
        limits = change_limits(self.network, free, self.settings.max_change, self._inputs())
        margin = SynthesisMargin.starting(self.synthesis_margin, self.verify_margin)
        return SynthesisProblem(
            self.network, free, limits, self.properties, self.soft, self.settings, margin
        )

    def _inputs(self) -> np.ndarray:
        """Every input the data and the soft constraints name, one row each."""
        inputs = [X for X, _ in self.data.splits.values()] + [self.soft.points]
        return np.vstack([np.reshape(X, (-1, self.network.n_inputs)) for X in inputs])

    def synthesiser(self, free: FreeParameters, deadline: float | None) -> Synthesiser:
        """The synthesis a cegis trial uses: the exact line for one parameter; for two, the
        exact plane when they feed one hidden neuron, the pair search when they multiply and
        the solver takes only linear problems, and otherwise (outside the last layer) the
        pair search's answer improved on by the MILP within a time box; rows over the offsets
        alone for the last layer; else the solver."""
        problem = self.problem(free)
        bilinear = is_bilinear(self.network, free)
        if self._on_a_line(free):
            return LineSynthesiser(problem)
        if bilinear and Capability.BILINEAR not in self.solver.capabilities:
            return PairSynthesiser(problem)
        last = self._affine(free)
        if self._on_a_plane(free) and not bilinear and not last:
            if one_neuron(free.addresses):
                return NeuronPairSynthesiser(problem)
            return FallbackSynthesiser(problem, self.solver, deadline)
        if last:
            return AffineSynthesiser(problem, self.solver, self.objectives, deadline)
        return SolverSynthesiser(problem, self.solver, bilinear, deadline, 1.0, self.objectives)

    def _searches(self) -> bool:
        """Whether the exact line and pair searches optimise the run's objectives."""
        return self.settings.line_synthesis and all(o.line_search for o in self.objectives)

    def _on_a_line(self, free: FreeParameters) -> bool:
        """One free parameter and no soft regions: the exact line synthesis applies."""
        return self._searches() and len(free.names) == 1 and not self.soft.regions

    def _on_a_plane(self, free: FreeParameters) -> bool:
        """Two free parameters and no soft regions: the grid-and-line pair synthesis applies
        (used when they multiply each other and the solver takes only linear problems)."""
        return self._searches() and len(free.names) == 2 and not self.soft.regions

    def _affine(self, free: FreeParameters) -> bool:
        """Every free parameter in the last layer, no soft regions and a solver that optimises:
        synthesis over rows of the offsets alone."""
        return (
            in_last_layer(self.network, free)
            and not self.soft.regions
            and Capability.OPTIMIZE in self.solver.capabilities
        )

    # -- the counterexample-guided loop ----------------------------------------------------

    def _cegis(
        self, free: FreeParameters, synthesiser: Synthesiser, deadline: float | None
    ) -> TrialResult:
        state = RoundState(
            [
                list(violating_samples(self.network, prop, self.settings.seed_counterexamples))
                for prop in self.properties
            ],
            [[] for _ in self.soft.regions],
        )
        names = free.names
        stopped = self.outcomes.stopped
        margin = synthesiser.problem.margin
        while state.rounds < self.settings.max_rounds:
            state.rounds += 1
            left = remaining(deadline)
            if left is not None and left <= 0:
                return state.with_partial(
                    stopped(names, "timeout", state.rounds, "the trial timed out")
                )
            proposal = synthesiser.propose(state)
            while proposal.status == "infeasible" and margin.relax():
                proposal = synthesiser.propose(state)  # a smaller margin may admit values
            if proposal.status != "found":
                return self._unsolved(names, proposal, state.rounds, synthesiser.max_change)
            assert proposal.offsets is not None  # a found proposal has them (Proposal checks)
            values = free.original + proposal.offsets
            state.candidate = dict(zip(names, map(float, values), strict=True))
            candidate = self.network.with_parameters(dict(state.candidate))
            near_misses = state.near_misses
            outcome = self.checker.check(candidate, proposal.regions, state, deadline)
            if state.near_misses > near_misses:
                margin.tighten()  # further from the unsafe set, quicker to prove
            if outcome == "verified":
                result = self._verified(names, candidate, proposal, state, deadline)
                if result.repaired:
                    result.message = "; ".join(self._adapted(synthesiser, result.message))
                return result
            if outcome != "new counterexample":
                return state.with_partial(
                    stopped(names, outcome, state.rounds, "; ".join(state.notes))
                )
        message = f"no repair after {state.rounds} rounds"
        return state.with_partial(stopped(names, "timeout", state.rounds, message))

    def _adapted(self, synthesiser: Synthesiser, message: str) -> list[str]:
        """A repaired trial's message, with how far its box grew and where its margin went."""
        notes = [message] if message else []
        grown = synthesiser.max_change / self.settings.max_change
        if 1 < grown < math.inf and not message:
            notes.append(
                f"synthesis: the box grew to {grown:g} x --max-change ({synthesiser.max_change:g})"
            )
        margin = synthesiser.problem.margin.value
        if margin != self.synthesis_margin:
            moved = "relaxed" if margin < self.synthesis_margin else "tightened"
            notes.append(f"synthesis margin {moved} to {margin:.3g}")
        return notes

    def _unsolved(self, names: FreeSet, proposal: Proposal, rounds: int, box: float) -> TrialResult:
        """The trial a round without offsets ends: why synthesis found none, in ``box``."""
        stopped = self.outcomes.stopped
        if proposal.status == "infeasible":
            return stopped(names, "not_repaired", rounds, self._infeasible(names, box))
        if proposal.status == "not_found":
            return stopped(
                names,
                "not_repaired",
                rounds,
                "no value tried fixes every counterexample (a search, not a proof)",
            )
        if proposal.status == "timeout":
            return stopped(names, "timeout", rounds, "synthesis timed out")
        return stopped(names, "error", rounds, f"synthesis: {proposal.message}")

    def _infeasible(self, names: FreeSet, box: float) -> str:
        """Why no values exist: nowhere on the real line, or not within the (grown) box."""
        if box == math.inf:
            return f"no value of {names[0]} anywhere on the real line fixes every counterexample"
        given = self.settings.max_change
        if box > given:
            return (
                f"no values within {box / given:g} x the allowed change (--max-change "
                f"{given:g}, grown to {box:g}) fix every counterexample"
            )
        return (
            f"no values within the allowed change (--max-change {given:g}) fix every counterexample"
        )

    def _verified(
        self,
        names: FreeSet,
        candidate: Network,
        proposal: Proposal,
        state: RoundState,
        deadline: float | None,
    ) -> TrialResult:
        """The trial a candidate verified over every region ends: certified, and saying how
        synthesis found it unless certification has something to say."""
        result = self.outcomes.finish(
            names, candidate, proposal.regions, state.rounds, remaining(deadline)
        )
        if proposal.message and not result.message:
            result.message = f"synthesis: {proposal.message}"
        return result
