"""What the Python API accepts for a network, a property and data, turned into nnv's models.

A network is a :class:`Network`, a file (.onnx, .json, .nnet) or a ``torch.nn.Sequential``
of Linear and ReLU layers; a property a :class:`Property` or a .vnnlib file; data a
:class:`Dataset`, a file (.npz, .csv) or a mapping of split name to ``(X, y)``. The engines
that run a repair read files (a run is resumable from its folder), so :func:`write_inputs`
puts in-memory inputs into a folder the run then names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from nnv.core.errors import InputError
from nnv.core.model.dataset import Dataset
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.registry import Registry, default_registry

NetworkLike: TypeAlias = "Network | str | Path | Any"  # Any: a torch.nn.Sequential
PropertyLike: TypeAlias = "Property | str | Path"
DataLike: TypeAlias = "Dataset | str | Path | Mapping[str, tuple[Any, Any]]"


def load_network(path: str | Path) -> Network:
    """The network in ``path`` (.onnx, .json or .nnet; any installed loader)."""
    return default_registry().load_network(path)


def load_property(path: str | Path, name: str | None = None) -> Property:
    """The property in ``path`` (.vnnlib; any installed loader), named ``name`` or its stem."""
    return default_registry().load_property(path, name)


def as_network(network: NetworkLike, registry: Registry) -> Network:
    if isinstance(network, Network):
        return network
    if isinstance(network, str | Path):
        return registry.load_network(network)
    if type(network).__module__.startswith("torch"):
        from nnv.core.model.torch_bridge import from_sequential

        return from_sequential(network)
    raise InputError(
        f"a network is a Network, a file or a torch.nn.Sequential, not {type(network).__name__}"
    )


def as_property(prop: PropertyLike, registry: Registry) -> Property:
    if isinstance(prop, Property):
        return prop
    if isinstance(prop, str | Path):
        return registry.load_property(prop)
    raise InputError(f"a property is a Property or a .vnnlib file, not {type(prop).__name__}")


def as_data(data: DataLike) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, str | Path):
        return Dataset.load(data)
    if isinstance(data, Mapping):
        splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for split, pair in data.items():
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise InputError(f"data split {split!r} must be a pair (X, y)")
            splits[str(split)] = (np.asarray(pair[0]), np.asarray(pair[1]))
        return Dataset.from_arrays(splits, "data")
    raise InputError(
        "data is a Dataset, a .npz/.csv file or a mapping of split name to (X, y), "
        f"not {type(data).__name__}"
    )


@dataclass(frozen=True)
class InputFiles:
    """The files a run reads: the user's own where they gave files, else written here."""

    network: Path
    properties: list[Path]
    data: Path


def write_inputs(
    network: NetworkLike,
    properties: PropertyLike | Sequence[PropertyLike],
    data: DataLike,
    folder: Path,
    registry: Registry,
) -> InputFiles:
    """Files for the inputs: paths given stay as they are; objects are written into
    ``folder`` (the network as ONNX in float64, so nothing is rounded)."""
    from nnv.plugins.loaders.vnnlib_write import write_vnnlib

    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(network, str | Path):
        network_file = Path(network)
    else:
        network_file = folder / "input_network.onnx"
        registry.save_network(as_network(network, registry), network_file)
    listed = [properties] if isinstance(properties, Property | str | Path) else list(properties)
    property_files = []
    for index, prop in enumerate(listed):
        if isinstance(prop, str | Path):
            property_files.append(Path(prop))
            continue
        loaded = as_property(prop, registry)
        path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', loaded.name)}.vnnlib"
        if path in property_files:
            path = folder / f"{path.stem}_{index}.vnnlib"
        write_vnnlib(loaded, path)
        property_files.append(path)
    if isinstance(data, str | Path):
        data_file = Path(data)
    else:
        data_file = folder / "input_data.npz"
        as_data(data).save_npz(data_file)
    return InputFiles(network_file, property_files, data_file)
