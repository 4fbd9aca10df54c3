"""No repair lost to an arbitrary bound: one parameter's line covers the whole real line, and
the MILP's box (``--max-change``) grows while it is infeasible or its optimum sits on a limit;
the trial says which box it ended with."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_repair import repairer
from test_repair_line import benchmark_engine
from test_repair_synthesis import first_round
from test_run import EXAMPLE, read_rows

from nnv.core.plugin.registry import default_registry
from nnv.core.repair.free import FreeParameters
from nnv.core.repair.synthesis.affine import AffineSynthesiser
from nnv.core.repair.synthesis.base import Proposal, Rounds
from nnv.core.repair.synthesis.plane import NeuronPairSynthesiser
from nnv.core.repair.synthesis.solver import SolverSynthesiser
from nnv.core.run.config import RunConfig
from nnv.core.run.dispatch import run_repair
from nnv.plugins.methods.solver.options import SolverOptions

Script = Callable[[float, np.ndarray], Proposal]


def scripted(
    monkeypatch: pytest.MonkeyPatch, answer: Script
) -> tuple[SolverSynthesiser, list[float]]:
    """A MILP synthesiser on the example whose solver answers ``answer(box, limits)``; the
    boxes it was asked in are recorded."""
    engine = repairer("highs", line_synthesis=False)
    synthesiser = SolverSynthesiser(
        engine.problem(FreeParameters.of(engine.network, ["w2.1.8", "w2.2.8"])),
        engine.solver,
        bilinear=False,
    )
    boxes: list[float] = []

    def solve(self: SolverSynthesiser, state: Rounds, *_: object) -> Proposal:
        boxes.append(self.max_change)
        return answer(self.max_change, self.encoder.limits)

    monkeypatch.setattr(SolverSynthesiser, "_solve", solve)
    return synthesiser, boxes


def test_the_box_doubles_past_infeasible_and_on_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(box: float, limits: np.ndarray) -> Proposal:
        if box < 40:
            return Proposal("infeasible")
        return Proposal("found", limits.copy() if box == 40 else limits / 4)  # on the limit

    synthesiser, boxes = scripted(monkeypatch, answer)
    proposal = synthesiser.propose(first_round(repairer("highs")))
    assert boxes == [10, 20, 40, 80] and synthesiser.max_change == 80
    assert proposal.status == "found" and proposal.offsets is not None
    np.testing.assert_allclose(proposal.offsets, synthesiser.encoder.limits / 4)
    assert synthesiser.growth == 8  # the limits (and big-M bounds) are 8 times the start


def test_a_larger_box_that_times_out_gives_back_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(box: float, limits: np.ndarray) -> Proposal:
        return Proposal("found", limits.copy()) if box == 10 else Proposal("timeout")

    synthesiser, boxes = scripted(monkeypatch, answer)
    proposal = synthesiser.propose(first_round(repairer("highs")))
    assert boxes == [10, 20] and proposal.status == "found" and synthesiser.max_change == 10
    np.testing.assert_allclose(proposal.offsets, synthesiser.encoder.limits)  # type: ignore[arg-type]


def test_growth_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    synthesiser, boxes = scripted(monkeypatch, lambda box, limits: Proposal("infeasible"))
    assert synthesiser.propose(first_round(repairer("highs"))).status == "infeasible"
    assert boxes == [10 * 2.0**k for k in range(11)] and synthesiser.max_change == 10240


def test_an_unrepairable_pair_says_the_box_it_searched() -> None:
    engine = repairer("highs")
    result = engine.trial(["w1.6.1", "w1.6.2"])
    assert result.status == "not_repaired" and result.max_change_used == 10240
    assert result.message == (
        "no values within 1024 x the allowed change (--max-change 10, grown to 10240) fix every "
        "counterexample"
    )


@pytest.mark.shared
def test_a_pair_outside_the_box_repairs_once_it_grows(nnsynth: Path) -> None:
    """XOR-B's w2.1.1 reads a hidden neuron that reaches about 30, so the default box lets it
    move by about 0.33: with w2.1.3, no values in that box repair property 1; twice the box
    holds w2.1.1's repair (it must move by about 0.52)."""
    engine = benchmark_engine(nnsynth / "xor_b")
    grown = engine.trial(["w2.1.1", "w2.1.3"])
    assert grown.status == "repaired" and grown.max_change_used == 20
    assert grown.message == "synthesis: the box grew to 2 x --max-change (20)"
    engine.settings.max_growth = 1.0
    fixed = engine.trial(["w2.1.1", "w2.1.3"])
    assert fixed.status == "not_repaired" and fixed.max_change_used == 10
    assert fixed.message == (
        "no values within the allowed change (--max-change 10) fix every counterexample"
    )


@pytest.mark.shared
def test_one_parameter_searches_the_whole_line(nnsynth: Path) -> None:
    """w2.1.1 alone: repaired (the old box could not), and an unrepairable weight says that no
    value anywhere fixes the counterexamples."""
    engine = benchmark_engine(nnsynth / "xor_b")
    line = engine.trial(["w2.1.1"])
    assert line.status == "repaired" and line.max_change_used == math.inf
    assert abs(line.values["w2.1.1"] - engine.network.parameter("w2.1.1")) > 0.4
    none = engine.trial(["w1.1.1"])
    assert none.status == "not_repaired" and none.max_change_used == math.inf
    assert none.message == "no value of w1.1.1 anywhere on the real line fixes every counterexample"


def test_the_results_name_the_box(tmp_path: Path) -> None:
    """result.json's max_change_used: a number for a MILP, "unbounded" for the line; the
    trials.csv column reads back when the run resumes."""
    settings = {"network": EXAMPLE / "network.onnx", "data": EXAMPLE / "data.npz"}
    prop = [EXAMPLE / "robust_violated.vnnlib"]
    sets = [["b2.1"], ["w2.1.8", "w2.2.8"]]
    options = SolverOptions(free_sets=sets, workers=1)
    config = RunConfig(properties=prop, out=tmp_path, method_options=options, **settings)
    first = run_repair(config, default_registry()).result.to_dict()
    rows = {row["free"]: row["max_change_used"] for row in read_rows(tmp_path)}
    assert rows == {"b2.1": "inf", "w2.1.8,w2.2.8": "10.0"}
    expected = {1: "unbounded", 2: 10.0}[len(first["free"])]  # the chosen trial's
    assert first["max_change_used"] == expected
    again = run_repair(config, default_registry()).result.to_dict()
    assert again["resumed"] == 2 and again["max_change_used"] == expected
    options = SolverOptions(free=sets[0], workers=1)
    line = RunConfig(properties=prop, out=tmp_path / "line", method_options=options, **settings)
    result = run_repair(line, default_registry()).result.to_dict()
    assert result["max_change_used"] == "unbounded"


@pytest.mark.parametrize(
    ("names", "kind"),
    [(["w2.1.8", "w2.2.8"], AffineSynthesiser), (["w1.8.1", "w1.8.2"], NeuronPairSynthesiser)],
)
def test_the_last_layer_and_the_plane_grow_their_box_too(names: list[str], kind: type) -> None:
    """The last layer's rows over the offsets and the exact plane of one neuron: a box too small
    for any repair doubles until one fits, and the answer is the one the default box gives
    (there, strictly inside its limits)."""
    wide = repairer("highs")
    assert isinstance(wide.synthesiser(FreeParameters.of(wide.network, names), None), kind)
    expected = wide.trial(names)
    assert expected.status == "repaired" and expected.max_change_used == 10
    small = repairer("highs", max_change=0.01).trial(names)
    assert small.status == "repaired" and small.max_change_used is not None
    growth = small.max_change_used / 0.01
    assert growth > 1 and math.log2(growth) == round(math.log2(growth))
    grown = f"{growth:g} x --max-change ({growth / 100:g})"
    assert small.message == f"synthesis: the box grew to {grown}"
    for name in names:
        assert small.values[name] == pytest.approx(expected.values[name], abs=1e-9)
