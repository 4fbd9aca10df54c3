"""Network: forward pass, parameter addresses (the paper's 1-based names), immutability."""

import numpy as np
import pytest
from conftest import random_network

from nnv.core import InputError, Network, ParameterAddress


def test_forward_matches_hand_computation() -> None:
    net = Network([([[1.0, -1.0], [2.0, 0.5]], [0.0, -1.0]), ([[1.0, 1.0]], [0.5])])
    # x = (1, 2): z1 = (-1, 2) -> a1 = (0, 2) -> y = 2.5
    assert net.forward([1.0, 2.0]).tolist() == [2.5]
    assert net.forward(np.array([[1.0, 2.0], [0.0, 0.0]])).tolist() == [[2.5], [0.5]]


def test_addresses_are_one_based_as_in_the_paper() -> None:
    net = random_network(np.random.default_rng(0), (2, 4, 2))
    addresses = [str(a) for a in net.parameter_addresses()]
    assert addresses[:3] == ["w1.1.1", "w1.1.2", "w1.2.1"]
    assert "b1.4" in addresses and "w2.2.4" in addresses and "b2.2" in addresses
    assert len(addresses) == net.n_parameters == 22
    assert [str(a) for a in net.parameter_addresses(layers=[2])][:2] == ["w2.1.1", "w2.1.2"]
    assert net.parameter("w1.2.1") == net.layers[0].weight[1, 0]
    assert net.parameter("b2.2") == net.layers[1].bias[1]


def test_with_parameters_returns_a_new_network() -> None:
    net = random_network(np.random.default_rng(1), (2, 3, 2))
    changed = net.with_parameters({"w1.1.2": 5.0, "b2.1": -1.0})
    assert changed.parameter("w1.1.2") == 5.0 and changed.parameter("b2.1") == -1.0
    assert net.parameter("w1.1.2") != 5.0
    assert changed != net and net.with_parameters({}) == net
    with pytest.raises(ValueError):
        net.layers[0].weight[0, 0] = 1.0  # frozen arrays


@pytest.mark.parametrize("bad", ["w0.1.1", "x1.1", "w1.1", "b1.1.1", "w3.1.1", "w1.9.1", "b1.4"])
def test_bad_addresses_are_rejected(bad: str) -> None:
    net = random_network(np.random.default_rng(2), (2, 3, 2))
    with pytest.raises(InputError):
        net.resolve(bad)


def test_address_round_trip() -> None:
    assert str(ParameterAddress.parse("w3.2.10")) == "w3.2.10"
    assert ParameterAddress.parse("b1.1").is_bias


@pytest.mark.parametrize(
    "layers",
    [
        [([[np.nan, 1.0]], [0.0])],
        [([[np.inf, 1.0]], [0.0])],
        [([[1.0, 1.0]], [0.0, 1.0])],
        [([[1.0, 1.0]], [0.0]), ([[1.0, 1.0]], [0.0])],
        [],
    ],
)
def test_invalid_networks_are_rejected(layers: list) -> None:
    with pytest.raises(InputError):
        Network(layers)


def test_predict_by_either_decision_rule() -> None:
    net = Network([([[1.0], [-1.0], [0.0]], [0.0, 0.0, 0.5])])
    X = np.array([[2.0], [-2.0], [0.1]])
    # outputs (2, -2, .5), (-2, 2, .5), (.1, -.1, .5)
    assert net.predict(X).tolist() == [0, 1, 2]
    assert net.predict(X, decision="argmin").tolist() == [1, 0, 1]
