"""Linear relaxation bounds in torch (CROWN) for batches of activation-split domains, float64.

A *domain* is the input box with some hidden ReLUs fixed by splits: active (``z >= 0``) or
inactive (``z <= 0``). Bounds are computed for a batch of domains at once, tensors shaped
``(batch, ...)``; every domain has ``m`` rows ``c . y - d`` to bound from below.

Back-substitution (CROWN): a row, a linear function of one layer, is pushed back layer by
layer to the input box, where its minimum is exact. An unstable ReLU (``l < 0 < u``) is
relaxed by the chord above and by ``alpha z`` below (:func:`relu_relaxation`); every ``alpha``
in [0, 1] gives a valid bound, so the alphas are free parameters, optimised in
:mod:`.crown_optimise` (alpha-CROWN). A split ReLU is exact (``z`` or ``0``), and its split
constraint ``g <= 0`` enters as ``beta g`` with a multiplier ``beta >= 0``: for any such beta,
``min f subject to g <= 0 >= min (f + beta g)`` (beta-CROWN).

Soundness: a bound is valid for *any* alpha in [0, 1] and beta >= 0, so optimisation cannot
break it; only float rounding could. Every concretised bound is therefore moved outward by the
shared :func:`rounding_margin` of the magnitudes summed into it: per layer, the coefficients'
absolute values times a bound on the absolute values of that layer's neurons
(:attr:`Root.magnitude`), which covers the rounding of every product and sum on the way.

Layers with sparse weights (convolutions lowered to affine maps) stay sparse here when they
are large (:class:`Linear`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from nnv.core.bounds.relaxation import relu_relaxation, rounding_margin
from nnv.core.model.network import Layer, Network
from nnv.core.model.property import OutputConjunction

Tensor = torch.Tensor
DTYPE = torch.float64

# A sparse layer of at most this many entries is multiplied densely (faster, and 8 MiB).
DENSE_ENTRIES = 2**20

# Rows bounded in one back-substitution when tightening a layer's neurons: at most ROW_CHUNK,
# and at most CHUNK_ENTRIES coefficients (rows x the widest layer passed), so that one chunk of
# a wide Conv lowering stays small in memory and short next to a deadline.
ROW_CHUNK = 1024
CHUNK_ENTRIES = 2**22

# The most coefficients (domains x rows x width) one refinement of a layer may hold; beyond,
# the domains keep the bounds they inherited (valid, only looser).
REFINE_ENTRIES = 2**24


@dataclass(frozen=True)
class Linear:
    """One layer's weights ``W`` ``(n_out, n_in)`` for the three products the bounds need:
    ``lam @ W`` (back-substitution), ``x @ W.T`` (forward) and ``|W| @ v`` (magnitudes).
    Dense, or ``torch.sparse_csr`` with the transpose and the absolute values kept too."""

    weight: Tensor
    transposed: Tensor | None = None  # W.T as CSR, for sparse layers
    absolute: Tensor | None = None  # |W| as CSR, for sparse layers

    @classmethod
    def of(cls, layer: Layer) -> Linear:
        if not layer.is_sparse or layer.n_in * layer.n_out <= DENSE_ENTRIES:
            return cls(torch.from_numpy(np.array(layer.dense(), dtype=np.float64)))
        transposed = Layer(layer.weight.T.tocsr(), np.zeros(layer.n_in))
        absolute = Layer(layer.absolute(), layer.bias)
        return cls(layer.to_torch()[0], transposed.to_torch()[0], absolute.to_torch()[0])

    @property
    def sparse(self) -> bool:
        return self.transposed is not None

    def pull(self, lam: Tensor) -> Tensor:
        """``lam @ W`` for ``lam`` ``(..., n_out)``."""
        if self.transposed is None:
            return lam @ self.weight
        flat = lam.reshape(-1, lam.shape[-1])
        # the width named: with no rows to pull (nothing unstable), -1 would be ambiguous
        n_in = self.transposed.shape[0]
        return (self.transposed @ flat.T).T.reshape(*lam.shape[:-1], n_in)

    def push(self, values: Tensor) -> Tensor:
        """``values @ W.T`` for ``values`` ``(..., n_in)``."""
        if self.transposed is None:
            return values @ self.weight.T
        flat = values.reshape(-1, values.shape[-1])
        n_out = self.weight.shape[0]
        return (self.weight @ flat.T).T.reshape(*values.shape[:-1], n_out)

    def abs_times(self, vector: Tensor) -> Tensor:
        """``|W| @ vector`` for a vector ``(n_in,)``."""
        if self.absolute is None:
            return self.weight.abs() @ vector
        return (self.absolute @ vector[:, None])[:, 0]

    def single(self) -> Linear:
        """A float32 copy."""

        def single(part: Tensor | None) -> Tensor | None:
            return None if part is None else part.to(torch.float32)

        return Linear(self.weight.to(torch.float32), single(self.transposed), single(self.absolute))


@dataclass(frozen=True)
class TorchNetwork:
    """A :class:`Network`'s layers as tensors, built once per verification."""

    layers: tuple[Linear, ...]
    biases: tuple[Tensor, ...]

    @classmethod
    def of(cls, network: Network) -> TorchNetwork:
        return cls(
            tuple(Linear.of(layer) for layer in network.layers),
            tuple(torch.from_numpy(np.array(layer.bias)) for layer in network.layers),
        )

    @property
    def n_hidden(self) -> int:
        return len(self.layers) - 1

    @functools.cached_property
    def single(self) -> TorchNetwork:
        """A float32 copy, for optimisation steps whose bounds are not kept."""
        return TorchNetwork(
            tuple(layer.single() for layer in self.layers),
            tuple(bias.float() for bias in self.biases),
        )

    def forward(self, inputs: Tensor) -> Tensor:
        """Outputs for a batch of inputs ``(..., n_in)``, differentiable (for attacks)."""
        values = inputs
        for index, (layer, bias) in enumerate(zip(self.layers, self.biases, strict=True)):
            values = layer.push(values) + bias
            if index < self.n_hidden:
                values = torch.relu(values)
        return values


@dataclass(frozen=True)
class Box:
    """The input box, with its centre, radius and the largest absolute value of each input."""

    lower: Tensor
    upper: Tensor

    @property
    def center(self) -> Tensor:
        return (self.lower + self.upper) / 2

    @property
    def radius(self) -> Tensor:
        return (self.upper - self.lower) / 2

    @property
    def magnitude(self) -> Tensor:
        return torch.maximum(self.lower.abs(), self.upper.abs())

    @classmethod
    def of(cls, lower: np.ndarray, upper: np.ndarray) -> Box:
        return cls(torch.tensor(lower, dtype=DTYPE), torch.tensor(upper, dtype=DTYPE))


def stacked_rows(conjunctions: Sequence[OutputConjunction]) -> tuple[Tensor, Tensor]:
    """The rows of every conjunction as ``(k, m, n_out)`` and ``(k, m)``, ``m`` the most rows of
    one: shorter ones repeat their last row (a conjunction is closed when any row is above
    zero, so a repeat changes nothing), and one without rows, unsafe everywhere, becomes
    ``0 <= 0``."""
    width = conjunctions[0].C.shape[1]
    m = max(1, *(c.C.shape[0] for c in conjunctions))
    C = np.zeros((len(conjunctions), m, width))
    d = np.zeros((len(conjunctions), m))
    for k, conjunction in enumerate(conjunctions):
        count = conjunction.C.shape[0]
        if count:
            pick = np.minimum(np.arange(m), count - 1)
            C[k], d[k] = conjunction.C[pick], conjunction.d[pick]
    return torch.from_numpy(C), torch.from_numpy(d)


@dataclass(frozen=True)
class Relaxation:
    """The ReLU relaxation of one hidden layer for a batch of domains, each ``(batch, 1, n)``:
    ``fixed z <= relu(z)`` for stable neurons (``alpha z`` where ``unstable``) and
    ``relu(z) <= slope z + offset``; ``sign`` carries the splits into beta's term
    (``-1``: split active, ``g = -z``; ``+1``: split inactive, ``g = z``)."""

    slope: Tensor
    offset: Tensor
    fixed: Tensor
    unstable: Tensor
    adaptive: Tensor  # CROWN's choice of alpha: 1 where u > -l, else 0
    sign: Tensor

    @classmethod
    def of(cls, lower: Tensor, upper: Tensor, split: Tensor | None = None) -> Relaxation:
        """``lower``/``upper`` ``(batch, n)`` already clamped by the splits."""
        slope, offset, adaptive = relu_relaxation(lower, upper, torch.where)
        unstable = (lower < 0) & (upper > 0)
        sign = torch.zeros_like(lower) if split is None else -split.to(lower.dtype)
        return cls(
            slope[:, None, :],
            offset[:, None, :],
            (lower >= 0).to(lower.dtype)[:, None, :],
            unstable[:, None, :],
            adaptive[:, None, :],
            sign[:, None, :],
        )

    def single(self) -> Relaxation:
        """A float32 copy (the mask stays boolean)."""
        parts = (getattr(self, item.name) for item in fields(self))
        return Relaxation(*(part if part.dtype == torch.bool else part.float() for part in parts))

    def take(self, index: Tensor) -> Relaxation:
        """The relaxation of some domains of a batch."""
        return Relaxation(*(getattr(self, item.name)[index] for item in fields(self)))


@dataclass(frozen=True)
class Backward:
    """A back-substitution's result: the lower bounds ``(batch, m)``, the input coefficients
    ``(batch, m, n_in)`` of the linear bound, and (when asked) the coefficients on each hidden
    layer's ReLU outputs ``(batch, m, n_j)``, which the branching heuristics read."""

    bound: Tensor
    inputs: Tensor
    hidden: tuple[Tensor, ...] = ()


def back_substitute(
    net: TorchNetwork,
    top: int,
    lam: Tensor,
    constant: Tensor,
    relaxations: Sequence[Relaxation],
    magnitude: Sequence[Tensor],
    box: Box,
    alphas: Sequence[Tensor] | None = None,
    betas: Sequence[Tensor] | None = None,
    keep_hidden: bool = False,
) -> Backward:
    """Lower bounds of ``lam . z_top + constant`` over every domain (``lam`` ``(batch, m,
    n_top)``, ``z_top`` the pre-activation of layer ``top``), through ``relaxations[j]`` of
    every hidden layer ``j < top``. ``alphas[j]``/``betas[j]`` are ``(batch, m, n_j)`` (or
    broadcastable); without alphas, CROWN's adaptive slopes; without betas, no split terms."""
    size = constant.detach().abs()
    hidden: list[Tensor] = []
    for j in range(top, -1, -1):
        size = size + lam.detach().abs() @ magnitude[j]
        constant = constant + lam @ net.biases[j]
        lam = net.layers[j].pull(lam)  # now on the ReLU outputs of layer j - 1 (or the inputs)
        if j == 0:
            break
        relax = relaxations[j - 1]
        if keep_hidden:
            hidden.append(lam.detach())
        alpha = relax.adaptive if alphas is None else alphas[j - 1]
        low = torch.where(relax.unstable, alpha, relax.fixed)
        negative = lam.clamp(max=0.0)
        offset = (negative * relax.offset).sum(-1)
        constant = constant + offset
        size = size + offset.detach().abs()
        lam = lam.clamp(min=0.0) * low + negative * relax.slope
        if betas is not None:
            lam = lam + betas[j - 1] * relax.sign
    absolute = lam.abs()
    size = size + absolute.detach() @ box.magnitude
    bound = constant + lam @ box.center - absolute @ box.radius
    bound = bound - rounding_margin(size, constant.detach().abs())
    return Backward(bound, lam.detach(), tuple(reversed(hidden)))


@dataclass(frozen=True)
class Root:
    """Bounds of every hidden layer's pre-activations over the whole box, ``(n_j,)`` each, and
    per layer (outputs included) a bound on the absolute values of its pre-activations over
    the box, for the rounding margins."""

    lower: tuple[Tensor, ...]
    upper: tuple[Tensor, ...]
    magnitude: tuple[Tensor, ...]


def _interval(layer: Linear, bias: Tensor, low: Tensor, high: Tensor) -> tuple[Tensor, ...]:
    """Interval bounds of ``W a + b`` for ``low <= a <= high``, widened; and the magnitude."""
    center, radius = (low + high) / 2, (high - low) / 2
    middle = layer.push(center) + bias
    spread = layer.abs_times(radius)
    magnitude = layer.abs_times(torch.maximum(low.abs(), high.abs())) + bias.abs()
    margin = rounding_margin(magnitude)
    return middle - spread - margin, middle + spread + margin, magnitude + margin


def selector_rows(unstable: Tensor, width: int, batch: int = 1) -> Tensor:
    """Rows ``+e_j`` then ``-e_j`` for the neurons ``unstable``, ``(batch, 2 count, width)``:
    their lower bounds, and minus their upper bounds."""
    count = unstable.numel()
    rows = torch.zeros((batch, 2 * count, width), dtype=DTYPE)
    rows[:, torch.arange(count), unstable] = 1.0
    rows[:, count + torch.arange(count), unstable] = -1.0
    return rows


def root_bounds(net: TorchNetwork, box: Box, deadline: float | None = None) -> Root:
    """Interval bounds layer by layer, each hidden layer's unstable neurons tightened by CROWN
    back-substitution through the relaxations of the layers before it, in chunks of rows;
    past ``deadline`` the remaining chunks keep their interval bounds (still sound)."""
    lows: list[Tensor] = []
    highs: list[Tensor] = []
    magnitudes: list[Tensor] = []
    relaxations: list[Relaxation] = []
    a_low, a_high = box.lower, box.upper
    for index in range(net.n_hidden + 1):
        low, high, magnitude = _interval(net.layers[index], net.biases[index], a_low, a_high)
        magnitudes.append(magnitude)
        if index == net.n_hidden:
            break
        unstable = torch.nonzero((low < 0) & (high > 0)).flatten()
        low, high = low.clone(), high.clone()
        widest = max(net.layers[j].weight.shape[1] for j in range(index + 1))
        rows_per_chunk = max(1, min(ROW_CHUNK, CHUNK_ENTRIES // max(widest, low.numel())))
        for chunk in torch.split(unstable, rows_per_chunk) if index > 0 else ():
            if deadline is not None and time.perf_counter() > deadline:
                break
            rows = selector_rows(chunk, low.numel())
            zero = torch.zeros(rows.shape[:2], dtype=DTYPE)
            found = back_substitute(net, index, rows, zero, relaxations, magnitudes, box)
            count = chunk.numel()
            low[chunk] = torch.maximum(low[chunk], found.bound[0, :count])
            high[chunk] = torch.minimum(high[chunk], -found.bound[0, count:])
        lows.append(low)
        highs.append(high)
        relaxations.append(Relaxation.of(low[None, :], high[None, :]))
        a_low, a_high = low.clamp(min=0.0), high.clamp(min=0.0)
    return Root(tuple(lows), tuple(highs), tuple(magnitudes))


def refine(
    net: TorchNetwork,
    box: Box,
    magnitude: Sequence[Tensor],
    bounds: tuple[list[Tensor], list[Tensor]],
    splits: Sequence[Tensor],
    first: Tensor,
    layers: int,
    deadline: float | None = None,
) -> list[Relaxation]:
    """Tighten, in place, the intermediate bounds (``(batch, n_j)`` float64 lists) of hidden
    layers ``first[i]`` to ``layers - 1`` of each domain ``i`` by CROWN back-substitution,
    through the relaxations below (split neurons exact), unless that would take more than
    ``REFINE_ENTRIES`` coefficients; the relaxations of every layer. Past ``deadline`` the
    layers left keep the bounds they came with (a parent's, still sound)."""
    lower, upper = bounds
    relaxations = [Relaxation.of(lower[0], upper[0], splits[0])]
    for index in range(1, len(lower)):
        low, high = lower[index], upper[index]
        late = deadline is not None and time.perf_counter() > deadline
        tighten = index < layers and not late
        chosen = torch.nonzero(first <= index).flatten() if tighten else first[:0]
        unstable = torch.nonzero(((low[chosen] < 0) & (high[chosen] > 0)).any(dim=0)).flatten()
        count = unstable.numel()
        if count and chosen.numel() * 2 * count * max(low.shape[1], 1) <= REFINE_ENTRIES:
            rows = selector_rows(unstable, low.shape[1], chosen.numel())
            found = back_substitute(
                net,
                index,
                rows,
                torch.zeros(rows.shape[:2], dtype=DTYPE),
                [relax.take(chosen) for relax in relaxations],
                magnitude,
                box,
            ).bound
            grid = (chosen[:, None], unstable[None, :])
            low[grid] = torch.maximum(low[grid], found[:, :count])
            high[grid] = torch.minimum(high[grid], -found[:, count:])
        relaxations.append(Relaxation.of(low, high, splits[index]))
    return relaxations
