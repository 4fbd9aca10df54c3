"""One-parameter synthesis by exact line segments: the segments replay the changed network, the
sweep finds the brute-force optimum, and it agrees with the MILP synthesis on a benchmark."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import random_network
from test_repair import build

from nnv.core import Dataset, Network, Property
from nnv.core.model.network import ParameterAddress
from nnv.core.model.property import InputPiece, OutputConjunction
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.registry import default_registry
from nnv.core.repair.candidates import RoundState
from nnv.core.repair.free import FreeParameters
from nnv.core.repair.loop import Repairer
from nnv.core.repair.synthesis.line import LineAnswer, LineSynthesis
from nnv.core.repair.synthesis.line_pieces import Pieces, segments
from nnv.core.repair.synthesis.solver import SolverSynthesiser
from nnv.core.verify.falsify import violating_samples

SHAPES = [(3, 6, 5, 3), (2, 7, 6, 5, 3)]  # two and three hidden layers
Counterexamples = list[tuple[Property, np.ndarray]]


def addresses(net: Network) -> list[ParameterAddress]:
    """A weight and a bias in every layer: first, hidden and output."""
    chosen = []
    for index, layer in enumerate(net.layers):
        chosen.append(ParameterAddress(index, layer.n_out - 1, layer.n_in // 2))
        chosen.append(ParameterAddress(index, 0, None))
    return chosen


def moved(net: Network, address: ParameterAddress, delta: float) -> Network:
    return net.with_parameters({address: net.parameter(address) + delta})


def kept_by_replay(net: Network, X: np.ndarray, labels: np.ndarray, margin: float) -> int:
    outputs = net.forward(X)
    rows = np.arange(X.shape[0])
    own = outputs[rows, labels]
    outputs[rows, labels] = -np.inf
    return int(np.sum(own - outputs.max(axis=1) >= margin))


def safe_by(net: Network, counterexamples: Counterexamples) -> float:
    """The smallest slack by which any counterexample is out of any unsafe conjunction."""
    slack = np.inf
    for prop, point in counterexamples:
        y = net.forward(point)
        for conjunction in prop.unsafe_outputs:
            slack = min(slack, float(np.max(conjunction.C @ y - conjunction.d)))
    return slack


# -- segments -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_segments_replay_the_changed_network(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape))
    net = random_network(rng, shape)
    X = rng.normal(size=(25, shape[0]))
    limit = 1.5
    split_somewhere = False
    for address in addresses(net):
        pieces = segments(net, address, X, limit)
        breaks, outputs = pieces.breaks, pieces.outputs
        assert np.all(breaks[:, 0] == -limit) and np.all(breaks[:, -1] == limit)
        assert np.all(np.diff(breaks, axis=1) >= 0)
        split_somewhere |= breaks.shape[1] > 2
        for row in range(X.shape[0]):
            cuts = breaks[row]
            middles = (cuts[:-1] + cuts[1:]) / 2
            deltas = np.concatenate([cuts, middles, rng.uniform(-limit, limit, 20)])
            for delta in deltas:
                expected = moved(net, address, delta).forward(X[row])
                # linear interpolation between the breakpoints around delta
                k = int(np.clip(np.searchsorted(cuts, delta, side="right") - 1, 0, cuts.size - 2))
                width = cuts[k + 1] - cuts[k]
                share = 0.0 if width == 0 else (delta - cuts[k]) / width
                line = outputs[row, k] + share * (outputs[row, k + 1] - outputs[row, k])
                np.testing.assert_allclose(line, expected, rtol=1e-9, atol=1e-9)
    assert split_somewhere  # the ReLUs did cut the line


def test_segments_of_an_output_parameter_are_one_line() -> None:
    net = random_network(np.random.default_rng(3), (2, 4, 3))
    pieces = segments(net, ParameterAddress(1, 2, None), np.ones((5, 2)), 2.0)
    assert pieces.breaks.shape == (5, 2) and pieces.bounded
    whole = segments(net, ParameterAddress(1, 2, None), np.ones((5, 2)))
    assert whole.breaks.shape == (5, 1) and not whole.bounded


def on_the_pieces(pieces: Pieces, row: int, delta: float) -> np.ndarray:
    """The outputs at ``delta`` read off the pieces: interpolated between breakpoints,
    extrapolated along the rays."""
    cuts, values = pieces.breaks[row], pieces.outputs[row]
    assert pieces.below is not None and pieces.above is not None
    if delta <= cuts[0]:
        return values[0] + (delta - cuts[0]) * pieces.below[row]
    if delta >= cuts[-1]:
        return values[-1] + (delta - cuts[-1]) * pieces.above[row]
    k = int(np.clip(np.searchsorted(cuts, delta, side="right") - 1, 0, cuts.size - 2))
    width = cuts[k + 1] - cuts[k]
    share = 0.0 if width == 0 else (delta - cuts[k]) / width
    return values[k] + share * (values[k + 1] - values[k])


@pytest.mark.parametrize("shape", SHAPES)
def test_segments_of_the_whole_line_replay_the_changed_network(shape: tuple[int, ...]) -> None:
    """No box: every ReLU's breakpoints anywhere on the line, and beyond the last one the
    outputs are affine, out to a million times the parameters' scale."""
    rng = np.random.default_rng(10 + len(shape))
    net = random_network(rng, shape)
    X = rng.normal(size=(15, shape[0]))
    far = 10.0 ** np.arange(7)
    outside = 0
    for address in addresses(net):
        pieces = segments(net, address, X)
        assert not pieces.bounded and np.all(np.diff(pieces.breaks, axis=1) >= 0)
        for row in range(X.shape[0]):
            cuts = pieces.breaks[row]
            outside += int(np.sum(np.abs(cuts) > 3.0))
            middles = (cuts[:-1] + cuts[1:]) / 2
            deltas = np.concatenate([cuts, middles, cuts[0] - far, cuts[-1] + far])
            for delta in deltas:
                expected = moved(net, address, delta).forward(X[row])
                scale = 1e-9 * (1.0 + np.abs(expected).max())
                np.testing.assert_allclose(
                    on_the_pieces(pieces, row, delta), expected, rtol=1e-9, atol=scale
                )
    assert outside > 0  # some ReLUs switch far outside a box of +-3


def whole_line_candidates(
    net: Network,
    address: ParameterAddress,
    X: np.ndarray,
    labels: np.ndarray,
    soft_margin: float,
    counterexamples: Counterexamples,
    synthesis_margin: float,
) -> np.ndarray:
    """A grid over +-50, offsets out to 1e6 either way, and every offset where a count
    may change on the whole line: breakpoints and the roots of each affine margin, rays too."""
    found = [np.linspace(-50.0, 50.0, 4001), np.outer([-1.0, 1.0], 10.0 ** np.arange(7)).ravel()]
    rows = np.arange(X.shape[0])

    def margins(values: np.ndarray) -> np.ndarray:
        return values[rows, ..., labels][..., None] - values

    pieces = segments(net, address, X)
    functions = [(pieces, margins(pieces.outputs), margins(pieces.below), margins(pieces.above))]
    for prop, point in counterexamples:
        one = segments(net, address, point[None, :])
        for conjunction in prop.unsafe_outputs:
            C = conjunction.C.T
            functions.append((one, one.outputs @ C, one.below @ C, one.above @ C))
    for piece, values, below, above in functions:
        bound = soft_margin if piece is pieces else synthesis_margin
        cuts = piece.breaks
        found.append(cuts.ravel())
        f0, f1 = values[:, :-1] - bound, values[:, 1:] - bound
        t0, t1 = cuts[:, :-1, None], cuts[:, 1:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            found.append((t0 + (t1 - t0) * f0 / (f0 - f1))[(f0 < 0) != (f1 < 0)])
            found.append((cuts[:, :1] - (values[:, 0] - bound) / below).ravel())
            found.append((cuts[:, -1:] - (values[:, -1] - bound) / above).ravel())
    points = np.unique(np.concatenate(found))
    points = points[np.isfinite(points)]
    return np.unique(np.concatenate([points, (points[:-1] + points[1:]) / 2]))


# -- the optimum against brute force --------------------------------------------------------


def flip_properties(
    net: Network, X: np.ndarray, labels: np.ndarray, nearest: bool = True
) -> Counterexamples:
    """Constraints that bind, at the point nearest the decision boundary (or farthest from
    it): its two top classes must swap, and it must satisfy one of two rows (a conjunction
    whose safe set is a union)."""
    outputs = net.forward(X)
    rows = np.arange(X.shape[0])
    runner = np.argsort(outputs, axis=1)[:, -2]
    gaps = np.abs(outputs[rows, labels] - outputs[rows, runner])
    i = int(np.argmin(gaps) if nearest else np.argmax(gaps))
    piece = InputPiece(X.min(axis=0), X.max(axis=0))
    swap = np.zeros((1, net.n_outputs))
    swap[0, runner[i]], swap[0, labels[i]] = 1.0, -1.0  # unsafe: y_runner - y_label <= 0
    # unsafe: y_0 - y_1 <= d_0 and y_2 - y_1 <= d_1, both just above their values now
    either = np.array([[1.0, -1.0, 0.0], [0.0, -1.0, 1.0]])
    return [
        (Property((piece,), (OutputConjunction(swap, np.zeros(1)),), 2, 3), X[i]),
        (Property((piece,), (OutputConjunction(either, either @ outputs[i] + 0.05),), 2, 3), X[i]),
    ]


def candidates(
    net: Network,
    address: ParameterAddress,
    limit: float,
    X: np.ndarray,
    labels: np.ndarray,
    soft_margin: float,
    counterexamples: Counterexamples,
    synthesis_margin: float,
) -> np.ndarray:
    """Every offset where some count can change: the breakpoints, and on each segment the
    roots of every soft margin and every counterexample row (each affine there); then the
    midpoints between them, a fine grid and 0 (the tie-break's favourite)."""
    found = [np.linspace(-limit, limit, 2001), np.zeros(1)]
    pieces = segments(net, address, X, limit)
    breaks, outputs = pieces.breaks, pieces.outputs
    rows = np.arange(X.shape[0])
    pieces = [(breaks, outputs[rows, :, labels][:, :, None] - outputs - soft_margin)]
    for prop, point in counterexamples:
        one = segments(net, address, point[None, :], limit)
        cuts, values = one.breaks, one.outputs
        for conjunction in prop.unsafe_outputs:
            pieces.append((cuts, values @ conjunction.C.T - conjunction.d - synthesis_margin))
    for cuts, function in pieces:
        found.append(cuts.ravel())
        f0, f1 = function[:, :-1], function[:, 1:]
        t0, t1 = cuts[:, :-1, None], cuts[:, 1:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            roots = t0 + (t1 - t0) * f0 / (f0 - f1)
        found.append(roots[(f0 < 0) != (f1 < 0)])
    points = np.unique(np.concatenate(found))
    points = points[(points >= -limit) & (points <= limit)]
    return np.unique(np.concatenate([points, (points[:-1] + points[1:]) / 2]))


def brute_force(
    net: Network,
    address: ParameterAddress,
    deltas: np.ndarray,
    X: np.ndarray,
    labels: np.ndarray,
    soft_margin: float,
    counterexamples: Counterexamples,
    synthesis_margin: float,
) -> tuple[int, float]:
    """The most points kept over the feasible ``deltas`` by replay, and the smallest |delta|
    that keeps them; (-1, nan) when none is feasible."""
    best, nearest = -1, math.nan
    for delta in deltas:
        candidate = moved(net, address, delta)
        if counterexamples and safe_by(candidate, counterexamples) < synthesis_margin:
            continue
        kept = kept_by_replay(candidate, X, labels, soft_margin)
        if kept > best or (kept == best and abs(delta) < nearest):
            best, nearest = kept, abs(delta)
    return best, nearest


def random_problem(seed: int) -> tuple[Network, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    net = random_network(rng, (2, 8, 6, 3))
    X = rng.normal(size=(60, 2))
    labels = net.predict(X)
    labels[:6] = rng.integers(0, 3, 6)  # a few points the original network gets "wrong"
    return net, X, labels


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("seed", [0, 2, 5])
def test_line_synthesis_finds_the_brute_force_optimum(seed: int, constrained: bool) -> None:
    net, X, labels = random_problem(seed)
    soft_margin, synthesis_margin, limit = 0.02, 0.01, 2.0
    counterexamples = flip_properties(net, X, labels) if constrained else []
    feasible = 0
    for address in addresses(net):
        line = LineSynthesis(net, address, limit, X, labels, soft_margin)
        answer = line.solve(counterexamples, synthesis_margin)
        deltas = candidates(
            net, address, limit, X, labels, soft_margin, counterexamples, synthesis_margin
        )
        best, nearest = brute_force(
            net, address, deltas, X, labels, soft_margin, counterexamples, synthesis_margin
        )
        if answer.delta is None:
            assert best == -1, f"{address}: brute force found a feasible offset"
            continue
        feasible += 1
        assert answer.kept == best, address
        assert abs(answer.delta) <= limit
        # the answer sits a hair (1e-9 * limit) inside the optimal interval
        assert abs(answer.delta) <= nearest + 2e-9 * max(1.0, limit), "not the smallest change"
        candidate = moved(net, address, answer.delta)
        assert kept_by_replay(candidate, X, labels, soft_margin) >= answer.kept
        if counterexamples:
            assert safe_by(candidate, counterexamples) >= synthesis_margin - 1e-9
    assert feasible >= 3


def replay_many(net: Network, address: ParameterAddress, deltas: np.ndarray, X: np.ndarray):  # type: ignore[no-untyped-def]
    """Outputs (D, m, n) of the network with the parameter moved by each offset: a plain
    forward pass per layer, batched over the offsets."""
    values = np.broadcast_to(X, (deltas.size, *X.shape))
    for index, layer in enumerate(net.layers):
        weight = np.broadcast_to(layer.weight, (deltas.size, *layer.weight.shape)).copy()
        bias = np.broadcast_to(layer.bias, (deltas.size, layer.n_out)).copy()
        if index == address.layer:
            if address.source is None:
                bias[:, address.neuron] += deltas
            else:
                weight[:, address.neuron, address.source] += deltas
        values = np.einsum("dmi,doi->dmo", values, weight) + bias[:, None, :]
        if index < len(net.layers) - 1:
            values = np.maximum(values, 0.0)
    return values


def brute_force_many(
    net: Network,
    address: ParameterAddress,
    deltas: np.ndarray,
    X: np.ndarray,
    labels: np.ndarray,
    soft_margin: float,
    counterexamples: Counterexamples,
    synthesis_margin: float,
) -> tuple[int, float]:
    """:func:`brute_force`, batched over the offsets (chunks of 500)."""
    best, nearest = -1, math.nan
    rows = np.arange(X.shape[0])
    points = np.array([point for _, point in counterexamples])
    for chunk in np.array_split(deltas, max(1, deltas.size // 500)):
        outputs = replay_many(net, address, chunk, X)
        own = outputs[:, rows, labels]
        outputs[:, rows, labels] = -np.inf
        kept = np.sum(own - outputs.max(axis=2) >= soft_margin, axis=1)
        safe = np.ones(chunk.size, dtype=bool)
        at = replay_many(net, address, chunk, points)
        for k, (prop, _) in enumerate(counterexamples):
            for conjunction in prop.unsafe_outputs:
                slack = (at[:, k] @ conjunction.C.T - conjunction.d).max(axis=1)
                safe &= slack >= synthesis_margin
        for value, delta, ok in zip(kept, chunk, safe, strict=True):
            if ok and (value > best or (value == best and abs(delta) < nearest)):
                best, nearest = int(value), abs(float(delta))
    return best, nearest


@pytest.mark.parametrize("seed", [0, 2])
def test_whole_line_synthesis_finds_the_brute_force_optimum(seed: int) -> None:
    """The point farthest from the boundary must change class: some parameters need offsets
    far outside a box of +-2, and the answer is still the brute-force optimum."""
    net, X, labels = random_problem(seed)
    soft_margin, synthesis_margin = 0.02, 0.01
    counterexamples = flip_properties(net, X, labels, nearest=False)
    feasible = beyond = 0
    for address in addresses(net):
        line = LineSynthesis(net, address, math.inf, X, labels, soft_margin)
        answer = line.solve(counterexamples, synthesis_margin)
        deltas = whole_line_candidates(
            net, address, X, labels, soft_margin, counterexamples, synthesis_margin
        )
        best, nearest = brute_force_many(
            net, address, deltas, X, labels, soft_margin, counterexamples, synthesis_margin
        )
        if answer.delta is None:
            assert best == -1, f"{address}: brute force found a feasible offset"
            continue
        feasible += 1
        assert answer.kept == best, address
        assert abs(answer.delta) <= nearest + 2e-9 * max(1.0, nearest), "not the smallest change"
        beyond += abs(answer.delta) > 2.0  # outside the bounded test's box
        candidate = moved(net, address, answer.delta)
        assert kept_by_replay(candidate, X, labels, soft_margin) >= answer.kept
        assert safe_by(candidate, counterexamples) >= synthesis_margin - 1e-9
    assert feasible >= 1 and beyond >= 1


def test_constraints_cost_soft_points() -> None:
    """The counterexamples of the brute-force test do bind: the optimum drops."""
    net, X, labels = random_problem(2)
    counterexamples = flip_properties(net, X, labels)
    drops = 0
    for address in addresses(net):
        line = LineSynthesis(net, address, 2.0, X, labels, 0.02)
        free, constrained = line.solve([], 0.01), line.solve(counterexamples, 0.01)
        assert constrained.kept <= free.kept
        drops += constrained.delta is not None and constrained.kept < free.kept
    assert drops >= 3


# -- feasibility and the tie-break, worked out by hand ------------------------------------


def output_gap_problem(
    gap: float, limit: float = 1.0
) -> tuple[LineSynthesis, Counterexamples, float]:
    """Moving the bias of output 1 by at most ``limit`` must raise ``y_1 - y_0`` by ``gap``."""
    net = random_network(np.random.default_rng(7), (2, 5, 2))
    point = np.array([0.3, -0.4])
    y = net.forward(point)
    conjunction = OutputConjunction(np.array([[-1.0, 1.0]]), np.array([y[1] - y[0] + gap]))
    piece = InputPiece(point - 1, point + 1)
    prop = Property((piece,), (conjunction,), 2, 2)
    X = np.random.default_rng(8).normal(size=(30, 2))
    line = LineSynthesis(net, ParameterAddress(1, 1, None), limit, X, net.predict(X), 1e-6)
    return line, [(prop, point)], y[1] - y[0]


def test_no_offset_within_the_limit_is_infeasible() -> None:
    line, counterexamples, _ = output_gap_problem(1.5)
    assert line.solve(counterexamples, 1e-3) == LineAnswer(None, 0)


def test_the_whole_line_reaches_past_any_limit() -> None:
    """The gap needs an offset of 1.5 (plus the margin): no value in [-1, 1] has it (above),
    the whole line does, and the answer is the smallest such offset."""
    line, counterexamples, _ = output_gap_problem(1.5, math.inf)
    answer = line.solve(counterexamples, 1e-3)
    assert answer.delta is not None and 1.501 < answer.delta <= 1.501 + 1e-8
    blocked, _, _ = output_gap_problem(-1e6, math.inf)  # any offset below about 1e6 is safe
    assert blocked.solve(counterexamples, 1e-3).delta is not None


def test_an_unreachable_conjunction_is_infeasible() -> None:
    line, counterexamples, _ = output_gap_problem(0.5)
    prop, point = counterexamples[0]
    always_unsafe = OutputConjunction(np.zeros((1, 2)), np.zeros(1))
    blocked = Property(prop.pieces, (always_unsafe,), 2, 2)
    assert line.solve([*counterexamples, (blocked, point)], 1e-3).delta is None


def test_the_smallest_sufficient_change_wins_ties() -> None:
    """Every offset above the needed one is safe; the soft points (labelled by the original
    network) prefer 0, so the answer is the needed offset itself, just inside."""
    line, counterexamples, _ = output_gap_problem(0.5)
    answer = line.solve(counterexamples, 1e-3)
    assert answer.delta is not None
    assert 0.501 < answer.delta <= 0.501 + 1e-8
    assert line.solve([], 1e-3) == LineAnswer(0.0, 30)


def identity_problem(rows: list[list[float]], labels: list[int], address: str) -> LineSynthesis:
    """``y = x`` with one parameter free in [-2, 2] and soft margin 0.25: every margin and
    root below is exact in binary floating point."""
    net = Network([(np.eye(2), np.zeros(2))])
    points, classes = np.array(rows), np.array(labels)
    return LineSynthesis(net, net.resolve(address), 2.0, points, classes, 0.25)


def test_isolated_optimal_points_are_returned_exactly() -> None:
    """Moving b1.2 by delta: points 1 and 3 (class 0) are kept for delta <= 0.5 and <= 1,
    points 2 and 4 (class 1) for delta >= 0.5 and >= 1. Three are kept only at 0.5 and at 1
    exactly, not between: the answer is 0.5, not a point inside [0.5, 1]."""
    line = identity_problem([[0.75, 0], [0.25, 0], [1.25, 0], [0.75, 0]], [0, 1, 0, 1], "b1.2")
    assert line.solve([], 1e-3) == LineAnswer(0.5, 3)


def test_a_margin_exactly_at_the_soft_margin_is_kept() -> None:
    """w1.2.2 reads x_2 = 0, so nothing moves; the second point's margin is exactly 0.25."""
    line = identity_problem([[1.5, 0], [0.25, 0], [0, 0]], [0, 0, 0], "w1.2.2")
    assert line.solve([], 1e-3) == LineAnswer(0.0, 2)


# -- agreement with the MILP synthesis on the benchmarks -----------------------------------


def benchmark_engine(base: Path, extra: Sequence[Property] = ()) -> Repairer:
    """A Repairer for property 1 of a benchmark (and ``extra`` properties), with the samples
    heuristic's soft points: the training set labelled by the original network."""
    registry = default_registry()
    net = registry.load_network(base / "model.onnx")
    prop = registry.load_property(base / "properties" / "prop_1.vnnlib")
    data = Dataset.load(base / "data.npz")
    X = data.splits["train"][0]
    soft = SoftConstraints(X, net.predict(X))
    return build(net, [prop, *extra], soft, data, threshold=None)


def flip_nearest(engine: Repairer) -> tuple[Property, np.ndarray]:
    """The soft point nearest the decision boundary must change class, and is the property's
    counterexample: it binds, and leaves many single parameters feasible."""
    X, labels = engine.soft.points, engine.soft.labels
    outputs = engine.network.forward(X)
    i = int(np.argmin(np.abs(outputs[:, 0] - outputs[:, 1])))
    return Property.robustness(X[i], 0.01, 1 - int(labels[i]), 2), X[i]


def milp_optimum(engine: Repairer, free: FreeParameters, seeds: list[np.ndarray]) -> int | None:
    """The HiGHS synthesis MILP's optimal count (None: infeasible), triaged points included."""
    synthesis = SolverSynthesiser(engine.problem(free), engine.solver, bilinear=False)
    state = RoundState([list(points) for points in seeds], [])
    query, _, _ = synthesis.query(state)
    solution = engine.solver.solve(query)
    if solution.status == "infeasible":
        return None
    assert solution.status == "optimal" and solution.objective is not None
    # the objective, minimised: -count + tie-break, with the tie-break in [0, 0.5]
    return math.floor(-solution.objective + 0.5) + synthesis.always


def line_answer(engine: Repairer, free: FreeParameters, seeds: list[np.ndarray]) -> LineAnswer:
    soft, settings = engine.soft, engine.settings
    line = LineSynthesis(
        engine.network,
        free.addresses[0],
        float(engine.problem(free).limits[0]),
        soft.points,
        soft.labels,
        settings.soft_synthesis_margin,  # what the MILP synthesis keeps a soft point with
    )
    pairs = [(p, c) for p, points in zip(engine.properties, seeds, strict=True) for c in points]
    return line.solve(pairs, settings.synthesis_margin)


@pytest.mark.shared
@pytest.mark.parametrize(
    ("flip", "name"),
    [(False, "b2.1"), (False, "w1.1.1"), (False, "w2.2.3")]
    + [(True, name) for name in ("b2.1", "w1.1.1", "b1.1", "w2.1.1", "w1.3.1", "w2.2.3")],
)
def test_line_synthesis_agrees_with_the_milp_on_xor_b(nnsynth: Path, flip: bool, name: str) -> None:
    """Property 1's seed counterexamples leave only b2.1 feasible; the flip alone (property 1
    with no counterexample yet) leaves most parameters feasible with different optima."""
    engine = benchmark_engine(nnsynth / "xor_b")
    seeds = [violating_samples(engine.network, engine.properties[0], 4)]
    if flip:
        prop, point = flip_nearest(engine)
        engine = benchmark_engine(nnsynth / "xor_b", [prop])
        seeds = [np.zeros((0, 2)), point[None, :]]
    free = FreeParameters.of(engine.network, [name])
    answer = line_answer(engine, free, seeds)
    optimum = milp_optimum(engine, free, seeds)
    if optimum is None:
        assert answer.delta is None
        return
    assert answer.delta is not None and answer.kept == optimum
    candidate = engine.network.with_parameters({name: free.original[0] + answer.delta})
    assert engine.outcomes.kept(candidate, []) >= answer.kept


@pytest.mark.shared
def test_blobs_answer_replays(nnsynth: Path) -> None:
    """The 6000 training points of Blobs; the MILP takes minutes for b1.8, the line less than
    a second."""
    registry = default_registry()
    engine = benchmark_engine(
        nnsynth / "blobs", [registry.load_property(nnsynth / "blobs/properties/prop_2.vnnlib")]
    )
    seeds = [violating_samples(engine.network, prop, 4) for prop in engine.properties]
    free = FreeParameters.of(engine.network, ["b1.8"])
    answer = line_answer(engine, free, seeds)
    assert answer.delta is not None and answer.kept > engine.soft.count / 2
    candidate = engine.network.with_parameters({"b1.8": free.original[0] + answer.delta})
    assert engine.outcomes.kept(candidate, []) >= answer.kept
    pairs = [(p, c) for p, points in zip(engine.properties, seeds, strict=True) for c in points]
    assert safe_by(candidate, pairs) >= engine.synthesis_margin - 1e-9
