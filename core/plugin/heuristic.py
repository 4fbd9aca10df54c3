"""Similarity heuristics: soft constraints that keep a repaired network close to the original.

A heuristic turns the original network and its data into :class:`SoftConstraints`: points
that should keep their label, and regions (input pieces) every point of which should get a
label. Repair keeps as many of them as it can while the properties hold everywhere.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from nnv.core.model.dataset import Dataset
from nnv.core.model.network import Network
from nnv.core.model.property import InputPiece


@dataclass(frozen=True)
class SoftConstraints:
    """``points[i]`` should be classified ``labels[i]``; every x in ``regions[r]`` as
    ``region_labels[r]``."""

    points: np.ndarray
    labels: np.ndarray
    regions: tuple[InputPiece, ...] = ()
    region_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def count(self) -> int:
        return int(self.points.shape[0]) + len(self.regions)


class Heuristic(abc.ABC):
    """Base class of heuristic plugins; options in the constructor."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abc.abstractmethod
    def constraints(self, network: Network, data: Dataset) -> SoftConstraints:
        """The soft constraints for repairing ``network``, built from ``data``."""
