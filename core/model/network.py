"""Feed-forward ReLU networks: dense layers in float64, ReLU on every layer but the last.

Parameters are addressed as in the repair paper, 1-based: ``w<L>.<N>.<I>`` is the weight
from input I into neuron N of layer L, ``b<L>.<N>`` the bias of neuron N of layer L.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nnv.core.errors import InputError
from nnv.core.model.decision import DEFAULT_DECISION, Decision, decide

_ADDRESS = re.compile(r"^(?:w(\d+)\.(\d+)\.(\d+)|b(\d+)\.(\d+))$")


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
    """A dense layer ``z = W a + b``; ``W`` has shape (outputs, inputs)."""

    weight: np.ndarray
    bias: np.ndarray

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])


class Network:
    """An immutable feed-forward ReLU network."""

    def __init__(self, layers: Sequence[tuple[np.ndarray, np.ndarray]] | Sequence[Layer]):
        built: list[Layer] = []
        for index, item in enumerate(layers):
            raw_weight, raw_bias = (
                (item.weight, item.bias) if isinstance(item, Layer) else tuple(item)  # type: ignore[arg-type]
            )
            weight = np.array(raw_weight, dtype=np.float64)
            bias = np.array(raw_bias, dtype=np.float64).reshape(-1)
            if weight.ndim != 2 or bias.shape[0] != weight.shape[0]:
                raise InputError(
                    f"layer {index + 1}: weight {weight.shape} and bias {bias.shape} do not fit"
                )
            if built and built[-1].n_out != weight.shape[1]:
                raise InputError(
                    f"layer {index + 1} takes {weight.shape[1]} inputs but layer {index} "
                    f"gives {built[-1].n_out}"
                )
            if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
                raise InputError(f"layer {index + 1} has NaN or infinite parameters")
            weight.setflags(write=False)
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
        return sum(layer.weight.size + layer.bias.size for layer in self._layers)

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Outputs for a batch ``(m, n_inputs)`` or a single input ``(n_inputs,)``."""
        values = np.asarray(inputs, dtype=np.float64)
        single = values.ndim == 1
        values = np.atleast_2d(values)
        if values.shape[1] != self.n_inputs:
            raise InputError(f"the network takes {self.n_inputs} inputs, got {values.shape[1]}")
        for index, layer in enumerate(self._layers):
            values = values @ layer.weight.T + layer.bias
            if index < len(self._layers) - 1:
                values = np.maximum(values, 0.0)
        return values[0] if single else values

    def activations(self, inputs: np.ndarray) -> list[np.ndarray]:
        """Pre-activation values of every layer for a batch (the last is the output)."""
        values = np.atleast_2d(np.asarray(inputs, dtype=np.float64))
        result = []
        for index, layer in enumerate(self._layers):
            values = values @ layer.weight.T + layer.bias
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
        """A new network with the given parameters replaced."""
        weights = [layer.weight.copy() for layer in self._layers]
        biases = [layer.bias.copy() for layer in self._layers]
        for address, value in values.items():
            parsed = self.resolve(address)
            if parsed.source is None:
                biases[parsed.layer][parsed.neuron] = value
            else:
                weights[parsed.layer][parsed.neuron, parsed.source] = value
        return Network(list(zip(weights, biases, strict=True)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network) or len(other.layers) != len(self._layers):
            return False
        return all(
            np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
            for a, b in zip(self._layers, other.layers, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Network({'-'.join(str(size) for size in self.shape)})"
