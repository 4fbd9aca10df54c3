"""The network at fixed input points, with a few parameters free: the synthesis side of repair.

Free parameters enter as offsets ``delta = p - p_original`` within per-parameter limits (see
:func:`change_limits`). Only the
neurons whose value depends on a free parameter ("affected" ones) become variables; every
other value is the original network's, a constant. A free weight that reads a constant
activation contributes a linear term ``delta * a``; one that reads an affected activation
contributes a product of two variables, so the problem is bilinear (QF_NRA) and only SMT
solvers take it.

Everything is vectorised over the points: one sparse block of rows per layer for all points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nnv.core.bounds.relaxation import widen
from nnv.core.model.decision import DEFAULT_DECISION, Decision, sign
from nnv.core.model.network import Network, ParameterAddress
from nnv.core.query.builder import QueryBuilder
from nnv.core.repair.free import FreeParameters, affected_neurons


@dataclass
class PointOutputs:
    """The outputs at each point: a variable index (or -1 for a constant), its value if constant,
    and bounds."""

    var: np.ndarray  # (m, n_out) int
    const: np.ndarray  # (m, n_out)
    lower: np.ndarray  # (m, n_out)
    upper: np.ndarray  # (m, n_out)


class PointEncoder:
    """Encodes ``network`` at points with ``free`` parameters as bounded offset variables."""

    def __init__(self, network: Network, free: FreeParameters, limits: np.ndarray) -> None:
        self.network = network
        self.free = free
        self.limits = np.asarray(limits, dtype=np.float64)
        self.affected = affected_neurons(network, free)

    # -- bounds (no variables): decide which points can change at all ----------------------

    def output_bounds(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interval bounds of the outputs at each point over every allowed offset."""
        activations = self.network.activations(X)
        low = high = np.atleast_2d(np.asarray(X, dtype=np.float64))
        for index in range(len(self.network.layers)):
            z_low, z_high = self._layer_interval(index, low, high, activations)
            if index < len(self.network.layers) - 1:
                low, high = np.maximum(z_low, 0.0), np.maximum(z_high, 0.0)
            else:
                low, high = z_low, z_high
        return low, high

    def _layer_interval(
        self, index: int, low: np.ndarray, high: np.ndarray, activations: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        layer = self.network.layers[index]
        positive, negative = np.maximum(layer.weight, 0.0), np.minimum(layer.weight, 0.0)
        z_low = low @ positive.T + high @ negative.T + layer.bias
        z_high = high @ positive.T + low @ negative.T + layer.bias
        for j in self.free.in_layer(index):
            address = self.free.addresses[j]
            if address.source is None:
                reach = np.full(low.shape[0], self.limits[j])
            else:
                reach = self.limits[j] * np.maximum(
                    np.abs(low[:, address.source]), np.abs(high[:, address.source])
                )
            z_low[:, address.neuron] -= reach
            z_high[:, address.neuron] += reach
        # unaffected neurons are exactly the original values
        fixed = ~self.affected[index]
        z_low[:, fixed] = activations[index][:, fixed]
        z_high[:, fixed] = activations[index][:, fixed]
        return widen(z_low, z_high)

    # -- the encoding ----------------------------------------------------------------------

    def add_offsets(self, builder: QueryBuilder) -> np.ndarray:
        """The offset variables ``delta``, one per free parameter."""
        return builder.add_vars(len(self.free.addresses), -self.limits, self.limits)

    def add_points(self, builder: QueryBuilder, delta: np.ndarray, X: np.ndarray) -> PointOutputs:
        """Variables and rows for the network at every row of ``X``; returns the outputs."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        m = X.shape[0]
        activations = self.network.activations(X)
        const = X  # values of the previous layer (original values where affected)
        var = np.full((m, 0), -1, dtype=np.int64)  # variables of the affected previous neurons
        low = high = X
        previous = np.zeros(self.network.n_inputs, dtype=bool)
        last = len(self.network.layers) - 1
        for index in range(len(self.network.layers)):
            mask = self.affected[index]
            z_low, z_high = self._layer_interval(index, low, high, activations)
            columns = np.flatnonzero(mask)
            z = builder.add_vars(
                m * columns.size, z_low[:, columns].ravel(), z_high[:, columns].ravel()
            )
            z = z.reshape(m, columns.size)
            self._add_layer_rows(builder, index, delta, z, columns, const, var, previous, low, high)
            if index < last:
                a = builder.add_vars(
                    z.size,
                    np.maximum(z_low[:, columns], 0.0).ravel(),
                    np.maximum(z_high[:, columns], 0.0).ravel(),
                )
                builder.add_relu(a, z.ravel())
                var = a.reshape(m, columns.size)
                const = np.maximum(activations[index], 0.0)
                low, high = np.maximum(z_low, 0.0), np.maximum(z_high, 0.0)
            else:
                var = z
            previous = mask
        out_var = np.full((m, self.network.n_outputs), -1, dtype=np.int64)
        out_var[:, np.flatnonzero(previous)] = var
        return PointOutputs(out_var, activations[-1], z_low, z_high)

    def _add_layer_rows(
        self,
        builder: QueryBuilder,
        index: int,
        delta: np.ndarray,
        z: np.ndarray,
        columns: np.ndarray,
        const: np.ndarray,
        var: np.ndarray,
        previous: np.ndarray,
        low: np.ndarray,
        high: np.ndarray,
    ) -> None:
        """Rows ``z - W0[:, aff] a_var - sum(coef delta) - sum(products) = W0[:, fixed] a + b``."""
        layer = self.network.layers[index]
        m, k = z.shape
        if k == 0:
            return
        rows_of = np.arange(m * k).reshape(m, k)
        weight = layer.weight[columns]
        fixed_in = ~previous
        rhs = const[:, fixed_in] @ weight[:, fixed_in].T + layer.bias[columns]
        entries_r, entries_c, entries_v = [rows_of.ravel()], [z.ravel()], [np.ones(m * k)]
        # fixed weights reading affected activations
        affected_in = np.flatnonzero(previous)
        if affected_in.size:
            w = weight[:, affected_in]  # (k, n_aff)
            r = np.repeat(rows_of[:, :, None], affected_in.size, axis=2)
            c = np.repeat(var[:, None, :], k, axis=1)
            v = np.broadcast_to(-w[None, :, :], r.shape)
            nonzero = v != 0
            entries_r.append(r[nonzero])
            entries_c.append(c[nonzero])
            entries_v.append(v[nonzero])
        position = {neuron: slot for slot, neuron in enumerate(columns)}
        for j in self.free.in_layer(index):
            address = self.free.addresses[j]
            slot = position[address.neuron]
            if address.source is None:
                coefficient = np.ones(m)
            elif previous[address.source]:
                products = self._add_products(
                    builder, delta[j], self.limits[j], var, affected_in, address, low, high
                )
                entries_r.append(rows_of[:, slot])
                entries_c.append(products)
                entries_v.append(-np.ones(m))
                continue
            else:
                coefficient = const[:, address.source]
            entries_r.append(rows_of[:, slot])
            entries_c.append(np.full(m, delta[j]))
            entries_v.append(-coefficient)
        matrix = sp.coo_matrix(
            (np.concatenate(entries_v), (np.concatenate(entries_r), np.concatenate(entries_c))),
            shape=(m * k, builder.n_vars),
        )
        builder.add_rows(matrix, None, rhs.ravel(), rhs.ravel())

    def _add_products(
        self,
        builder: QueryBuilder,
        delta_var: int,
        limit: float,
        var: np.ndarray,
        affected_in: np.ndarray,
        address: ParameterAddress,
        low: np.ndarray,
        high: np.ndarray,
    ) -> np.ndarray:
        """Variables ``t = delta * a`` for a free weight reading an affected activation."""
        slot = int(np.flatnonzero(affected_in == address.source)[0])
        reach = limit * np.maximum(np.abs(low[:, address.source]), np.abs(high[:, address.source]))
        t = builder.add_vars(var.shape[0], -reach, reach)
        builder.add_bilinear(t, np.full(var.shape[0], delta_var), var[:, slot])
        return t


def triage(
    encoder: PointEncoder,
    points: np.ndarray,
    labels: np.ndarray,
    margin: float,
    decision: Decision = DEFAULT_DECISION,
) -> tuple[int, np.ndarray]:
    """How many soft ``points`` keep their label by ``margin`` whatever the offsets within the
    limits (interval bounds), and the indices of those that may change: the rest can never
    keep it. Synthesis needs only the ones that may change."""
    if not points.shape[0]:
        return 0, np.zeros(0, dtype=np.int64)
    low, high = encoder.output_bounds(points)
    if decision == "argmin":  # the scores -y: bounds swap
        low, high = -high, -low
    m, n_out = low.shape
    others = np.ones((m, n_out), dtype=bool)
    others[np.arange(m), labels] = False
    label_low = low[np.arange(m), labels][:, None]
    label_high = high[np.arange(m), labels][:, None]
    worst = np.min(np.where(others, label_low - high, np.inf), axis=1)
    best = np.min(np.where(others, label_high - low, np.inf), axis=1)
    always = worst >= margin
    possible = best >= margin
    return int(always.sum()), np.flatnonzero(possible & ~always)


def margin_rows(
    outputs: PointOutputs, labels: np.ndarray, n_vars: int, decision: Decision = DEFAULT_DECISION
) -> tuple[sp.coo_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``y_label - y_other`` (argmax; ``y_other - y_label`` for argmin) over variables,
    for every point and every other class: how far the label leads, which "keep the label"
    asks to be at least a margin.

    Returns (coefficients, constant part, lower bound of the row, point index of each row).
    A row with no variable has only its constant part.
    """
    towards = sign(decision)
    m, n_out = outputs.var.shape
    labels = np.asarray(labels, dtype=np.int64)
    others = np.array([[j for j in range(n_out) if j != label] for label in labels])
    point = np.repeat(np.arange(m), n_out - 1)
    label_of_row = np.repeat(labels, n_out - 1)
    other_of_row = others.ravel()
    rows = np.arange(point.size)
    var_l, var_o = outputs.var[point, label_of_row], outputs.var[point, other_of_row]
    constant = towards * (
        np.where(var_l < 0, outputs.const[point, label_of_row], 0.0)
        - np.where(var_o < 0, outputs.const[point, other_of_row], 0.0)
    )
    if towards > 0:
        lower = outputs.lower[point, label_of_row] - outputs.upper[point, other_of_row]
    else:
        lower = outputs.lower[point, other_of_row] - outputs.upper[point, label_of_row]
    r = np.concatenate([rows[var_l >= 0], rows[var_o >= 0]])
    c = np.concatenate([var_l[var_l >= 0], var_o[var_o >= 0]])
    v = towards * np.concatenate(
        [np.ones(int((var_l >= 0).sum())), -np.ones(int((var_o >= 0).sum()))]
    )
    return sp.coo_matrix((v, (r, c)), shape=(rows.size, n_vars)), constant, lower, point


def output_rows(
    outputs: PointOutputs, point: int, C: np.ndarray, n_vars: int
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``C y`` at one point: (coefficients over variables, constant part, lower, upper)."""
    var, const = outputs.var[point], outputs.const[point]
    is_var = var >= 0
    coefficients = sp.csr_matrix(
        (
            C[:, is_var].ravel(),
            (np.repeat(np.arange(C.shape[0]), int(is_var.sum())), np.tile(var[is_var], C.shape[0])),
        ),
        shape=(C.shape[0], n_vars),
    )
    constant = C[:, ~is_var] @ const[~is_var]
    positive, negative = np.maximum(C, 0.0), np.minimum(C, 0.0)
    low, high = outputs.lower[point], outputs.upper[point]
    lower = positive @ np.where(is_var, low, const) + negative @ np.where(is_var, high, const)
    upper = positive @ np.where(is_var, high, const) + negative @ np.where(is_var, low, const)
    return coefficients, constant, lower, upper
