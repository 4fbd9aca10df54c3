"""The repair loop's synthesisers: which one a trial uses, what their proposals say, and the
trial (status and message, as trials.csv and result.json quote them) each proposal ends."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_repair import build, example, repairer

from nnv.core import Solution, Solver
from nnv.core.plugin.registry import default_registry
from nnv.core.query.form import Query
from nnv.core.repair.candidates import RoundState
from nnv.core.repair.free import FreeParameters
from nnv.core.repair.loop import Repairer
from nnv.core.repair.synthesis.affine import AffineSynthesiser
from nnv.core.repair.synthesis.base import Proposal, Rounds, Synthesiser, SynthesisProblem
from nnv.core.repair.synthesis.fallback import FallbackSynthesiser
from nnv.core.repair.synthesis.line import LineSynthesiser
from nnv.core.repair.synthesis.pair import PairSynthesiser
from nnv.core.repair.synthesis.plane import NeuronPairSynthesiser
from nnv.core.repair.synthesis.solver import SolverSynthesiser
from nnv.core.verify.falsify import violating_samples


def first_round(engine: Repairer) -> RoundState:
    """The loop's state before its first round: the seed counterexamples of each property."""
    seeds = [list(violating_samples(engine.network, prop, 4)) for prop in engine.properties]
    return RoundState(seeds, [[] for _ in engine.soft.regions])


def chosen(engine: Repairer, names: list[str], deadline: float | None = None) -> Synthesiser:
    return engine.synthesiser(FreeParameters.of(engine.network, names), deadline)


def test_the_loop_picks_the_synthesiser_the_problem_shape_allows() -> None:
    """One parameter: the line; a pair that multiplies on a linear solver: the pair search; a
    pair of one hidden neuron: the exact plane; another pair outside the last layer: the pair
    search, then the MILP from it in a time box; the last layer's parameters: rows over the
    offsets alone; else the solver."""
    highs, z3 = repairer("highs"), repairer("z3")
    assert isinstance(chosen(highs, ["b2.1"]), LineSynthesiser)
    no_line = repairer("highs", line_synthesis=False)
    assert isinstance(chosen(no_line, ["b2.1"]), AffineSynthesiser)
    assert isinstance(chosen(no_line, ["b1.1"]), SolverSynthesiser)
    assert isinstance(chosen(highs, ["b1.2", "w2.1.2"]), PairSynthesiser)  # w2.1.2 reads b1.2's
    solver = chosen(z3, ["b1.2", "w2.1.2"])
    assert isinstance(solver, SolverSynthesiser) and solver.bilinear
    assert isinstance(chosen(highs, ["w1.1.1", "b1.2"]), FallbackSynthesiser)
    assert isinstance(chosen(highs, ["w1.1.1", "b1.1"]), NeuronPairSynthesiser)
    assert isinstance(chosen(highs, ["w2.1.1", "b2.1"]), AffineSynthesiser)
    linear = chosen(no_line, ["w1.1.1", "b1.2"])
    assert isinstance(linear, SolverSynthesiser) and not linear.bilinear
    net, prop, data, _ = example()
    grid = default_registry().get("heuristic", "grid").factory(cells=4).constraints(net, data)
    with_regions = build(net, [prop], grid, data)
    assert isinstance(chosen(with_regions, ["b2.1"]), SolverSynthesiser)  # regions: no line


def test_proposals_say_whether_their_offsets_are_a_proved_optimum() -> None:
    """The line and the MILP prove theirs; the pair search says how many values it tried."""
    engine = repairer("highs")
    state = first_round(engine)
    line = chosen(engine, ["b2.1"]).propose(state)
    assert line.status == "found" and line.proved_optimal and line.message == ""
    assert line.offsets is not None and line.offsets.shape == (1,) and line.regions == []
    milp = chosen(repairer("highs", line_synthesis=False), ["b1.2"]).propose(state)
    assert milp.status == "found" and milp.proved_optimal and milp.message == ""
    affine = chosen(repairer("highs", line_synthesis=False), ["b2.1"]).propose(state)
    assert affine.status == "found" and affine.proved_optimal and affine.message == ""
    pair = chosen(engine, ["b1.2", "w2.1.2"]).propose(state)
    assert pair.status == "found" and not pair.proved_optimal
    assert pair.offsets is not None and pair.offsets.shape == (2,)
    assert re.fullmatch(r"best of \d+ values of b1\.2 \(not proved optimal\)", pair.message)


def test_a_proposal_has_offsets_exactly_when_it_found_some() -> None:
    with pytest.raises(ValueError, match="exactly when"):
        Proposal("found")
    with pytest.raises(ValueError, match="exactly when"):
        Proposal("infeasible", np.zeros(1))


class _Fixed:
    """A synthesiser that proposes the same thing every round."""

    max_change = 10.0

    def __init__(self, proposal: Proposal, problem: SynthesisProblem) -> None:
        self.proposal = proposal
        self.problem = problem

    def propose(self, state: Rounds) -> Proposal:
        return self.proposal


@pytest.mark.parametrize(
    ("proposal", "status", "message"),
    [
        (
            Proposal("infeasible"),
            "not_repaired",
            "no values within the allowed change (--max-change 10) fix every counterexample",
        ),
        (
            Proposal("not_found"),
            "not_repaired",
            "no value tried fixes every counterexample (a search, not a proof)",
        ),
        (Proposal("timeout"), "timeout", "synthesis timed out"),
        (Proposal("error", message="the solver crashed"), "error", "synthesis: the solver crashed"),
    ],
    ids=["infeasible", "not_found", "timeout", "error"],
)
def test_each_proposal_without_offsets_ends_the_trial_with_its_message(
    monkeypatch: pytest.MonkeyPatch, proposal: Proposal, status: str, message: str
) -> None:
    engine = repairer("highs")
    fixed = _Fixed(proposal, engine.problem(FreeParameters.of(engine.network, ["b2.1"])))
    monkeypatch.setattr(engine, "synthesiser", lambda free, deadline: fixed)
    result = engine.trial(["b2.1"])
    assert (result.status, result.message, result.rounds) == (status, message, 1)
    assert result.values == {} and result.soft_total == engine.soft.count


def test_a_found_proposal_that_verifies_is_certified_and_its_message_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = repairer("highs")
    found = chosen(engine, ["b2.1"]).propose(first_round(engine))
    noted = Proposal("found", found.offsets, message="found by a test")
    monkeypatch.setattr(engine, "synthesiser", lambda free, _: _Fixed(noted, engine.problem(free)))
    result = engine.trial(["b2.1"])
    assert result.status == "repaired" and result.certified_by == "z3 (exact)"
    assert result.message == "synthesis: found by a test"


class _Undecided(Solver):
    """A solver that answers neither a point nor a verdict."""

    name = "undecided"
    capabilities = frozenset(
        {"linear", "integer", "relu", "indicator", "bilinear", "soft", "optimize", "quantifiers"}
    )

    def __init__(self, answer: Solution) -> None:
        super().__init__()
        self.answer = answer

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        return self.answer


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        (Solution("timeout"), "timeout", "synthesis timed out"),
        (Solution("unknown", message="gave up"), "error", "synthesis: gave up"),
        (Solution("unknown"), "error", "synthesis: unknown"),
    ],
)
def test_a_synthesis_solver_without_an_answer_ends_the_trial(
    answer: Solution, status: str, message: str
) -> None:
    net, prop, data, soft = example()
    engine = build(net, [prop], soft, data, _Undecided(answer), line_synthesis=False)
    result = engine.trial(["b2.1"])
    assert (result.status, result.message) == (status, message)


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        (Solution("infeasible"), "not_repaired", "the quantified formula is unsatisfiable"),
        (Solution("timeout"), "timeout", "the solver timed out"),
        (Solution("unknown", message="gave up"), "error", "gave up"),
    ],
)
def test_a_quantified_trial_without_an_answer_says_why(
    answer: Solution, status: str, message: str
) -> None:
    net, prop, data, soft = example()
    engine = build(net, [prop], soft, data, _Undecided(answer), mode="quantified", threshold=5)
    result = engine.trial(["b2.1"])
    assert (result.status, result.message, result.rounds) == (status, message, 1)


def test_a_trial_out_of_time_before_its_first_round_says_so() -> None:
    result = repairer("highs", trial_timeout=1e-6).trial(["b2.1"])
    assert (result.status, result.message, result.rounds) == ("timeout", "the trial timed out", 1)
