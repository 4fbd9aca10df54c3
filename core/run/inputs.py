"""A run's network, properties and data, loaded and checked against each other (and, with
``--partition``, the properties cut into boxes: :mod:`nnv.core.run.regions`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nnv.core.errors import InputError
from nnv.core.model.dataset import Dataset
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.registry import Registry
from nnv.core.run.config import RunConfig
from nnv.core.run.regions import Partition, partition


@dataclass
class Inputs:
    """A run's network, properties and data, loaded and checked against each other."""

    network: Network
    properties: list[Property]  # with --partition: the boxes to repair
    data: Dataset
    partition: Partition | None = field(default=None)


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
    if config.partition is None:
        return Inputs(network, properties, data)
    for prop in properties:
        prop.check_fits(network.n_inputs, network.n_outputs)
    parts = partition(
        network,
        properties,
        config.partition,
        config.repair_boxes,
        config.partition_samples,
        config.seed,
    )
    return Inputs(network, parts.repair, data, parts)
