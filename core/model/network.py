"""Feed-forward ReLU networks: affine layers in float64, ReLU on every layer but the last.

A layer's weights are a dense array or a scipy.sparse CSR array: convolutions and pooling
lowered to affine maps are mostly zeros, and the larger ones cannot be held densely at all.
Engines go through :class:`Layer`'s methods (``apply``, ``pull_back``, ``signed``...), which
work for both, and call ``dense()`` only where a dense matrix is truly needed.

Parameters are addressed as in the repair paper, 1-based: ``w<L>.<N>.<I>`` is the weight
from input I into neuron N of layer L, ``b<L>.<N>`` the bias of neuron N of layer L.

A network has a *precision*, the floating-point type of the file it came from (``float32``
for the ACAS Xu files, ``float64`` by default): its parameters are values of that type, held
in float64 (which represents every float32 exactly), so a repaired network is rounded to what
its file will hold before anything is verified, and the file written is the network certified.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from nnv.core.errors import InputError, UnsupportedError
from nnv.core.model.decision import DEFAULT_DECISION, Decision, decide
from nnv.core.runtime.sparse import issparse

if TYPE_CHECKING:
    import torch

# A layer's weights: a dense np.ndarray or a scipy.sparse.csr_array (scipy has no type stubs,
# so the alias cannot say more than Any).
Weights: TypeAlias = Any

# The most entries a sparse layer may have to be turned into a dense one (128 MiB in float64).
DENSE_LIMIT = 2**24

_ADDRESS = re.compile(r"^(?:w(\d+)\.(\d+)\.(\d+)|b(\d+)\.(\d+))$")
PRECISIONS = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class ParameterAddress:
    """One weight or bias, 0-based internally; ``str()`` gives the paper's 1-based name."""

    layer: int
    neuron: int
    source: int | None  # None for a bias

    @property
    def is_bias(self) -> bool:
        return self.source is None

    def __str__(self) -> str:
        if self.source is None:
            return f"b{self.layer + 1}.{self.neuron + 1}"
        return f"w{self.layer + 1}.{self.neuron + 1}.{self.source + 1}"

    @classmethod
    def parse(cls, text: str) -> ParameterAddress:
        match = _ADDRESS.match(text.strip())
        if not match:
            raise InputError(f"bad parameter address {text!r}: expected w<L>.<N>.<I> or b<L>.<N>")
        if match.group(1) is not None:
            layer, neuron, source = (int(match.group(i)) for i in (1, 2, 3))
            if min(layer, neuron, source) < 1:
                raise InputError(f"bad parameter address {text!r}: indices are 1-based")
            return cls(layer - 1, neuron - 1, source - 1)
        layer, neuron = int(match.group(4)), int(match.group(5))
        if min(layer, neuron) < 1:
            raise InputError(f"bad parameter address {text!r}: indices are 1-based")
        return cls(layer - 1, neuron - 1, None)


@dataclass(frozen=True)
class Layer:
    """An affine layer ``z = W a + b``; ``W`` has shape (outputs, inputs), dense or CSR."""

    weight: Weights
    bias: np.ndarray

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def is_sparse(self) -> bool:
        return issparse(self.weight)

    def dense(self) -> np.ndarray:
        """The weights as a dense array (a copy when they are sparse)."""
        return self.weight.toarray() if self.is_sparse else self.weight

    def apply(self, values: np.ndarray) -> np.ndarray:
        """``W a + b`` for each row ``a`` of ``values`` (or for one vector)."""
        if self.is_sparse and values.ndim == 2:
            return (self.weight @ values.T).T + self.bias
        return values @ self.weight.T + self.bias

    def pull_back(self, coefficients: Any) -> Any:
        """``coefficients @ W``: linear functions of ``z`` as functions of ``a``.

        ``coefficients`` is ``(n_out,)``, ``(r, n_out)`` (dense or sparse) or a stack
        ``(batch, r, n_out)``; the result has the same leading shape with ``n_in`` last. A
        sparse ``coefficients`` stays sparse when the weights are sparse too.
        """
        if isinstance(coefficients, np.ndarray) and coefficients.ndim == 3:
            batch, rows, n = coefficients.shape
            flat = self.pull_back(coefficients.reshape(batch * rows, n))
            return flat.reshape(batch, rows, self.n_in)
        if self.is_sparse and isinstance(coefficients, np.ndarray) and coefficients.ndim == 2:
            return (self.weight.T @ coefficients.T).T
        return coefficients @ self.weight

    def signed(self) -> tuple[Weights, Weights]:
        """The positive and the negative part of the weights, each stored as the weights are."""
        if self.is_sparse:
            return self.weight.maximum(0.0), self.weight.minimum(0.0)
        return np.maximum(self.weight, 0.0), np.minimum(self.weight, 0.0)

    def absolute(self) -> Weights:
        return abs(self.weight) if self.is_sparse else np.abs(self.weight)

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Rows of the weights as a dense ``(len(index), n_in)`` array."""
        return self.weight[index].toarray() if self.is_sparse else self.weight[index]

    def to_torch(
        self, dtype: torch.dtype | None = None, device: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The weights (a ``torch.sparse_csr`` tensor when sparse) and the bias, copied.

        ``dtype`` defaults to float64, the precision the network is stored in.
        """
        import torch  # only the engines that run in torch pay for importing it

        dtype = torch.float64 if dtype is None else dtype
        bias = torch.tensor(self.bias, dtype=dtype, device=device)
        if not self.is_sparse:
            return torch.tensor(self.weight, dtype=dtype, device=device), bias
        with warnings.catch_warnings():  # torch says its sparse CSR support is in beta
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
            weight = torch.sparse_csr_tensor(
                torch.tensor(self.weight.indptr, dtype=torch.int64),
                torch.tensor(self.weight.indices, dtype=torch.int64),
                torch.tensor(self.weight.data),
                size=self.weight.shape,
                dtype=dtype,
                device=device,
                check_invariants=True,
            )
        return weight, bias


def _weights(raw: Any, precision: str) -> Weights:
    """A float64 read-only copy of dense or sparse weights (sparse ones in canonical CSR),
    rounded to ``precision``."""
    if not issparse(raw):
        weight = rounded(np.array(raw, dtype=np.float64), precision)
        weight.setflags(write=False)
        return weight
    import scipy.sparse as sp  # loaded already: raw is one of its arrays

    weight = sp.csr_array(raw, dtype=np.float64, copy=True)
    weight.data = rounded(weight.data, precision)
    weight.sum_duplicates()  # canonical: later operations never reorder the arrays in place
    for part in (weight.data, weight.indices, weight.indptr):
        part.setflags(write=False)
    return weight


def _finite(weight: Weights) -> bool:
    return bool(np.isfinite(weight.data if issparse(weight) else weight).all())


def _same(first: Weights, second: Weights) -> bool:
    """Equal shapes and values, however each is stored."""
    if first.shape != second.shape:
        return False
    if not (issparse(first) or issparse(second)):
        return bool(np.array_equal(first, second))
    import scipy.sparse as sp  # loaded already: one of the two is sparse

    return (sp.csr_array(first) != sp.csr_array(second)).nnz == 0


def rounded(values: np.ndarray, precision: str) -> np.ndarray:
    """``values`` rounded to ``precision`` (to nearest), back in float64; beyond its range,
    infinite (which a Network refuses)."""
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype=PRECISIONS[precision]).astype(np.float64)


class Network:
    """An immutable feed-forward ReLU network whose parameters are ``precision`` values: given
    ones are rounded to it (to nearest)."""

    def __init__(
        self,
        layers: Sequence[tuple[np.ndarray, np.ndarray]] | Sequence[Layer],
        precision: str = "float64",
    ):
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.precision = precision
        built: list[Layer] = []
        for index, item in enumerate(layers):
            raw_weight, raw_bias = (
                (item.weight, item.bias) if isinstance(item, Layer) else tuple(item)  # type: ignore[arg-type]
            )
            weight = _weights(raw_weight, precision)
            bias = rounded(np.array(raw_bias, dtype=np.float64).reshape(-1), precision)
            if weight.ndim != 2 or bias.shape[0] != weight.shape[0]:
                raise InputError(
                    f"layer {index + 1}: weight {weight.shape} and bias {bias.shape} do not fit"
                )
            if built and built[-1].n_out != weight.shape[1]:
                raise InputError(
                    f"layer {index + 1} takes {weight.shape[1]} inputs but layer {index} "
                    f"gives {built[-1].n_out}"
                )
            if not (_finite(weight) and np.isfinite(bias).all()):
                raise InputError(f"layer {index + 1} has NaN or infinite parameters")
            bias.setflags(write=False)
            built.append(Layer(weight, bias))
        if not built:
            raise InputError("a network needs at least one layer")
        self._layers = tuple(built)

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self._layers

    @property
    def n_inputs(self) -> int:
        return self._layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self._layers[-1].n_out

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n_inputs, *(layer.n_out for layer in self._layers))

    @property
    def n_parameters(self) -> int:
        return sum(layer.n_out * (layer.n_in + 1) for layer in self._layers)

    @property
    def is_sparse(self) -> bool:
        """Whether some layer keeps its weights sparse."""
        return any(layer.is_sparse for layer in self._layers)

    def as_dense(self, purpose: str, limit: int = DENSE_LIMIT) -> Network:
        """This network with dense weights only, for ``purpose`` (a saver, repair) that needs
        them; a sparse layer of more than ``limit`` entries is refused, not densified."""
        if not self.is_sparse:
            return self
        for index, layer in enumerate(self._layers):
            if layer.is_sparse and layer.n_out * layer.n_in > limit:
                raise UnsupportedError(
                    f"{purpose} needs dense weights, and layer {index + 1} is a sparse "
                    f"{layer.n_out} x {layer.n_in} map (from a convolution or pooling), too "
                    f"large to make dense (the limit is {limit} entries)"
                )
        return Network([(layer.dense(), layer.bias) for layer in self._layers], self.precision)

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Outputs for a batch ``(m, n_inputs)`` or a single input ``(n_inputs,)``."""
        values = np.asarray(inputs, dtype=np.float64)
        single = values.ndim == 1
        values = np.atleast_2d(values)
        if values.shape[1] != self.n_inputs:
            raise InputError(f"the network takes {self.n_inputs} inputs, got {values.shape[1]}")
        for index, layer in enumerate(self._layers):
            values = layer.apply(values)
            if index < len(self._layers) - 1:
                values = np.maximum(values, 0.0)
        return values[0] if single else values

    def activations(self, inputs: np.ndarray) -> list[np.ndarray]:
        """Pre-activation values of every layer for a batch (the last is the output)."""
        values = np.atleast_2d(np.asarray(inputs, dtype=np.float64))
        result = []
        for index, layer in enumerate(self._layers):
            values = layer.apply(values)
            result.append(values)
            if index < len(self._layers) - 1:
                values = np.maximum(values, 0.0)
        return result

    def predict(self, inputs: np.ndarray, decision: Decision = DEFAULT_DECISION) -> np.ndarray:
        """Class indices: the largest output (``argmax``) or the smallest (``argmin``)."""
        return decide(self.forward(inputs), decision)

    # -- parameters -------------------------------------------------------------------------

    def parameter_addresses(self, layers: Iterable[int] | None = None) -> list[ParameterAddress]:
        """Every parameter in the paper's order (per layer: weights row by row, then biases).

        ``layers`` restricts to 1-based layer numbers.
        """
        wanted = None if layers is None else {int(layer) - 1 for layer in layers}
        addresses: list[ParameterAddress] = []
        for index, layer in enumerate(self._layers):
            if wanted is not None and index not in wanted:
                continue
            for neuron in range(layer.n_out):
                for source in range(layer.n_in):
                    addresses.append(ParameterAddress(index, neuron, source))
            for neuron in range(layer.n_out):
                addresses.append(ParameterAddress(index, neuron, None))
        return addresses

    def resolve(self, address: str | ParameterAddress) -> ParameterAddress:
        """Parse an address and check that it exists in this network."""
        parsed = ParameterAddress.parse(address) if isinstance(address, str) else address
        if parsed.layer >= len(self._layers):
            raise InputError(f"{parsed}: the network has {len(self._layers)} layers")
        layer = self._layers[parsed.layer]
        if parsed.neuron >= layer.n_out or (
            parsed.source is not None and parsed.source >= layer.n_in
        ):
            raise InputError(
                f"{parsed}: layer {parsed.layer + 1} has {layer.n_out} neurons "
                f"with {layer.n_in} inputs each"
            )
        return parsed

    def parameter(self, address: str | ParameterAddress) -> float:
        parsed = self.resolve(address)
        layer = self._layers[parsed.layer]
        if parsed.source is None:
            return float(layer.bias[parsed.neuron])
        return float(layer.weight[parsed.neuron, parsed.source])

    def with_parameters(self, values: Mapping[str | ParameterAddress, float]) -> Network:
        """A new network with the given parameters replaced, rounded to this precision."""
        weights = [
            layer.weight.tolil() if layer.is_sparse else layer.weight.copy()
            for layer in self._layers
        ]
        biases = [layer.bias.copy() for layer in self._layers]
        for address, value in values.items():
            parsed = self.resolve(address)
            if parsed.source is None:
                biases[parsed.layer][parsed.neuron] = value
            else:
                weights[parsed.layer][parsed.neuron, parsed.source] = value
        return Network(list(zip(weights, biases, strict=True)), self.precision)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network) or len(other.layers) != len(self._layers):
            return False
        return all(
            _same(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
            for a, b in zip(self._layers, other.layers, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Network({'-'.join(str(size) for size in self.shape)}, {self.precision})"
