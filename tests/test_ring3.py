"""The ring-like 3-class example (examples/ring3, from examples/make_ring3.py): the committed
files are what the docs say (a good 3-class network that violates its property), and the
repair docs/repair.md shows is found and certified."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nnv
from nnv.core.model.dataset import Dataset

RING3 = Path(__file__).resolve().parent.parent / "examples" / "ring3"


@pytest.fixture(scope="module")
def ring3() -> tuple[nnv.Network, nnv.Property, Dataset]:
    if not (RING3 / "network.onnx").is_file():
        pytest.fail(f"{RING3} is missing: run `python examples/make_ring3.py` and commit it")
    network = nnv.load_network(RING3 / "network.onnx")
    prop = nnv.load_property(RING3 / "robust_violated.vnnlib")
    return network, prop, Dataset.load(RING3 / "data.npz")


def test_the_network_classifies_three_rings_and_violates_its_box(ring3) -> None:
    network, prop, data = ring3
    assert (network.n_inputs, network.n_outputs) == (2, 3)
    for split in ("train", "test"):
        X, y = data.splits[split]
        assert set(np.unique(y)) == {0, 1, 2}
        assert np.mean(network.predict(X) == y) > 0.99
    checked = nnv.verify(network, prop)
    assert checked.status == "sat"
    point = checked.counterexample
    assert point is not None and prop.in_region(point[None, :], tol=1e-9)[0]
    assert network.predict(point[None, :])[0] != 1  # the box must be class 1


def test_one_last_layer_weight_repairs_it_with_a_certificate(ring3) -> None:
    network, prop, data = ring3
    fixed = nnv.repair(network, [prop], data, free=["w2.1.11"], workers=1)
    assert fixed.status == "repaired" and fixed.certificate is not None
    assert fixed.network is not None
    assert nnv.verify(fixed.network, prop, solver="cvc5").status == "unsat"
    assert fixed.accuracy["weighted"] > 0.99
