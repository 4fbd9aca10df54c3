"""Repair with many free parameters: choosing them (addresses, globs, layers, neurons), the
objectives (keep, l1, linf, output and their lexicographic combinations), the last layer's
synthesis over rows of the offsets alone, and warm starts between rounds."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from test_repair import build, example

from nnv.core import CapabilityError, Dataset, InputError, Network, Property
from nnv.core.model.decision import decide
from nnv.core.model.property import InputPiece, OutputConjunction
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.objective import MostKept, Objective
from nnv.core.plugin.registry import default_registry
from nnv.core.query.builder import QueryBuilder
from nnv.core.query.form import WarmStart
from nnv.core.repair.candidates import RoundState
from nnv.core.repair.free import FreeParameters, layer_selectors, neuron_selectors, select
from nnv.core.repair.loop import Repairer
from nnv.core.repair.synthesis.affine import AffineSynthesiser
from nnv.core.repair.synthesis.solver import SolverSynthesiser
from nnv.core.verify.falsify import violating_samples


def objectives(*names: str) -> list[Objective]:
    registry = default_registry()
    return [registry.get("objective", name).factory() for name in names]


# -- choosing the free parameters ---------------------------------------------------------------


def test_selectors_name_addresses_globs_layers_and_neurons_in_the_papers_order() -> None:
    net = example()[0]  # 2-8-2
    assert select(net, layer_selectors(2)) == [str(a) for a in net.parameter_addresses([2])]
    assert len(select(net, layer_selectors(2))) == 18
    assert select(net, neuron_selectors("1.3")) == ["w1.3.1", "w1.3.2", "b1.3"]
    assert select(net, ["b2.*", "w2.2.1"]) == ["w2.2.1", "b2.1", "b2.2"]
    # overlapping selectors name each parameter once
    assert select(net, ["w2.1.*", "w2.1.3", *neuron_selectors("2.1")]) == [
        *(f"w2.1.{i}" for i in range(1, 9)),
        "b2.1",
    ]


@pytest.mark.parametrize(
    ("selectors", "message"),
    [
        (["w3.*.*"], "'w3.*.*': the network has 2 layers"),
        (["w*.9.*"], "match no parameter"),
        (["w1.9.*"], "match no parameter"),
        (["w1.1.7"], "layer 1 has 8 neurons with 2 inputs"),
        (["x1.1"], "bad parameter address"),
        ([], "no free parameters"),
    ],
)
def test_selectors_that_name_nothing_are_refused(selectors: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        select(example()[0], selectors)


@pytest.mark.parametrize("bad", ["6", "6.0", "a.b", "6.3.1", ""])
def test_a_free_neuron_is_layer_dot_neuron(bad: str) -> None:
    with pytest.raises(InputError, match="<layer>.<neuron>"):
        neuron_selectors(bad)
    with pytest.raises(InputError, match="layer number"):
        layer_selectors(0)


# -- the objectives, checked against an LP built independently -----------------------------------


def last_layer_engine(*names: str, count: int = 30) -> tuple[Repairer, FreeParameters, RoundState]:
    """The example with its last layer free and ``count`` violating points as counterexamples."""
    net, prop, data, soft = example()
    engine = build(net, [prop], soft, data)
    engine.objectives = objectives(*names)
    free = FreeParameters.of(net, select(net, layer_selectors(2)))
    state = RoundState([list(violating_samples(net, prop, count))], [])
    assert len(state.counterexamples[0]) == count
    return engine, free, state


def reference_lp(engine: Repairer, free: FreeParameters, state: RoundState, norm: str) -> float:
    """The smallest change (``l1``, ``linf``) or output change (``output``) that keeps every
    counterexample safe by the synthesis margin: an LP written out by hand for scipy."""
    net, prop = engine.network, engine.properties[0]
    X = np.array(state.counterexamples[0])
    hidden = np.maximum(net.activations(X)[0], 0.0)
    n = len(free.names)  # offsets: w2.o.i (o = 0, 1; i = 0..7), then b2.1, b2.2
    limits = engine.problem(free).limits

    def jacobian(H: np.ndarray) -> np.ndarray:
        """Per point, d y / d offsets: (m, 2, n)."""
        J = np.zeros((H.shape[0], 2, n))
        for o in range(2):
            J[:, o, 8 * o : 8 * o + 8] = H
            J[:, o, 16 + o] = 1.0
        return J

    (conjunction,) = prop.unsafe_outputs  # y0 - y1 <= 0 is unsafe
    margin = engine.synthesis_margin
    coefficient = np.einsum("r,mrn->mn", conjunction.C[0], jacobian(hidden))
    slack = net.forward(X) @ conjunction.C[0] - conjunction.d[0] - margin  # >= 0: safe
    if norm == "output":
        P = np.maximum(net.activations(engine.soft.points)[0], 0.0)
        rows = jacobian(P).reshape(-1, n)
        k = rows.shape[0]  # variables: delta (n), u (k) with u >= |rows delta|
        cost = np.concatenate([np.zeros(n), np.ones(k)])
        A = sp.vstack([
            sp.hstack([sp.csr_matrix(rows), -sp.identity(k)]),
            sp.hstack([sp.csr_matrix(-rows), -sp.identity(k)]),
            sp.hstack([sp.csr_matrix(-coefficient), sp.csr_matrix((X.shape[0], k))]),
        ])  # fmt: skip
        b = np.concatenate([np.zeros(2 * k), slack])
        bounds = [(-lim, lim) for lim in limits] + [(0, None)] * k
    else:
        k = n if norm == "l1" else 1  # variables: delta (n), then s (n) or t (1)
        cost = np.concatenate([np.zeros(n), np.ones(k)])
        size = np.eye(n) if norm == "l1" else np.ones((n, 1))
        A = np.block([
            [np.eye(n), -size],
            [-np.eye(n), -size],
            [-coefficient, np.zeros((X.shape[0], k))],
        ])  # fmt: skip
        b = np.concatenate([np.zeros(2 * n), slack])
        bounds = [(-lim, lim) for lim in limits] + [(0, None)] * k
    answer = scipy.optimize.linprog(cost, A_ub=A, b_ub=b, bounds=bounds, method="highs")
    assert answer.status == 0, answer.message
    return float(answer.fun)


def output_change(engine: Repairer, free: FreeParameters, offsets: np.ndarray) -> float:
    repaired = engine.network.with_parameters(
        dict(zip(free.names, free.original + offsets, strict=True))
    )
    points = engine.soft.points
    return float(np.abs(repaired.forward(points) - engine.network.forward(points)).sum())


@pytest.mark.parametrize("norm", ["l1", "linf", "output"])
def test_smallest_change_objectives_reach_the_lps_optimum(norm: str) -> None:
    engine, free, state = last_layer_engine(norm)
    synthesiser = engine.synthesiser(free, None)
    assert isinstance(synthesiser, AffineSynthesiser)
    proposal = synthesiser.propose(state)
    assert proposal.status == "found" and proposal.proved_optimal, proposal.message
    assert proposal.offsets is not None
    reached = {
        "l1": float(np.abs(proposal.offsets).sum()),
        "linf": float(np.abs(proposal.offsets).max()),
        "output": output_change(engine, free, proposal.offsets),
    }[norm]
    optimum = reference_lp(engine, free, state, norm)
    assert reached == pytest.approx(optimum, rel=1e-6, abs=1e-9)
    # every counterexample is safe in float64, with (nearly) the margin to spare
    repaired = engine.network.with_parameters(
        dict(zip(free.names, free.original + proposal.offsets, strict=True))
    )
    X = np.array(state.counterexamples[0])
    gap = repaired.forward(X) @ engine.properties[0].unsafe_outputs[0].C[0]
    assert np.all(gap >= engine.synthesis_margin - 1e-9)


def test_lexicographic_objectives_hold_the_first_and_improve_the_second() -> None:
    """keep, then l1: the same number of soft points kept as keep alone, with an L1 change no
    larger; l1, then output: the l1 optimum, and no larger output change than l1 alone."""
    kept: dict[str, tuple[int, float, float]] = {}
    for names in (("keep",), ("keep", "l1"), ("l1",), ("l1", "output")):
        engine, free, state = last_layer_engine(*names)
        proposal = engine.synthesiser(free, None).propose(state)
        assert proposal.status == "found" and proposal.offsets is not None
        repaired = engine.network.with_parameters(
            dict(zip(free.names, free.original + proposal.offsets, strict=True))
        )
        count = engine.outcomes.kept(repaired, [])
        change = float(np.abs(proposal.offsets).sum())
        kept[",".join(names)] = (count, change, output_change(engine, free, proposal.offsets))
    assert kept["keep,l1"][0] == kept["keep"][0]
    assert kept["keep,l1"][1] <= kept["keep"][1] + 1e-9
    assert kept["l1,output"][1] == pytest.approx(kept["l1"][1], rel=1e-5)
    assert kept["l1,output"][2] <= kept["l1"][2] + 1e-9


def test_objectives_that_need_an_optimiser_are_refused_for_cvc5() -> None:
    net, prop, data, soft = example()
    engine = build(net, [prop], soft, data, solver="cvc5")
    engine.objectives = objectives("l1")
    with pytest.raises(CapabilityError, match="objective 'l1' needs .* optimises"):
        engine.check(["w1.1.1", "b1.2"])
    engine.objectives = objectives("keep")
    engine.check(["w1.1.1", "b1.2"])  # the default objective needs no optimiser


def test_a_last_layer_repair_with_the_l1_objective_is_certified() -> None:
    net, prop, data, soft = example()
    engine = build(net, [prop], soft, data)
    engine.objectives = objectives("l1")
    result = engine.trial(select(net, layer_selectors(2)))
    assert result.status == "repaired", result.message
    assert result.certified_by == "z3 (exact)"
    moved = [name for name, value in result.values.items() if value != net.parameter(name)]
    assert 0 < len(moved) <= 18


# -- disjunctions: a chosen row, and the exact disjunction when it fails -------------------------


def three_class_case() -> tuple[Network, Property]:
    """Class 2 must not be the minimum on a box where it is; the row chosen for the
    disjunction (``y2 > y0``, the nearer at the original network) cannot be reached by the
    biases of output 1 alone, but ``y2 > y1`` can."""
    net = Network([(np.eye(2), np.zeros(2)), (np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]),
                                               np.array([1.0, 2.0, 0.5]))])  # fmt: skip
    C = np.array([[-1.0, 0.0, 1.0], [0.0, -1.0, 1.0]])  # y2 <= y0 and y2 <= y1 is unsafe
    prop = Property(
        (InputPiece(np.zeros(2), np.ones(2)),), (OutputConjunction(C, np.zeros(2)),), 2, 3
    )
    return net, prop


def test_a_disjunction_falls_back_to_binaries_when_its_chosen_row_cannot_hold() -> None:
    net, prop = three_class_case()
    X = np.array([[0.5, 0.5]])
    data = Dataset({"train": (X, np.array([1]))})
    engine = build(net, [prop], SoftConstraints(np.zeros((0, 2)), np.zeros(0, np.int64)), data)
    engine.objectives = objectives("l1")
    free = FreeParameters.of(net, ["b2.2"])
    synthesiser = engine.synthesiser(free, None)
    assert isinstance(synthesiser, AffineSynthesiser)
    proposal = synthesiser.propose(RoundState([[X[0]]], []))
    assert proposal.status == "found" and synthesiser.exact and proposal.proved_optimal
    assert proposal.offsets is not None
    # y1 = 2 + delta must fall below y2 = 0.5 by the margin: the smallest move
    assert proposal.offsets[0] == pytest.approx(-1.5 - engine.synthesis_margin)
    both = engine.synthesiser(FreeParameters.of(net, ["b2.1", "b2.2"]), None)
    chosen = both.propose(RoundState([[X[0]]], []))
    assert chosen.status == "found" and not chosen.proved_optimal  # a row was chosen
    assert "one row of each disjunction chosen" in chosen.message
    assert chosen.offsets is not None  # y0 = 1 + delta moves: the nearer row, 0.5 + margin
    assert chosen.offsets == pytest.approx([-0.5 - engine.synthesis_margin, 0.0])


# -- warm starts -------------------------------------------------------------------------------


def test_highs_starts_an_lp_from_an_earlier_basis_and_a_milp_from_an_incumbent() -> None:
    """The same optimum as a cold solve, whether the problem grew rows since or not."""
    highs = default_registry().solver("highs")
    rng = np.random.default_rng(0)
    A = rng.normal(size=(60, 20))

    def lp(rows: int, integer: bool = False) -> QueryBuilder:
        builder = QueryBuilder()
        builder.add_vars(20, -5.0, 5.0, integer=integer)
        builder.add_rows(A[:rows], None, -1.0, np.inf)
        return builder

    cost = rng.normal(size=20)
    small = highs.solve(lp(40).build(objective=cost))
    assert small.status == "optimal" and "basis" in small.extra
    cold = highs.solve(lp(60).build(objective=cost))
    warm = highs.solve(lp(60).build(objective=cost, start=WarmStart(basis=small.extra["basis"])))
    assert warm.status == "optimal" and warm.objective == pytest.approx(cold.objective)
    milp = lp(60, integer=True)
    best = highs.solve(milp.build(objective=cost))
    assert best.status == "optimal" and best.values is not None
    started = highs.solve(milp.build(objective=cost, start=WarmStart(values=best.values)))
    assert started.status == "optimal" and started.objective == pytest.approx(best.objective)


@pytest.mark.parametrize("decision", ["argmax", "argmin"])
def test_the_last_layers_rows_keep_as_many_soft_points_as_the_general_milp(decision: str) -> None:
    """Two output weights of the example: the rows over the offsets alone and the MILP over
    the encoded network are both exact, so they keep the same number of soft points (a tenth
    of them labelled against the network, so that not all can be kept)."""
    net, prop, data, _ = example()
    X = data.splits["train"][0][:300]
    labels = decide(net.forward(X), decision)  # type: ignore[arg-type]
    flip = np.random.default_rng(0).random(labels.size) < 0.1
    soft = SoftConstraints(X, np.where(flip, 1 - labels, labels))
    engine = build(net, [prop], soft, data, decision=decision)
    free = FreeParameters.of(net, ["w2.1.7", "w2.2.8"])
    state = RoundState([list(violating_samples(net, prop, 4))], [])
    counts = []
    for synthesiser in (
        AffineSynthesiser(engine.problem(free), engine.solver, [MostKept()]),
        SolverSynthesiser(engine.problem(free), engine.solver, bilinear=False),
    ):
        proposal = synthesiser.propose(state)
        assert proposal.status == "found" and proposal.proved_optimal
        assert proposal.offsets is not None
        values = dict(zip(free.names, free.original + proposal.offsets, strict=True))
        counts.append(engine.outcomes.kept(net.with_parameters(values), []))
    assert counts[0] == counts[1] and counts[0] < soft.count  # the repair costs some
