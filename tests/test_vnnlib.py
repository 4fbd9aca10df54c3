"""VNN-LIB: the benchmark properties parse to what they say, write back equal, bad files fail."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from nnv.core import InputError, InputPiece, OutputConjunction, Property, UnsupportedError
from nnv.core.plugin.registry import default_registry
from nnv.plugins.loaders.vnnlib_format import MAX_DEPTH
from nnv.plugins.loaders.vnnlib_write import write_vnnlib

NNSYNTH_PROPERTIES = [("xor_a", 1), ("xor_b", 1), ("xor_b", 2), ("blobs", 1), ("blobs", 2)]
HEADER = (
    "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
    "(declare-const Y_1 Real)\n"
)
BOX = "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n"


def load(path: Path) -> Property:
    return default_registry().load_property(path)


def parse(tmp_path: Path, text: str, name: str = "prop.vnnlib") -> Property:
    path = tmp_path / name
    path.write_text(text)
    return load(path)


def assert_same(first: Property, second: Property) -> None:
    """Equal as arrays: same pieces and unsafe conjunctions, in the same order."""
    assert (first.n_inputs, first.n_outputs) == (second.n_inputs, second.n_outputs)
    assert len(first.pieces) == len(second.pieces)
    for a, b in zip(first.pieces, second.pieces, strict=True):
        assert np.array_equal(a.lower, b.lower) and np.array_equal(a.upper, b.upper)
        assert (a.A is None) == (b.A is None)
        if a.A is not None:
            assert np.array_equal(a.A, b.A) and np.array_equal(a.b, b.b)
    assert len(first.unsafe_outputs) == len(second.unsafe_outputs)
    for c, d in zip(first.unsafe_outputs, second.unsafe_outputs, strict=True):
        assert np.array_equal(c.C, d.C) and np.array_equal(c.d, d.d)


# -- the benchmark properties ---------------------------------------------------------------


@pytest.mark.parametrize("number", range(1, 11))
def test_acasxu_properties_parse(acasxu: Path, number: int) -> None:
    path = acasxu / f"prop_{number}.vnnlib"
    prop = load(path)
    text = path.read_text()
    assert prop.name == f"prop_{number}" and (prop.n_inputs, prop.n_outputs) == (5, 5)
    # an input disjunct per "(and (<= X" in the file, an output disjunct per "(and (<= Y"
    assert len(prop.pieces) == max(1, text.count("(and (<= X"))
    assert len(prop.unsafe_outputs) == max(1, text.count("(and (<= Y"))
    assert all(piece.is_box for piece in prop.pieces)
    assert all(np.all(piece.lower <= piece.upper) for piece in prop.pieces)


def test_acasxu_property_1(acasxu: Path) -> None:
    prop = load(acasxu / "prop_1.vnnlib")
    (piece,) = prop.pieces
    assert np.array_equal(piece.lower, [0.6, -0.5, -0.5, 0.45, -0.5])
    assert np.array_equal(piece.upper, [0.679857769, 0.5, 0.5, 0.5, -0.45])
    (unsafe,) = prop.unsafe_outputs  # Y_0 >= 3.991125645861615
    assert np.array_equal(unsafe.C, [[-1, 0, 0, 0, 0]])
    assert np.array_equal(unsafe.d, [-3.991125645861615])


def test_acasxu_property_6_has_two_input_boxes(acasxu: Path) -> None:
    prop = load(acasxu / "prop_6.vnnlib")
    assert len(prop.pieces) == 2
    assert np.array_equal(prop.pieces[0].lower[1:3], [0.11140846, -0.499999896])
    assert np.array_equal(prop.pieces[1].upper[1:3], [-0.11140846, -0.499204121])
    # "Y_j <= Y_0" for j = 1..4: COC is not the minimal score
    for j, unsafe in enumerate(prop.unsafe_outputs, start=1):
        expected = np.zeros((1, 5))
        expected[0, 0], expected[0, j] = -1.0, 1.0
        assert np.array_equal(unsafe.C, expected) and np.array_equal(unsafe.d, [0.0])


def test_acasxu_property_7_conjunctions(acasxu: Path) -> None:
    prop = load(acasxu / "prop_7.vnnlib")
    strong_left = prop.unsafe_outputs[0]  # Y_3 <= Y_0, Y_3 <= Y_1, Y_3 <= Y_2
    assert np.array_equal(strong_left.C, [[-1, 0, 0, 1, 0], [0, -1, 0, 1, 0], [0, 0, -1, 1, 0]])
    assert np.array_equal(strong_left.d, np.zeros(3))


@pytest.mark.parametrize(("model", "number"), NNSYNTH_PROPERTIES)
def test_nnsynth_properties_are_the_stated_robustness_boxes(
    nnsynth: Path, model: str, number: int
) -> None:
    """Each file's comment states the box and the class; compare with Property.robustness."""
    path = nnsynth / model / "properties" / f"prop_{number}.vnnlib"
    comment = re.search(r"\[(.+?)\] \+- (\S+) must be classified as class (\d)", path.read_text())
    assert comment is not None
    center = [float(value) for value in comment.group(1).split(",")]
    expected = Property.robustness(center, float(comment.group(2)), int(comment.group(3)), 2)
    assert_same(load(path), expected)


def test_xor_b_property_1(nnsynth: Path) -> None:
    prop = load(nnsynth / "xor_b" / "properties" / "prop_1.vnnlib")
    (piece,) = prop.pieces
    assert np.array_equal(piece.lower, [45, -20]) and np.array_equal(piece.upper, [55, -10])
    (unsafe,) = prop.unsafe_outputs  # Y_0 >= Y_1
    assert np.array_equal(unsafe.C, [[-1, 1]]) and np.array_equal(unsafe.d, [0])


# -- writing back -----------------------------------------------------------------------------


def test_benchmark_properties_write_back_equal(shared: Path, tmp_path: Path) -> None:
    paths = sorted(shared.glob("acasxu/*.vnnlib")) + sorted(shared.glob("nnsynth/*/*/*.vnnlib"))
    assert len(paths) == 15
    for index, path in enumerate(paths):
        prop = load(path)
        write_vnnlib(prop, tmp_path / f"{index}.vnnlib")
        assert_same(load(tmp_path / f"{index}.vnnlib"), prop)


def test_polytopes_and_any_output_write_back_equal(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pieces = (
        InputPiece(
            np.array([-1.0, 0.0, 1e-7]),
            np.array([1.0, 2.5, 3e5]),
            rng.normal(size=(2, 3)),
            rng.normal(size=2),
        ),
        InputPiece(np.array([-3.0, -2.0, -1.0]), np.array([0.1, 0.2, 0.3])),
    )
    unsafe = (
        OutputConjunction(rng.normal(size=(3, 2)), rng.normal(size=3)),
        OutputConjunction(np.zeros((0, 2)), np.zeros(0)),  # every output is unsafe
    )
    prop = Property(pieces, unsafe, n_inputs=3, n_outputs=2, name="mixed")
    write_vnnlib(prop, tmp_path / "mixed.vnnlib")
    assert_same(load(tmp_path / "mixed.vnnlib"), prop)


# -- the grammar ------------------------------------------------------------------------------


def test_linear_terms_numbers_and_strict_comparisons(tmp_path: Path) -> None:
    text = (
        HEADER
        + """
    ; comments anywhere ; even ( unbalanced ones
    (assert (> X_0 -1.5e-1))        (assert (< X_0 2E+1))
    (assert (>= X_1 (- 3)))         (assert (<= X_1 .5))
    (assert (<= (+ (* 2 X_0) (- X_1) 1) (- 4 X_1 X_1 X_0)))
    (assert (or (and (>= (- Y_0 Y_1) 0.25)) (and (<= (* -1 Y_1) (* 0.5 4)) (= Y_0 1))))
    """
    )
    prop = parse(tmp_path, text)
    (piece,) = prop.pieces
    assert np.array_equal(piece.lower, [-0.15, -3.0]) and np.array_equal(piece.upper, [20.0, 0.5])
    assert np.array_equal(piece.A, [[3, 1]]) and np.array_equal(piece.b, [3])  # 3 X_0 + X_1 <= 3
    first, second = prop.unsafe_outputs
    assert np.array_equal(first.C, [[-1, 1]]) and np.array_equal(first.d, [-0.25])
    assert np.array_equal(second.C, [[0, -1], [1, 0], [-1, 0]])
    assert np.array_equal(second.d, [2, 1, -1])


def test_nested_disjunctions_go_to_dnf(tmp_path: Path) -> None:
    text = HEADER + BOX + "(assert (and (or (<= Y_0 1) (<= Y_1 2)) (or (<= Y_0 3) (>= Y_1 4))))"
    prop = parse(tmp_path, text)
    assert [c.d.tolist() for c in prop.unsafe_outputs] == [[1, 3], [1, -4], [2, 3], [2, -4]]


def test_no_output_assert_means_any_output_is_unsafe(tmp_path: Path) -> None:
    (unsafe,) = parse(tmp_path, HEADER + BOX).unsafe_outputs
    assert unsafe.C.shape == (0, 2) and unsafe.holds(np.array([[1e9, -1e9]]))[0]


def test_input_output_disjunctions_that_factor_are_accepted(tmp_path: Path) -> None:
    text = (
        HEADER + "(assert (or (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1) (>= Y_0 1))"
        "            (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1) (>= Y_0 2))))"
    )
    prop = parse(tmp_path, text)
    assert len(prop.pieces) == 1 and [c.d.tolist() for c in prop.unsafe_outputs] == [[-1], [-2]]


@pytest.mark.parametrize("operator", ["and", "or", "+"])
def test_nesting_up_to_the_limit_reads_and_one_level_more_is_refused(
    tmp_path: Path, operator: str
) -> None:
    """The limit (far above the 4 levels of the benchmark files) is on the whole nesting,
    ``(assert ...)`` and the comparison included."""

    def nested(levels: int) -> str:
        inner = levels - 2  # inside (assert (<= ...)) or (assert ...)
        if operator == "+":
            return f"(assert (<= {'(+ ' * inner}X_0{')' * inner} 1))"
        return f"(assert {f'({operator} ' * inner}(<= X_0 1){')' * inner})"

    prop = parse(tmp_path, HEADER + BOX + nested(MAX_DEPTH))
    assert prop.pieces[0].upper.tolist() == [1.0, 1.0]
    with pytest.raises(InputError, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse(tmp_path, HEADER + BOX + nested(MAX_DEPTH + 1))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            HEADER + "(assert (or (and (>= X_0 0) (<= X_0 1) (>= Y_0 1))"
            " (and (>= X_0 2) (<= X_0 3) (>= Y_1 1))))",
            "couples input and output",
        ),
        (HEADER + BOX + "(assert (<= (+ X_0 Y_0) 1))", "mixes inputs X and outputs Y"),
    ],
)
def test_coupled_properties_are_unsupported(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(UnsupportedError, match=fragment):
        parse(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (HEADER + "(assert (<= X_0 1.0)\n", r"bad.vnnlib:5: unbalanced '\('"),
        (HEADER + BOX + "(assert (<= Y_0 1)))", r"bad.vnnlib:9: unbalanced '\)'"),
        (HEADER + BOX + "(assert (max Y_0 Y_1))", "unknown operator 'max'"),
        (HEADER + BOX + "(assert (<= (exp Y_0) 1))", "arithmetic operator 'exp'"),
        (HEADER + BOX + "(assert (<= Y_2 1))", "unknown variable or bad number 'Y_2'"),
        (HEADER + BOX + "(assert (<= Y_0 nan))", "bad number 'nan'"),
        (HEADER + BOX + "(assert (<= (* Y_0 Y_1) 1))", "nonlinear"),
        (HEADER + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (<= X_1 1))", "X_1 needs"),
        (HEADER + BOX + "(check-sat)", "expected \\(declare-const"),
        ("(declare-const Z Real)", "not X_<i> or Y_<j>"),
        ("(declare-const X_1 Real)(assert (>= X_1 0))(assert (<= X_1 1))", "numbered 0, 1, 2"),
        (HEADER + "(assert (and (>= X_0 2) (<= X_0 1) (>= X_1 0) (<= X_1 1)))", "X_0: 2.0 > 1.0"),
    ],
)
def test_malformed_files_are_one_clear_input_error(
    tmp_path: Path, text: str, fragment: str
) -> None:
    with pytest.raises(InputError, match=fragment) as raised:
        parse(tmp_path, text, "bad.vnnlib")
    assert "\n" not in str(raised.value)
