"""Property constructors and membership tests; Dataset loading."""

import numpy as np
import pytest

from nnv.core import Dataset, InputError, InputPiece, OutputConjunction, Property
from nnv.core.model.decision import check_decision, decide, margins


def test_robustness_property_unsafe_set() -> None:
    prop = Property.robustness([0.0, 0.0], 1.0, label=1, n_outputs=3)
    assert prop.in_region(np.array([[0.5, -1.0], [1.5, 0.0]])).tolist() == [True, False]
    # unsafe when some other output is at least the label's (ties included)
    outputs = np.array([[0.0, 1.0, 0.5], [2.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    assert prop.is_unsafe(outputs).tolist() == [False, True, True]


def test_linear_property_bounding_box_and_unsafe_set() -> None:
    A_in = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1], [1, 1]])
    b_in = np.array([1.0, 1, 1, 1, 1])
    prop = Property.linear(A_in, b_in, A_out=np.array([[1.0, -1.0]]), b_out=np.array([0.5]))
    lower, upper = prop.bounding_box()
    assert np.allclose(lower, [-1, -1]) and np.allclose(upper, [1, 1])
    assert prop.in_region(np.array([[0.9, 0.9], [0.5, 0.4]])).tolist() == [False, True]
    assert prop.is_unsafe(np.array([[1.0, 0.0], [0.2, 0.0]])).tolist() == [True, False]


def test_unbounded_linear_property_is_rejected() -> None:
    with pytest.raises(InputError, match="bounded"):
        Property.linear(np.array([[1.0]]), np.array([1.0]), np.array([[1.0]]), np.array([0.0]))


def test_dimension_mismatch_is_reported() -> None:
    prop = Property.robustness([0.0, 0.0], 1.0, label=0, n_outputs=2)
    with pytest.raises(InputError, match="2 inputs and 2 outputs"):
        prop.check_fits(3, 2)


def test_dataset_npz_and_csv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 1, 0, 1, 1, 0])
    Dataset({"train": (X[:4], y[:4]), "test": (X[4:], y[4:])}).save_npz(tmp_path / "d.npz")
    loaded = Dataset.load(tmp_path / "d.npz")
    assert np.array_equal(loaded.splits["test"][0], X[4:]) and loaded.n_features == 2
    rows = ["x1,x2,label,split"] + [
        f"{a},{b},{c},{'train' if i < 4 else 'test'}"
        for i, ((a, b), c) in enumerate(zip(X, y, strict=True))
    ]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    from_csv = Dataset.load(tmp_path / "d.csv")
    assert np.array_equal(from_csv.splits["train"][1], y[:4])
    with pytest.raises(InputError):
        Dataset.load(tmp_path / "missing.npz")


def test_argmin_classification_forbids_smaller_other_outputs() -> None:
    prop = Property.robustness([0.0], 1.0, label=1, n_outputs=3, decision="argmin")
    outputs = np.array([[2.0, 1.0, 3.0], [0.5, 1.0, 3.0], [2.0, 1.0, 1.0]])
    # safe only when output 1 is strictly the smallest (a tie counts as a violation)
    assert prop.is_unsafe(outputs).tolist() == [False, True, True]
    assert prop.allowed_classes("argmin") == {1} and prop.label == 1


def test_allowed_classes_of_several_classes_round_trip() -> None:
    piece = InputPiece(np.zeros(2), np.ones(2))
    for decision in ("argmax", "argmin"):
        prop = Property.decided_as(piece, [0, 1], 5, decision=decision)
        assert prop.allowed_classes(decision) == {0, 1}
        # one disjunct per forbidden class, so the other rule reads no classes from it
        other = "argmin" if decision == "argmax" else "argmax"
        assert len(prop.unsafe_outputs) == 3 and prop.allowed_classes(other) is None
        rng = np.random.default_rng(0)
        outputs = rng.normal(size=(2000, 5))
        decided = np.argmax(outputs if decision == "argmax" else -outputs, axis=1)
        np.testing.assert_array_equal(prop.is_unsafe(outputs), decided >= 2)


def test_allowed_classes_are_none_for_other_output_conditions() -> None:
    piece = InputPiece(np.zeros(1), np.ones(1))
    # a score bound (ACAS Xu property 1's form) says nothing about the decision
    bound = Property(
        (piece,), (OutputConjunction(np.array([[-1.0, 0.0]]), np.array([-4.0])),), 1, 2
    )
    assert bound.allowed_classes("argmax") is None and bound.allowed_classes("argmin") is None
    # "class 2 beats class 0" alone leaves class 1 neither allowed nor forbidden
    partial = Property(
        (piece,), (OutputConjunction(np.array([[1.0, 0.0, -1.0]]), np.zeros(1)),), 1, 3
    )
    assert partial.allowed_classes("argmax") is None
    # a negative bound makes the unsafe set smaller than "the decision is not allowed"
    strict = Property((piece,), (OutputConjunction(np.array([[1.0, -1.0]]), -np.ones(1)),), 1, 2)
    assert strict.allowed_classes("argmax") is None


def test_allowed_classes_of_the_acasxu_and_paper_properties(acasxu, nnsynth) -> None:  # type: ignore[no-untyped-def]
    p8 = Property.from_vnnlib(str(acasxu / "prop_8.vnnlib"))
    assert p8.allowed_classes("argmin") == {0, 1}  # COC or WL
    assert p8.allowed_classes("argmax") is None
    p7 = Property.from_vnnlib(str(acasxu / "prop_7.vnnlib"))
    assert p7.allowed_classes("argmin") == {0, 1, 2}  # never strong left or strong right
    p2 = Property.from_vnnlib(str(acasxu / "prop_2.vnnlib"))
    assert p2.allowed_classes("argmax") == {1, 2, 3, 4} and p2.allowed_classes("argmin") is None
    p1 = Property.from_vnnlib(str(acasxu / "prop_1.vnnlib"))
    assert p1.allowed_classes("argmin") is None
    xor = Property.from_vnnlib(str(nnsynth / "xor_b" / "properties" / "prop_1.vnnlib"))
    assert xor.allowed_classes("argmax") == {1}


def test_decision_rules_and_bad_names() -> None:
    outputs = np.array([[0.2, -1.0, 3.0], [1.0, 1.0, 0.0]])
    assert decide(outputs, "argmax").tolist() == [2, 0]
    assert decide(outputs, "argmin").tolist() == [1, 2]
    np.testing.assert_allclose(margins(outputs, np.array([2, 2]), "argmin"), [-4.0, 1.0])
    with pytest.raises(InputError, match="decision must be one of argmax, argmin"):
        check_decision("max")
