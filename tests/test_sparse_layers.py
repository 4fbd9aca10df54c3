"""Sparse layers: a network whose weights are scipy.sparse CSR arrays computes, bounds,
encodes and falsifies exactly as the same network with dense weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import random_network

from nnv.core import InputPiece, Network, Property, UnsupportedError
from nnv.core.bounds.batched import batch_bounds
from nnv.core.bounds.symbolic import interval_bounds, output_lower_bounds, symbolic_bounds
from nnv.core.plugin.registry import default_registry
from nnv.core.verify.falsify import _margin_gradient, attack
from nnv.core.verify.verifier import Verifier


def sparse_copy(network: Network) -> Network:
    return Network([(sp.csr_array(layer.dense()), layer.bias) for layer in network.layers])


def thinned(rng: np.random.Generator, shape: tuple[int, ...]) -> Network:
    """A random network with most weights zero, as a convolution's."""
    dense = random_network(rng, shape)
    layers = []
    for layer in dense.layers:
        keep = rng.uniform(size=layer.weight.shape) < 0.3
        layers.append((layer.weight * keep * 2, layer.bias))
    return Network(layers)


def test_layer_operations_agree_with_dense_ones() -> None:
    rng = np.random.default_rng(0)
    dense = thinned(rng, (6, 8, 3))
    sparse = sparse_copy(dense)
    assert sparse.is_sparse and not dense.is_sparse and sparse == dense
    for d, s in zip(dense.layers, sparse.layers, strict=True):
        assert s.is_sparse and np.array_equal(s.dense(), d.weight)
        values = rng.normal(size=(5, s.n_in))
        np.testing.assert_allclose(s.apply(values), d.apply(values))
        np.testing.assert_allclose(s.apply(values[0]), d.apply(values[0]))
        coefficients = rng.normal(size=(4, s.n_out))
        np.testing.assert_allclose(s.pull_back(coefficients), d.pull_back(coefficients))
        stack = np.stack([coefficients, -coefficients])
        np.testing.assert_allclose(s.pull_back(stack), d.pull_back(stack))
        pulled = s.pull_back(sp.csr_array(coefficients))
        assert sp.issparse(pulled)
        np.testing.assert_allclose(pulled.toarray(), d.pull_back(coefficients))
        for part_s, part_d in zip(s.signed(), d.signed(), strict=True):
            assert sp.issparse(part_s) and np.array_equal(part_s.toarray(), part_d)
        assert np.array_equal(s.absolute().toarray(), np.abs(d.weight))
        assert np.array_equal(s.rows(np.array([2, 0])), d.weight[[2, 0]])
    inputs = rng.normal(size=(5, 6))
    np.testing.assert_allclose(sparse.forward(inputs), dense.forward(inputs))
    assert sparse.n_parameters == dense.n_parameters == 8 * 7 + 3 * 9


def test_sparse_weights_are_read_only_and_edited_by_copy() -> None:
    sparse = sparse_copy(thinned(np.random.default_rng(1), (3, 4, 2)))
    with pytest.raises(ValueError):
        sparse.layers[0].weight.data[0] = 5.0
    changed = sparse.with_parameters({"w1.1.1": 7.0, "b2.2": -1.0})
    assert changed.parameter("w1.1.1") == 7.0 and changed.parameter("b2.2") == -1.0
    assert sparse.parameter("w1.1.1") != 7.0 and changed.layers[0].is_sparse


def test_to_torch_gives_the_same_map() -> None:
    rng = np.random.default_rng(2)
    dense = thinned(rng, (5, 7))
    x = rng.normal(size=(5, 3))
    for layer in (*dense.layers, *sparse_copy(dense).layers):
        weight, bias = layer.to_torch(torch.float64)
        assert weight.layout == (torch.sparse_csr if layer.is_sparse else torch.strided)
        got = (weight @ torch.from_numpy(x)).numpy().T + bias.numpy()
        np.testing.assert_allclose(got, layer.apply(x.T))
        assert layer.to_torch(torch.float32)[0].dtype == torch.float32


def test_dense_is_refused_beyond_the_limit() -> None:
    big = Network([(sp.csr_array((3000, 3000)), np.zeros(3000)), (np.ones((1, 3000)), [0.0])])
    with pytest.raises(UnsupportedError, match="the ONNX saver needs dense weights.*layer 1"):
        big.as_dense("the ONNX saver", limit=10**6)
    small = big.as_dense("repair", limit=10**7)
    assert not small.is_sparse and small == big


@pytest.mark.parametrize("seed", range(4))
def test_bounds_are_the_same_as_for_dense_weights(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dense = thinned(rng, (4, 12, 10, 3))
    sparse = sparse_copy(dense)
    lower, upper = rng.uniform(-1, 0, 4), rng.uniform(0, 1, 4)
    for bound in (interval_bounds, symbolic_bounds):
        got, want = bound(sparse, lower, upper), bound(dense, lower, upper)
        for a, b in zip(got.lower + got.upper, want.lower + want.upper, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    bounds = symbolic_bounds(sparse, lower, upper)
    C = rng.normal(size=(2, 3))
    np.testing.assert_allclose(
        output_lower_bounds(sparse, bounds, C, lower, upper),
        output_lower_bounds(dense, symbolic_bounds(dense, lower, upper), C, lower, upper),
    )
    boxes_low = np.vstack([lower, lower / 2])
    boxes_high = np.vstack([upper, upper / 2])
    got_b = batch_bounds(sparse, boxes_low, boxes_high, C, np.zeros(2))
    want_b = batch_bounds(dense, boxes_low, boxes_high, C, np.zeros(2))
    np.testing.assert_allclose(got_b.rows, want_b.rows, rtol=1e-9, atol=1e-9)
    for a, b in zip(got_b.lower + got_b.upper, want_b.lower + want_b.upper, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_gradient_steps_are_the_same_as_for_dense_weights() -> None:
    rng = np.random.default_rng(5)
    dense = thinned(rng, (4, 10, 3))
    sparse = sparse_copy(dense)
    prop = Property.classification(InputPiece(-np.ones(4), np.ones(4)), 0, 3)
    (conjunction, *_) = prop.unsafe_outputs
    points = rng.uniform(-1, 1, (6, 4))
    for got, want in zip(
        _margin_gradient(sparse, points, conjunction),
        _margin_gradient(dense, points, conjunction),
        strict=True,
    ):
        np.testing.assert_allclose(got, want)
    found = [attack(n, conjunction, -np.ones(4), np.ones(4), points) for n in (sparse, dense)]
    assert (found[0] is None) == (found[1] is None)


@pytest.mark.parametrize("strategy", ["milp", "bab"])
def test_verification_answers_as_for_dense_weights(strategy: str) -> None:
    rng = np.random.default_rng(7)
    solver = default_registry().solver("highs")
    answers = []
    for _ in range(6):
        dense = thinned(rng, (3, 10, 8, 3))
        center = rng.uniform(-1, 1, 3)
        label = int(dense.predict(center)[0])
        prop = Property.classification(InputPiece(center - 0.3, center + 0.3), label, 3)
        pair = []
        for network in (dense, sparse_copy(dense)):
            result = Verifier(solver, timeout=60, falsify_samples=0, strategy=strategy).verify(
                network, prop
            )
            pair.append(result.status)
            if result.status == "sat":
                assert prop.is_unsafe(dense.forward(result.counterexample))[0]
        assert pair[0] == pair[1] and pair[0] in ("sat", "unsat")
        answers.append(pair[0])
    assert set(answers) == {"sat", "unsat"}  # both verdicts are exercised


def test_savers_write_small_sparse_layers_dense(tmp_path: Path) -> None:
    sparse = sparse_copy(thinned(np.random.default_rng(8), (3, 5, 2)))
    for suffix in (".onnx", ".json", ".nnet"):
        path = tmp_path / f"net{suffix}"
        default_registry().save_network(sparse, path)
        assert default_registry().load_network(path) == sparse
    huge = Network([(sp.csr_array((5000, 4000)), np.zeros(5000)), (np.ones((1, 5000)), [0.0])])
    with pytest.raises(UnsupportedError, match="the ONNX saver needs dense weights.*5000 x 4000"):
        default_registry().save_network(huge, tmp_path / "huge.onnx")
    assert not (tmp_path / "huge.onnx").exists()


def test_repair_reads_sparse_layers_densely() -> None:
    """The repair encoders need dense weights: small sparse layers are made dense first, and
    a repair of the example's network stored sparse reaches the same certified result."""
    from test_repair import build, example

    net, prop, data, soft = example()
    dense_result = build(net, [prop], soft, data, trial_timeout=300).trial(["b2.1"])
    engine = build(sparse_copy(net), [prop], soft, data, trial_timeout=300)
    assert not engine.network.is_sparse and engine.network == net
    result = engine.trial(["b2.1"])
    assert result.status == dense_result.status == "repaired"
    assert result.values == dense_result.values
