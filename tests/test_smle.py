"""SMLE's pieces against known answers, brute force and scipy: searches, projections, export."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from nnv.core import InputError  # noqa: E402
from nnv.core.plugin.registry import default_registry
from nnv.plugins.smle.arff import read_arff  # noqa: E402
from nnv.plugins.smle.baselines import PostprocessTrainer, PreprocessTrainer  # noqa: E402
from nnv.plugins.smle.certify import certify, embedding_network, prove, run_onnx  # noqa: E402
from nnv.plugins.smle.embedding import Box  # noqa: E402
from nnv.plugins.smle.exclusion import ExclusionGrounding, map_labels  # noqa: E402
from nnv.plugins.smle.export import export_smle  # noqa: E402
from nnv.plugins.smle.graph import Exported, NotSmle, read_exported  # noqa: E402
from nnv.plugins.smle.grounding import (  # noqa: E402
    CERTIFY_MARGIN,
    PROJECTION_MARGIN,
    SEARCH_MARGIN,
    Head,
)
from nnv.plugins.smle.least_distance import least_distance  # noqa: E402
from nnv.plugins.smle.linear import LinearGrounding, project_points  # noqa: E402
from nnv.plugins.smle.model import SmleNet  # noqa: E402
from nnv.plugins.smle.options import BaselineOptions, SmleOptions  # noqa: E402
from nnv.plugins.smle.spec import (  # noqa: E402
    LinearInequalities,
    MutualExclusion,
    Region,
    load_spec,
)

HIGHS = default_registry().solver("highs")


def constant_box(k: int, d: int = 1) -> Box:
    return Box(np.zeros((k, d)), -np.ones(k), np.zeros((k, d)), np.ones(k))


def square(size: float = 1.0) -> Region:
    """The box ``|x_i| <= size`` in two dimensions."""
    return Region.polytope(np.vstack([np.eye(2), -np.eye(2)]), np.full(4, size))


# -- counterexample searches --------------------------------------------------------------


def test_linear_search_finds_the_worst_violation_and_nothing_for_a_safe_head() -> None:
    spec = LinearInequalities(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.5, 2.0]), None)
    grounding = LinearGrounding(spec, HIGHS)
    found = grounding.counterexample(Head(np.eye(2), np.zeros(2)), constant_box(2))
    assert found is not None
    assert found.y[0] == pytest.approx(1.0)  # y_1 = 1 breaks y_1 <= 0.5 by 0.5
    assert found.violation == pytest.approx(0.5 + SEARCH_MARGIN, abs=1e-6)
    assert grounding.counterexample(Head(0.2 * np.eye(2), np.zeros(2)), constant_box(2)) is None


def test_linear_search_follows_clip_when_the_lower_bound_passes_the_upper() -> None:
    """l(x) = x, u(x) = 0.5 on x in [-1, 1]: for x > 0.5 clip gives y = l(x) = x, up to 1."""
    region = Region.polytope(np.array([[1.0], [-1.0]]), np.ones(2))
    box = Box(np.array([[1.0]]), np.zeros(1), np.zeros((1, 1)), np.array([0.5]))
    spec = LinearInequalities(np.array([[1.0]]), np.array([0.75]), region)
    found = LinearGrounding(spec, HIGHS).counterexample(Head(np.eye(1), np.zeros(1)), box)
    assert found is not None and found.x is not None
    assert found.y[0] == pytest.approx(1.0) and found.x[0] == pytest.approx(1.0)
    x = found.x[0]
    assert max(min(123.0, 0.5), x) == pytest.approx(found.y[0])  # what clip really gives


def test_exclusion_search_finds_both_labels_on_and_nothing_when_they_cannot_be() -> None:
    spec = MutualExclusion(np.array([[0, 1]]), 3, None)
    grounding = ExclusionGrounding(spec, HIGHS)
    found = grounding.counterexample(Head(np.eye(3)[:, :2], np.zeros(3)), constant_box(2))
    assert found is not None
    assert found.violation == pytest.approx(1.0 + SEARCH_MARGIN, abs=1e-6)
    assert np.allclose(found.y, [1.0, 1.0])
    exclusive = Head(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]), np.array([-0.5, -0.5, 0.0]))
    assert grounding.counterexample(exclusive, constant_box(2)) is None


# -- projections --------------------------------------------------------------------------


def test_linear_projection_meets_its_constraints_and_is_the_nearest_head() -> None:
    rng = np.random.default_rng(3)
    A, b = rng.normal(size=(2, 2)), np.array([0.3, -0.2])
    spec = LinearInequalities(A, b, None)
    head = Head(rng.normal(size=(2, 3)), rng.normal(size=2))
    pool = rng.uniform(-1, 1, size=(3, 3))
    projected = LinearGrounding(spec, HIGHS).project(head, pool)
    assert np.all(A @ projected(pool).T <= (b - PROJECTION_MARGIN)[:, None] + 1e-7)

    start, margin = head.vector(), PROJECTION_MARGIN

    def outputs(v: np.ndarray) -> np.ndarray:
        return Head.from_vector(v, 2, 3)(pool)

    reference = minimize(
        lambda v: np.sum((v - start) ** 2),
        start,
        jac=lambda v: 2 * (v - start),
        constraints=[{"type": "ineq", "fun": lambda v: (b - margin - outputs(v) @ A.T).ravel()}],
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 500},
    )
    assert reference.success
    distance = np.sum((projected.vector() - start) ** 2)
    assert distance == pytest.approx(reference.fun, rel=1e-5, abs=1e-9)


def test_least_distance_matches_scipy_and_knows_empty_polyhedra() -> None:
    rng = np.random.default_rng(5)
    G, s = rng.normal(size=(6, 4)), rng.normal(size=6) - 1.0
    d = least_distance(G, s)
    assert d is not None and np.all(G @ d <= s + 1e-10)
    reference = minimize(
        lambda v: v @ v,
        np.zeros(4),
        jac=lambda v: 2 * v,
        constraints=[{"type": "ineq", "fun": lambda v: s - G @ v}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert d @ d == pytest.approx(reference.fun, rel=1e-6)
    assert least_distance(np.array([[1.0], [-1.0]]), np.array([-1.0, -1.0])) is None


def test_project_points_is_the_euclidean_projection() -> None:
    spec = LinearInequalities(np.array([[1.0, 1.0], [-1.0, 0.0]]), np.array([1.0, 0.0]), None)
    Y = np.array([[2.0, 2.0], [0.2, 0.3], [-1.0, 0.5]])
    projected = project_points(spec, Y, HIGHS)
    assert np.allclose(projected, [[0.5, 0.5], [0.2, 0.3], [0.0, 0.5]], atol=1e-4)
    assert not spec.violated(projected).any()


def test_exclusion_projection_is_the_exact_l1_optimum() -> None:
    """Against brute force: every choice of the disjunctions, each an L1 LP (scipy)."""
    rng = np.random.default_rng(11)
    m, k = 3, 2
    spec = MutualExclusion(np.array([[0, 1], [1, 2]]), m, None)
    head = Head(rng.normal(size=(m, k)), np.array([0.6, 0.5, 0.4]))
    pool = rng.uniform(-1, 1, size=(2, k))
    projected = ExclusionGrounding(spec, HIGHS).project(head, pool)
    logits = projected(pool)
    both = np.minimum(logits[:, spec.pairs[:, 0]], logits[:, spec.pairs[:, 1]])
    assert np.all(both <= -PROJECTION_MARGIN + 1e-7)
    found = np.abs(projected.vector() - head.vector()).sum()

    n = m * k + m
    start = head.vector()
    cases = [(s, p) for s in range(pool.shape[0]) for p in range(spec.pairs.shape[0])]
    best = np.inf
    for choice in itertools.product((0, 1), repeat=len(cases)):
        rows = []
        for (s, p), side in zip(cases, choice, strict=True):
            label = spec.pairs[p, side]
            row = np.zeros(n)
            row[label * k : label * k + k] = pool[s]
            row[m * k + label] = 1.0
            rows.append(row)
        # variables [v, d]: min sum d, d >= v - start, d >= start - v, rows v <= -margin
        R = np.array(rows)
        A_ub = np.block(
            [
                [R, np.zeros((len(rows), n))],
                [np.eye(n), -np.eye(n)],
                [-np.eye(n), -np.eye(n)],
            ]
        )
        b_ub = np.concatenate([np.full(len(rows), -PROJECTION_MARGIN), start, -start])
        cost = np.concatenate([np.zeros(n), np.ones(n)])
        result = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=[(None, None)] * (2 * n))
        if result.status == 0:
            best = min(best, result.fun)
    assert found == pytest.approx(best, rel=1e-6, abs=1e-8)


def test_map_labels_is_the_best_consistent_labelling() -> None:
    rng = np.random.default_rng(2)
    spec = MutualExclusion(np.array([[0, 1], [1, 2], [0, 3]]), 4, None)
    scores = rng.normal(size=(20, 4))
    labels = map_labels(spec, scores, HIGHS)
    assert not (spec.predicted_pairs(2 * labels - 1) > 0).any()
    options = np.array(list(itertools.product((0, 1), repeat=4)), dtype=float)
    consistent = options[spec.predicted_pairs(2 * options - 1) == 0]
    best = (scores @ consistent.T).max(axis=1)
    assert np.allclose(np.sum(scores * labels, axis=1), best)


# -- properties, data -----------------------------------------------------------------------


def test_exclusion_from_labels_forbids_the_rarest_pairs() -> None:
    Y = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 0, 1]])  # pair counts 2, 1, 0
    assert MutualExclusion.from_labels(Y, 0.0).pairs.tolist() == [[1, 2]]
    assert MutualExclusion.from_labels(Y, 0.5).pairs.tolist() == [[0, 2], [1, 2]]
    with pytest.raises(InputError):
        MutualExclusion.from_labels(Y, 1.5)


def test_arff_reader_encodes_nominals_and_finds_the_labels(tmp_path: Path) -> None:
    path = tmp_path / "tiny.arff"
    path.write_text(
        "@relation 'tiny: -C -2'\n"
        "@attribute size numeric\n"
        "@attribute colour {red,green,blue}\n"
        "@attribute sex {F,M}\n"
        "@attribute a {0,1}\n"
        "@attribute b {0,1}\n"
        "@data\n"
        "1.5,green,M,1,0\n"
        "% a comment\n"
        "-2,red,F,0,1\n"
    )
    X, Y, names = read_arff(path)
    assert X.tolist() == [[1.5, 0, 1, 0, 1], [-2, 1, 0, 0, 0]]
    assert Y.tolist() == [[1, 0], [0, 1]] and names == ["a", "b"]
    path.write_text("@relation 'tiny: -C -1'\n@attribute a {0,1}\n@data\n1\n")
    with pytest.raises(InputError, match="label count"):
        read_arff(path)
    header = "@relation 'tiny: -C -1'\n@attribute x numeric\n@attribute a {0,1}\n"
    for body, message in (("", "no @data"), ("@data\n{0 1, 1 1}\n", "dense"),
                          ("@data\n?,1\n", "missing")):
        path.write_text(header + body)
        with pytest.raises(InputError, match=message):
            read_arff(path)


def test_property_files_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('[{"name": "P1", "input": {"A": [[1, 0]], "b": [1]}, "output": '
                    '{"A": [[1]], "b": [0]}}]')
    with pytest.raises(InputError, match="bounded"):
        load_spec(path, "P1")
    with pytest.raises(InputError, match="no property named"):
        load_spec(path, "P9")
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_spec(path)


# -- export and certificate ---------------------------------------------------------------


@pytest.mark.parametrize("box", ["unit", "constant", "linear"])
def test_onnx_export_reproduces_the_model_and_gives_back_its_parts(box: str) -> None:
    import torch

    torch.manual_seed(0)
    region = square(0.5)
    model = SmleNet(2, 3, [5, 4], box, region, shift=np.array([0.1, -0.2]), scale=np.ones(2))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    X = np.random.default_rng(0).uniform(-1, 1, size=(500, 2))
    exported = export_smle(model, "float64")
    assert np.allclose(run_onnx(exported, X), model.predict(X), rtol=0, atol=1e-12)
    parts = read_exported(exported)
    assert parts.precision == "float64"
    assert np.array_equal(parts.head.W, model.head_value().W)
    assert np.array_equal(parts.box.L, model.box_value().L)
    assert np.array_equal(parts.box.u0, model.box_value().u0)
    assert parts.region is not None and np.array_equal(parts.region[1], region.b)
    assert np.array_equal(parts.box.l0, model.box_value().l0)
    # float32 (the default): every tensor float32, the parts read back as the rounded values
    import onnx

    single = export_smle(model)
    # every float tensor (the Unsqueeze axes are int64 indices)
    floats = {t.data_type for t in single.graph.initializer} - {onnx.TensorProto.INT64}
    assert floats == {onnx.TensorProto.FLOAT}
    assert single.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    inputs = X.astype(np.float32).astype(np.float64)
    assert np.allclose(run_onnx(single, inputs), model.predict(inputs), rtol=0, atol=1e-5)
    parts = read_exported(single)
    assert parts.precision == "float32"
    assert np.array_equal(parts.head.W, model.head_value().W.astype(np.float32))
    assert np.array_equal(parts.box.u0, model.box_value().u0.astype(np.float32))


def test_unit_box_computes_the_same_function_and_proves_more() -> None:
    """The last ReLU keeps h >= 0, so clipping to [0, 1] or to [-1, 1] is the same model; only
    the overapproximation shrinks, and a head safe on [0, 1]^k but not on [-1, 1]^k passes."""
    import torch

    torch.manual_seed(1)
    unit = SmleNet(2, 2, [6, 3], "unit")
    paper = SmleNet(2, 2, [6, 3], "constant")
    weights = {k: v for k, v in unit.state_dict().items() if not k.startswith(("lower", "upper"))}
    paper.load_state_dict(weights, strict=False)
    assert paper.box_value().l0.tolist() == [-1.0] * 3
    X = np.random.default_rng(1).normal(size=(400, 2)) * 3
    assert np.array_equal(unit.predict(X), paper.predict(X))
    spec = LinearInequalities(np.eye(2), np.full(2, 3.01), None)
    head = Head(np.ones((2, 3)), np.zeros(2))  # at most 3 on [0, 1]^3 and on [-1, 1]^3
    grounding = LinearGrounding(spec, HIGHS)
    assert grounding.counterexample(head, unit.box_value()) is None
    shifted = Head(head.W, np.full(2, 0.5))  # 3.5 > 3.01 at y = 1 in either box
    assert grounding.counterexample(shifted, unit.box_value()) is not None
    flipped = Head(-head.W, np.full(2, 2.5))  # 2.5 at most on [0, 1]^3, 5.5 at y = -1
    assert grounding.counterexample(flipped, paper.box_value()) is not None
    assert grounding.counterexample(flipped, unit.box_value()) is None


def test_certificate_checks_the_file_and_catches_a_tampered_head() -> None:
    import onnx
    from onnx import numpy_helper

    region = square()
    spec = LinearInequalities(np.array([[1.0, 1.0]]), np.array([1.0]), region)
    model = SmleNet(2, 2, [3], "constant", region)
    model.set_head(Head(np.full((2, 3), 0.1), np.zeros(2)))  # |y| <= 1: sums to at most 0.6
    exported = export_smle(model)
    box = (-np.ones(2), np.ones(2))
    good = certify(exported, spec, HIGHS, 2000, box)
    assert good.certified and good.proof.holds and good.samples.violations == 0
    tampered = onnx.ModelProto()
    tampered.CopyFrom(exported)
    for index, tensor in enumerate(tampered.graph.initializer):
        if tensor.name == "head.bias":
            tampered.graph.initializer[index].CopyFrom(
                numpy_helper.from_array(np.array([0.3, 0.3], np.float32), "head.bias")
            )
    bad = certify(tampered, spec, HIGHS, 2000, box)
    assert not bad.certified and not bad.proof.holds


def test_the_certificate_network_is_the_head_over_the_clip_and_agrees_with_the_search() -> None:
    """Core's verifier on :func:`embedding_network` decides what the training search decides:
    the network computes ``g(max(min(e, u(x)), l(x)))`` on (x, e), and on random heads, boxes
    and properties (both kinds, both verdicts) the two agree."""
    rng = np.random.default_rng(0)
    region = Region.polytope(np.vstack([np.eye(2), -np.eye(2), [[1.0, 1.0]]]),
                             np.array([1.0, 1.0, 1.0, 1.0, 1.2]))
    verdicts = set()
    for trial in range(32):
        if trial % 2 == 0:
            box = Box(rng.normal(size=(3, 2)) / 2, rng.normal(size=3) / 3 - 0.5,
                      rng.normal(size=(3, 2)) / 2, rng.normal(size=3) / 3 + 0.5)
        else:
            box = Box(np.zeros((3, 2)), np.zeros(3), np.zeros((3, 2)), np.ones(3))
        head = Head(rng.normal(size=(3, 3)), rng.normal(size=3))
        if trial % 4 < 2:
            spec = LinearInequalities(rng.normal(size=(2, 3)), rng.normal(size=2) + 1.5, region)
            search = LinearGrounding(spec, HIGHS).counterexample(head, box, CERTIFY_MARGIN)
        else:
            spec = MutualExclusion(np.array([[0, 1], [1, 2]]), 3, region)
            head = Head(head.W, head.w - 2.0)
            search = ExclusionGrounding(spec, HIGHS).counterexample(head, box, CERTIFY_MARGIN)
        proof = prove(Exported(head, box, None), spec, HIGHS)
        assert proof.holds == (search is None), trial
        verdicts.add(proof.holds)
        network, piece = embedding_network(head, box, region)
        points = rng.uniform(piece.lower, piece.upper, size=(100, piece.dimension))
        if box.is_constant:
            assert np.allclose(network.forward(points), head(points), rtol=0, atol=1e-12)
            continue
        x, e = points[:, :2], points[:, 2:]
        clipped = np.maximum(np.minimum(e, x @ box.U.T + box.u0), x @ box.L.T + box.l0)
        assert np.allclose(network.forward(points), head(clipped), rtol=0, atol=1e-12)
    assert verdicts == {True, False}


def differences(n: int = 4, bound: float = 1.0) -> LinearInequalities:
    """``|y[i+1] - y[i]| <= bound`` for every input: every row of A sums to zero."""
    rows = [row for i in range(n - 1) for row in (np.eye(n)[i + 1] - np.eye(n)[i],
                                                   np.eye(n)[i] - np.eye(n)[i + 1])]
    return LinearInequalities(np.array(rows), np.full(2 * (n - 1), bound), None)


@pytest.mark.parametrize("region", [None, square(0.5)])
def test_a_level_is_exported_reproduced_and_read_back(region: Region | None) -> None:
    import torch

    torch.manual_seed(2)
    model = SmleNet(2, 3, [5, 4], "linear", region, shift=np.array([0.3, 0.0]),
                    scale=np.array([2.0, 1.0]), level=1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    X = np.random.default_rng(2).uniform(-3, 3, size=(500, 2))
    exported = export_smle(model, "float64")
    outputs = run_onnx(exported, X)
    assert np.allclose(outputs, model.predict(X), rtol=0, atol=1e-12)
    assert [n.op_type for n in exported.graph.node][-2:] == ["Add", "Identity"]
    parts = read_exported(exported)
    assert parts.level == 1 and np.array_equal(parts.head.W, model.head_value().W)
    assert np.array_equal(parts.box.U, model.box_value().U)
    assert (parts.region is None) == (region is None)
    assert read_exported(export_smle(SmleNet(2, 3, [4], region=region))).level is None


def test_baselines_take_the_level_too() -> None:
    rng = np.random.default_rng(3)
    X = np.cumsum(rng.normal(size=(300, 4)), axis=1) + rng.uniform(-50, 50, size=(300, 1))
    Y = X[:, 3:] + np.cumsum(0.1 * rng.normal(size=(300, 2)), axis=1)
    options = {"epochs": 5, "widths": [6], "learning_rate": 0.01}
    pre = PreprocessTrainer(BaselineOptions(**options)).fit(X, Y, differences(2, 0.5), level=3)
    exported = pre.export("float64")
    assert [n.op_type for n in exported.graph.node][:3] == ["MatMul", "MatMul", "Gemm"]
    assert np.allclose(run_onnx(exported, X), pre.predict(X), rtol=0, atol=1e-12)
    # standardised on the de-levelled inputs: the level column itself is all zeros there
    assert pre.model_.shift[3] == 0.0 and pre.model_.scale[3] == 1.0


def test_a_levelled_model_is_certified_only_for_shift_invariant_properties() -> None:
    import onnx
    from onnx import helper, numpy_helper

    model = SmleNet(3, 4, [3], "unit", level=2)
    model.set_head(Head(np.full((4, 3), 0.1), np.zeros(4)))  # equal outputs: no difference
    exported = export_smle(model, "float64")
    box = (-np.full(3, 50.0), np.full(3, 50.0))
    good = certify(exported, differences(4, 0.5), HIGHS, 2000, box)
    assert good.certified and good.proof.level == 2 and "level" in good.text
    # in float32, adding an unbounded input to every output rounds by an unbounded amount
    single = certify(export_smle(model), differences(4, 0.5), HIGHS, 2000, box)
    assert not single.certified and single.proof is None
    assert "float32 rounding of the file's outputs is not bounded" in single.text
    # the same file, for a property a shift of every output can break: no proof
    bounded = LinearInequalities(np.eye(4), np.full(4, 1.0), None)
    bad = certify(exported, bounded, HIGHS, 2000, box)
    assert not bad.certified and bad.proof is None
    assert "not invariant to that shift" in bad.text

    # a certified level-free model, tampered with a level added to its output
    region = square()
    spec = LinearInequalities(np.array([[1.0, 1.0]]), np.array([1.0]), region)
    plain = SmleNet(2, 2, [3], "constant", region)
    plain.set_head(Head(np.full((2, 3), 0.1), np.zeros(2)))
    original = export_smle(plain)
    assert certify(original, spec, HIGHS, 2000, (-np.ones(2), np.ones(2))).certified
    tampered = onnx.ModelProto()
    tampered.CopyFrom(original)
    graph = tampered.graph
    last = graph.node[-1]  # Identity(core) -> Y
    one_hot = np.array([[1.0], [0.0]], np.float32)
    graph.initializer.append(numpy_helper.from_array(one_hot, "column"))
    graph.node.insert(len(graph.node) - 1, helper.make_node("MatMul", ["X", "column"], ["lv"]))
    graph.node.insert(len(graph.node) - 1, helper.make_node("Add", [last.input[0], "lv"],
                                                            ["moved"]))
    last.input[0] = "moved"
    onnx.checker.check_model(tampered)
    assert read_exported(tampered).level == 0
    verdict = certify(tampered, spec, HIGHS, 2000, (-np.ones(2), np.ones(2)))
    assert not verdict.certified and verdict.proof is None
    # a level that is not one column of X (a mix of two) is no SMLE graph
    for index, tensor in enumerate(graph.initializer):
        if tensor.name == "column":
            mixed = numpy_helper.from_array(np.array([[1.0], [0.5]], np.float32), "column")
            graph.initializer[index].CopyFrom(mixed)
    with pytest.raises(NotSmle, match="one-hot"):
        read_exported(tampered)


def test_a_level_needs_a_shift_invariant_property() -> None:
    from nnv.plugins.smle.trainer import SmleTrainer

    X = np.random.default_rng(0).normal(size=(40, 3))
    Y = X[:, :2] + 0.1
    with pytest.raises(InputError, match="invariant to shifting every output"):
        SmleTrainer(SmleOptions(epochs=1)).fit(
            X, Y, LinearInequalities(np.eye(2), np.ones(2), None), level=2
        )
    with pytest.raises(InputError, match="invariant to shifting every output"):
        PreprocessTrainer(BaselineOptions(epochs=1)).fit(
            X, Y, LinearInequalities(np.eye(2), np.ones(2), None), level=2
        )
    with pytest.raises(InputError, match="input column"):
        SmleTrainer(SmleOptions(epochs=1)).fit(X, Y, differences(2), level=3)


# -- baselines ------------------------------------------------------------------------------


def test_baselines_project_targets_or_predictions() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(200, 2))
    Y = np.column_stack([X.sum(axis=1), X[:, 0] - X[:, 1]])
    spec = LinearInequalities(np.array([[1.0, 0.0]]), np.array([0.2]), square())
    options = {"epochs": 40, "widths": [8], "learning_rate": 0.02, "patience": 40}
    post = PostprocessTrainer(BaselineOptions(**options)).fit(X, Y, spec)
    assert not spec.violated(post.predict(X)).any()
    assert spec.violated(post.network_outputs(X)).any()  # the network alone is not safe
    pre = PreprocessTrainer(BaselineOptions(**options)).fit(X, Y, spec)
    assert pre.predict(X).shape == Y.shape
