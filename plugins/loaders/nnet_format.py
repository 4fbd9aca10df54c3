"""The ``.nnet`` text format of Reluplex and the original ACAS Xu networks.

Layout: ``//`` comment lines, then comma-separated lines: ``numLayers, inputSize, outputSize,
maxLayerSize``; the ``numLayers + 1`` layer sizes; a (legacy) symmetric flag; the input
minimums, maximums, means and ranges (means and ranges have one extra entry for the outputs);
then per layer its weight rows and its biases, one per line.

Only the raw layers are loaded: nnv keeps no normalisation, so inputs are taken as already
normalised and outputs as not de-normalised, as in VNN-COMP (whose ACAS Xu properties are
stated over normalised values). The saver writes neutral normalisation (float32-sized bounds,
zero means, unit ranges) so other tools read the same function; floats are written with
``repr`` so a save-load round trip is exact.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np

from nnv.core import InputError, Network, NetworkLoader, NetworkSaver, hookimpl
from nnv.core.runtime.files import write_atomic

_HEADER_LINES = 7  # sizes, layer sizes, symmetric flag, mins, maxes, means, ranges
_BOUND = float(np.finfo(np.float32).max)


def _numbers(line: str) -> list[float]:
    return [float(token) for token in line.replace(",", " ").split()]


def _layer_sizes(header: list[list[float]]) -> list[int]:
    """The layer sizes, input first, after checking them against the first header line."""
    if len(header[0]) < 3:
        raise InputError("the first line must give numLayers, inputSize, outputSize")
    n_layers, n_in, n_out = (int(value) for value in header[0][:3])
    sizes = [int(value) for value in header[1]]
    if n_layers < 1 or len(sizes) != n_layers + 1 or min(sizes) < 1:
        raise InputError(f"expected {n_layers + 1} positive layer sizes, got {header[1]}")
    if (sizes[0], sizes[-1]) != (n_in, n_out):
        raise InputError(f"layer sizes {sizes} do not match inputSize {n_in}, outputSize {n_out}")
    if [len(row) for row in header[3:7]] != [n_in, n_in, n_in + 1, n_in + 1]:
        raise InputError("the mins, maxes, means and ranges lines have the wrong lengths")
    return sizes


def network_from_text(text: str) -> Network:
    """Parse ``.nnet`` text into a network (normalisation values are read and dropped)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("//")]
    if len(lines) < _HEADER_LINES:
        raise InputError("the file ends inside its header")
    try:
        header = [_numbers(line) for line in lines[:_HEADER_LINES]]
        values = np.array(_numbers(" ".join(lines[_HEADER_LINES:])), dtype=np.float64)
    except ValueError as error:
        raise InputError(f"a value is not a number ({error})") from None
    sizes = _layer_sizes(header)
    expected = sum(n_out * (n_in + 1) for n_in, n_out in pairwise(sizes))
    if values.size != expected:
        raise InputError(f"expected {expected} weights and biases, found {values.size}")
    layers, start = [], 0
    for n_in, n_out in pairwise(sizes):
        weight = values[start : start + n_out * n_in].reshape(n_out, n_in)
        start += n_out * n_in
        layers.append((weight, values[start : start + n_out]))
        start += n_out
    return Network(layers)


def _line(values: np.ndarray | list[float]) -> str:
    return ",".join(map(repr, np.asarray(values, dtype=np.float64).tolist())) + ","


def network_to_text(network: Network) -> str:
    """``.nnet`` text for ``network`` with neutral normalisation."""
    network = network.as_dense("the .nnet saver")
    sizes = list(network.shape)
    n_in, n_out = network.n_inputs, network.n_outputs
    lines = [
        "// written by nnv; inputs are used as given (neutral normalisation)",
        f"{len(network.layers)},{n_in},{n_out},{max(sizes)},",
        ",".join(map(str, sizes)) + ",",
        "0,",
        _line([-_BOUND] * n_in),
        _line([_BOUND] * n_in),
        _line([0.0] * (n_in + 1)),
        _line([1.0] * (n_in + 1)),
    ]
    for layer in network.layers:
        lines.extend(_line(row) for row in layer.weight)
        lines.extend(_line([value]) for value in layer.bias.tolist())
    return "\n".join(lines) + "\n"


class NnetLoader(NetworkLoader):
    """Reluplex / ACAS Xu ``.nnet`` text networks (inputs taken as already normalised)."""

    suffixes = (".nnet",)
    description = "Reluplex/ACAS Xu .nnet text (normalisation ignored)"

    def load(self, path: Path) -> Network:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: cannot read ({error})") from None
        try:
            return network_from_text(text)
        except InputError as error:
            raise InputError(f"{path}: {error}") from None


class NnetSaver(NetworkSaver):
    """Reluplex / ACAS Xu ``.nnet`` text networks (exact round trip)."""

    suffixes = (".nnet",)
    description = "Reluplex/ACAS Xu .nnet text (neutral normalisation)"

    def save(self, network: Network, path: Path) -> None:
        write_atomic(Path(path), network_to_text(network).encode("utf-8"))


@hookimpl
def nnv_network_loaders() -> dict[str, type]:
    return {"nnet": NnetLoader}


@hookimpl
def nnv_network_savers() -> dict[str, type]:
    return {"nnet": NnetSaver}
