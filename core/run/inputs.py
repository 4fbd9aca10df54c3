"""A run's network, properties and data, loaded and checked against each other."""

from __future__ import annotations

from dataclasses import dataclass

from nnv.core.errors import InputError
from nnv.core.model.dataset import Dataset
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.registry import Registry
from nnv.core.run.config import RunConfig


@dataclass
class Inputs:
    """A run's network, properties and data, loaded and checked against each other."""

    network: Network
    properties: list[Property]
    data: Dataset


def load_inputs(config: RunConfig, registry: Registry) -> Inputs:
    """The network, properties and data ``config`` names; an ``InputError`` if they do not fit."""
    if not config.properties:
        raise InputError("a run needs at least one property")
    network = registry.load_network(config.network)
    properties = [registry.load_property(path) for path in config.properties]
    data = Dataset.load(config.data)
    if data.n_features != network.n_inputs:
        raise InputError(
            f"{config.data}: the data has {data.n_features} features, but the network has "
            f"{network.n_inputs} inputs"
        )
    data.check_labels(network.n_outputs, str(config.data))
    if "train" in data.splits and not data.splits["train"][0].shape[0]:
        raise InputError(f"{config.data}: the train split is empty")
    return Inputs(network, properties, data)
