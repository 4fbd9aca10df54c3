"""The repair's margins: scaled to the network's outputs, relaxed when synthesis finds no
values, tightened when the verifier cannot decide a candidate (nnv.core.repair.margins)."""

from __future__ import annotations

import numpy as np
import pytest
from test_repair import build, example, repairer
from test_repair_synthesis import chosen

from nnv.core.model.network import Network
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.repair.margins import MAX_TIGHTEN, SynthesisMargin, output_scale
from nnv.core.repair.synthesis.base import Proposal, Rounds, Synthesiser


def scaled(net: Network, factor: float) -> Network:
    """``net`` with its last layer (and so every output) multiplied by ``factor``."""
    layers = [(layer.dense(), layer.bias) for layer in net.layers]
    W, b = layers[-1]
    return Network([*layers[:-1], (W * factor, b * factor)])


# the example's outputs spread over about 16.5 (median): scale 10
@pytest.mark.parametrize(("factor", "scale"), [(1.0, 10.0), (0.03, 0.1), (0.5, 1.0), (300.0, 1e3)])
def test_the_scale_is_the_order_of_magnitude_of_the_outputs_spread(
    factor: float, scale: float
) -> None:
    net, _, data, _ = example()
    X = data.splits["train"][0]
    assert output_scale(scaled(net, factor), X) == pytest.approx(scale)
    spread = np.median(np.ptp(scaled(net, factor).forward(X), axis=1))
    assert scale <= spread < 10 * scale


def test_no_points_or_no_spread_leave_the_margins_as_given() -> None:
    net, _, data, _ = example()
    assert output_scale(net, np.zeros((0, net.n_inputs))) == 1.0
    flat = Network([(np.zeros((2, net.n_inputs)), np.zeros(2))])
    assert output_scale(flat, data.splits["train"][0]) == 1.0


def test_a_repair_uses_margins_scaled_to_its_outputs() -> None:
    """Outputs 1000 x smaller (spread about 0.0165): margins for outputs of order 0.01, and the
    repair still certified."""
    net, prop, data, _ = example()
    small = scaled(net, 0.001)
    X = data.splits["train"][0]
    soft = SoftConstraints(X, small.predict(X))
    engine = build(small, [prop], soft, data, margins="outputs")
    assert engine.synthesis_margin == pytest.approx(1e-5)
    assert engine.verify_margin == pytest.approx(1e-6)
    result = engine.trial(["b2.1"])
    assert result.status == "repaired" and result.synthesis_margin == engine.synthesis_margin
    given = build(small, [prop], soft, data)  # the default: absolute margins
    assert given.synthesis_margin == 1e-3 and given.verify_margin == 1e-4


def test_margins_are_absolute_or_scaled_to_the_outputs_and_nothing_else() -> None:
    from nnv.core.errors import InputError
    from nnv.core.repair.settings import RepairSettings

    with pytest.raises(InputError, match="absolute, outputs"):
        RepairSettings(margins="relative")  # type: ignore[arg-type]


def test_relaxing_stops_at_twice_the_verify_margin_and_tightening_never_returns_there() -> None:
    margin = SynthesisMargin.starting(1e-3, 1e-4)
    assert margin.relax() and margin.value == pytest.approx(2.5e-4)
    assert margin.relax() and margin.value == pytest.approx(2e-4)
    assert not margin.relax()
    assert not margin.tighten()  # 4e-4 would pass 2.5e-4, where synthesis failed
    once = SynthesisMargin.starting(1e-3, 1e-4)
    assert once.relax() and once.tighten() and once.value == pytest.approx(5e-4)
    assert not once.tighten()  # 1e-3 is where synthesis failed
    fresh = SynthesisMargin.starting(1e-3, 1e-4)
    while fresh.tighten():
        pass
    assert fresh.value == pytest.approx(1e-3 * MAX_TIGHTEN)


class _NeedsSmallMargin:
    """A real synthesiser that finds nothing while the trial's margin exceeds ``most``."""

    def __init__(self, real: Synthesiser, most: float) -> None:
        self.real, self.most = real, most
        self.problem = real.problem
        self.max_change = real.max_change
        self.margins: list[float] = []

    def propose(self, state: Rounds) -> Proposal:
        self.margins.append(self.problem.margin.value)
        if self.problem.margin.value > self.most:
            return Proposal("infeasible")
        return self.real.propose(state)


@pytest.mark.parametrize("most", [0.3, 0.1])  # x the starting margin
def test_synthesis_that_finds_nothing_relaxes_the_margin_before_giving_up(
    monkeypatch: pytest.MonkeyPatch, most: float
) -> None:
    engine = repairer("highs")
    start, floor = engine.synthesis_margin, 2 * engine.verify_margin
    wrapped = _NeedsSmallMargin(chosen(engine, ["b2.1"]), most * start)
    monkeypatch.setattr(engine, "synthesiser", lambda free, deadline: wrapped)
    result = engine.trial(["b2.1"])
    if most * start >= start / 4:
        assert result.status == "repaired", result.message
        assert wrapped.margins[:2] == [start, start / 4]
        assert result.synthesis_margin == start / 4
        assert "synthesis margin relaxed to" in result.message
    else:  # not even at the floor: the trial ends, with the margins tried
        assert result.status == "not_repaired" and result.rounds == 1
        assert wrapped.margins == [start, start / 4, floor]
