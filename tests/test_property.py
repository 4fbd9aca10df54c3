"""Property constructors and membership tests; Dataset loading."""

import numpy as np
import pytest

from nnv.core import Dataset, InputError, Property


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
