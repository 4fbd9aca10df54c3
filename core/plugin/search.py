"""Search strategies: which sets of free parameters to try, learning from each trial's result.

A strategy is given ``evaluate``, which runs a batch of trials (one per free set) wherever the
executor runs them and returns their results in order; the strategy decides what to try next.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.repair.trial import FreeSet, TrialResult

Evaluate = Callable[[Sequence[FreeSet]], list[TrialResult]]


class SearchStrategy(abc.ABC):
    """Base class of search plugins; options in the constructor."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(
        self,
        max_free: int = 1,
        layers: Sequence[int] | None = None,
        **options: Any,
    ) -> None:
        self.max_free = max_free
        self.layers = None if layers is None else list(layers)
        self.options = options
        self.properties: list[Property] = []

    def prepare(self, properties: Sequence[Property]) -> None:
        """Hear the run's properties before :meth:`search` (a strategy may rank parameters by
        how the network violates them)."""
        self.properties = list(properties)

    @abc.abstractmethod
    def search(
        self, network: Network, evaluate: Evaluate, deadline: float | None
    ) -> list[TrialResult]:
        """Run trials through ``evaluate`` until done or ``deadline`` (``time.monotonic()``)
        passes; return every result."""


def best(results: Sequence[TrialResult]) -> TrialResult | None:
    """The repaired trial with the highest accuracy (ties: fewer free parameters, then sooner)."""
    repaired = [r for r in results if r.repaired and r.accuracy is not None]
    if not repaired:
        return None
    return max(repaired, key=lambda r: (r.accuracy, -len(r.free)))
