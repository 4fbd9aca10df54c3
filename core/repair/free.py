"""The parameters a repair may change, and how far.

Free parameters enter as offsets ``delta = p - p_original`` within per-parameter limits (see
:func:`change_limits`). A free weight that reads an activation another free parameter
changes makes synthesis bilinear (:func:`is_bilinear`).

Users name them by address (``w7.3.12``), by glob over addresses (``w7.*.*``: every weight of
layer 7), by layer (:func:`layer_selectors`) or by neuron (:func:`neuron_selectors`: its
incoming weights and bias); :func:`select` turns any mix into the addresses, in the paper's
order.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnv.core.errors import InputError
from nnv.core.model.network import Network, ParameterAddress


@dataclass(frozen=True)
class FreeParameters:
    """The parameters a repair may change, with their original values."""

    addresses: tuple[ParameterAddress, ...]
    original: np.ndarray

    @classmethod
    def of(cls, network: Network, names: list[str] | tuple[str, ...]) -> FreeParameters:
        if not names:
            raise InputError("no free parameters given")
        addresses = tuple(network.resolve(name) for name in names)
        if len(set(addresses)) != len(addresses):
            raise InputError(f"a free parameter is listed twice: {', '.join(names)}")
        return cls(addresses, np.array([network.parameter(a) for a in addresses]))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(str(a) for a in self.addresses)

    def in_layer(self, layer: int) -> list[int]:
        return [j for j, a in enumerate(self.addresses) if a.layer == layer]


_GLOB_CHARACTERS = frozenset("*?[")
_LAYER_PREFIX = re.compile(r"^[wb](\d+)\.")
_NEURON = re.compile(r"^(\d+)\.(\d+)$")


def layer_selectors(layer: int) -> list[str]:
    """Every weight and bias of 1-based ``layer``, as globs."""
    if isinstance(layer, bool) or not isinstance(layer, int) or layer < 1:
        raise InputError(f"a free layer is a layer number from 1, not {layer!r}")
    return [f"w{layer}.*.*", f"b{layer}.*"]


def neuron_selectors(neuron: str) -> list[str]:
    """Neuron ``"L.N"`` (1-based): its incoming weights and its bias, as globs."""
    match = _NEURON.match(str(neuron).strip())
    if not match or min(int(match.group(1)), int(match.group(2))) < 1:
        raise InputError(f"a free neuron is <layer>.<neuron> from 1 (6.30), not {neuron!r}")
    layer, index = match.group(1), match.group(2)
    return [f"w{layer}.{index}.*", f"b{layer}.{index}"]


def select(network: Network, selectors: Sequence[str]) -> list[str]:
    """The addresses ``selectors`` name (addresses or globs over them), in the paper's order,
    each once. A selector that names nothing in ``network`` is an ``InputError``."""
    if not selectors:
        raise InputError("no free parameters given")
    order = {address: i for i, address in enumerate(network.parameter_addresses())}
    chosen: set[ParameterAddress] = set()
    for selector in selectors:
        text = selector.strip()
        if _GLOB_CHARACTERS.isdisjoint(text):
            chosen.add(network.resolve(text))
            continue
        matched = [a for a in _scope(network, text) if fnmatch.fnmatchcase(str(a), text)]
        if not matched:
            raise InputError(f"free parameters {text!r} match no parameter of the network")
        chosen.update(matched)
    return [str(address) for address in sorted(chosen, key=order.__getitem__)]


def _scope(network: Network, glob: str) -> list[ParameterAddress]:
    """The addresses a glob may match: one layer's when it names the layer outright."""
    prefix = _LAYER_PREFIX.match(glob)
    if prefix is None:
        return network.parameter_addresses()
    layer = int(prefix.group(1))
    if not 1 <= layer <= len(network.layers):
        raise InputError(f"free parameters {glob!r}: the network has {len(network.layers)} layers")
    return network.parameter_addresses([layer])


def change_limits(
    network: Network, free: FreeParameters, max_change: float, X: np.ndarray
) -> np.ndarray:
    """How far each free parameter may move: its effect on its neuron stays within ``max_change``.

    A bias moves by at most ``max_change``; a weight by ``max_change / s``, where ``s`` is the
    largest magnitude (at least 1) of the activation it reads over the inputs ``X``. Scale-free
    limits keep first-layer weights, which multiply raw inputs, from getting huge big-M values.
    """
    activations = [np.atleast_2d(X), *(np.maximum(z, 0.0) for z in network.activations(X)[:-1])]
    limits = np.full(len(free.addresses), float(max_change))
    for j, address in enumerate(free.addresses):
        if address.source is not None:
            reads = activations[address.layer][:, address.source]
            scale = float(np.max(np.abs(reads))) if reads.size else 1.0
            limits[j] = max_change / max(scale, 1.0)
    return limits


def affected_neurons(network: Network, free: FreeParameters) -> list[np.ndarray]:
    """Per layer, which neurons' pre-activations depend on a free parameter."""
    affected: list[np.ndarray] = []
    previous = np.zeros(network.n_inputs, dtype=bool)
    for index, layer in enumerate(network.layers):
        mask = (layer.weight[:, previous] != 0).any(axis=1)
        for j in free.in_layer(index):
            mask[free.addresses[j].neuron] = True
        affected.append(mask)
        previous = mask
    return affected


def is_bilinear(network: Network, free: FreeParameters) -> bool:
    """Whether some free weight reads an activation that another free parameter changes."""
    affected = affected_neurons(network, free)
    for address in free.addresses:
        if address.source is not None and address.layer > 0:
            if affected[address.layer - 1][address.source]:
                return True
    return False
