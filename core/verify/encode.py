"""Encoders: (network, input piece, output condition) into a Query.

A network becomes, layer by layer, pre-activation variables ``z = W a + b`` (one sparse block
of rows per layer) and post-activation variables ``a = relu(z)`` (ReLU pairs). Bounds from
:mod:`nnv.core.bounds` go on the variables, which is where big-M reductions and SMT
simplifications find them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nnv.core.bounds.symbolic import Bounds
from nnv.core.model.network import Network
from nnv.core.model.property import InputPiece, OutputConjunction
from nnv.core.query.builder import QueryBuilder
from nnv.core.query.form import Query


@dataclass(frozen=True)
class NetworkVariables:
    """Where a network's values live in a Query."""

    inputs: np.ndarray
    outputs: np.ndarray
    pre: tuple[np.ndarray, ...]


def add_network(
    builder: QueryBuilder, network: Network, piece: InputPiece, bounds: Bounds | None
) -> NetworkVariables:
    """Add input, hidden and output variables and the rows that tie them to ``network``."""
    x = builder.add_vars(network.n_inputs, piece.lower, piece.upper)
    if piece.A is not None and piece.b is not None:
        builder.add_rows(piece.A, x, -np.inf, piece.b)
    previous = x
    pre = []
    last = len(network.layers) - 1
    for index, layer in enumerate(network.layers):
        low = -np.inf if bounds is None else bounds.lower[index]
        high = np.inf if bounds is None else bounds.upper[index]
        z = builder.add_vars(layer.n_out, low, high)
        # z - W a = b
        block = sp.hstack([sp.identity(layer.n_out), -sp.csr_matrix(layer.weight)])
        builder.add_rows(block, np.concatenate([z, previous]), layer.bias, layer.bias)
        pre.append(z)
        if index < last:
            a = builder.add_vars(layer.n_out, np.maximum(low, 0.0), np.maximum(high, 0.0))
            builder.add_relu(a, z)
            previous = a
    return NetworkVariables(inputs=x, outputs=pre[-1], pre=tuple(pre))


def reachability_query(
    network: Network,
    piece: InputPiece,
    conjunction: OutputConjunction,
    bounds: Bounds | None = None,
    margin: float = 0.0,
) -> tuple[Query, NetworkVariables]:
    """Is some input of ``piece`` mapped to an output with ``C y <= d - margin``?"""
    builder = QueryBuilder()
    variables = add_network(builder, network, piece, bounds)
    builder.add_rows(conjunction.C, variables.outputs, -np.inf, conjunction.d - margin)
    return builder.build(), variables
