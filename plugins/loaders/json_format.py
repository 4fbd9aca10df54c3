"""The nnv JSON network format: human-readable, exact, no dependencies.

``{"format": "nnv-network", "version": 1, "layers": [{"weight": [[...]], "bias": [...]}]}``,
one entry per dense layer, ``weight`` of shape (outputs, inputs), ReLU on every layer but the
last. Python's ``json`` writes floats with ``repr``, so a save-load round trip is exact.

"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nnv.core import InputError, Network, NetworkLoader, NetworkSaver, hookimpl
from nnv.core.runtime.files import write_atomic

FORMAT = "nnv-network"
VERSION = 1


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not a number JSON allows")


def _numeric_array(value: Any, ndim: int, what: str) -> np.ndarray:
    """``value`` as a float64 array of rank ``ndim``; strings, booleans and ragged lists fail."""
    try:
        array = np.asarray(value)
    except ValueError:
        raise InputError(f"{what} is a ragged list") from None
    if array.dtype.kind not in "iuf" or array.ndim != ndim:
        shape = "a list of rows of numbers" if ndim == 2 else "a list of numbers"
        raise InputError(f"{what} must be {shape}")
    return array.astype(np.float64)


def _layer(entry: Any, index: int) -> tuple[np.ndarray, np.ndarray]:
    where = f"layer {index + 1}"
    if not isinstance(entry, dict) or not {"weight", "bias"} <= entry.keys():
        raise InputError(f"{where} must be an object with 'weight' and 'bias'")
    weight = _numeric_array(entry["weight"], 2, f"{where}: 'weight'")
    bias = _numeric_array(entry["bias"], 1, f"{where}: 'bias'")
    return weight, bias


def network_from_document(document: Any) -> Network:
    """Check a parsed JSON document and build the network it describes."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f'not an nnv network: expected an object with "format": "{FORMAT}"')
    if document.get("version") != VERSION:
        raise InputError(f"unsupported version {document.get('version')!r} (expected {VERSION})")
    layers = document.get("layers")
    if not isinstance(layers, list) or not layers:
        raise InputError("'layers' must be a non-empty list")
    return Network([_layer(entry, index) for index, entry in enumerate(layers)])


def network_to_text(network: Network) -> str:
    """The JSON text of ``network``, one layer per line."""
    network = network.as_dense("the JSON saver")
    layers = ",\n".join(
        "    "
        + json.dumps(
            {"weight": layer.weight.tolist(), "bias": layer.bias.tolist()}, allow_nan=False
        )
        for layer in network.layers
    )
    return f'{{"format": "{FORMAT}", "version": {VERSION}, "layers": [\n{layers}\n]}}\n'


class JsonLoader(NetworkLoader):
    """nnv's JSON network format."""

    suffixes = (".json",)
    description = "nnv JSON network (layers of weight and bias)"

    def load(self, path: Path) -> Network:
        try:
            document = json.loads(
                Path(path).read_text(encoding="utf-8"), parse_constant=_reject_constant
            )
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise InputError(f"{path}: not valid JSON ({error})") from None
        try:
            return network_from_document(document)
        except InputError as error:
            raise InputError(f"{path}: {error}") from None


class JsonSaver(NetworkSaver):
    """nnv's JSON network format (exact round trip)."""

    suffixes = (".json",)
    description = "nnv JSON network (layers of weight and bias)"

    def save(self, network: Network, path: Path) -> None:
        write_atomic(Path(path), network_to_text(network).encode("utf-8"))


@hookimpl
def nnv_network_loaders() -> dict[str, type]:
    return {"json": JsonLoader}


@hookimpl
def nnv_network_savers() -> dict[str, type]:
    return {"json": JsonSaver}
