"""Greedy search: the repair paper's Algorithm 1, level by level from the best repairs.

As implemented:

1. Level 1 is every single parameter of the chosen layers (all layers by default), in the
   paper's parameter order.
2. After level i, rank its repaired trials by accuracy, highest first (a repaired trial without
   an accuracy ranks last; ties keep the order of evaluation) and keep the first ``top_k``.
   The *pool* is the union of the parameters of those sets.
3. Level i+1 is every (i+1)-set of pool parameters that contains at least one kept set: each
   kept set, taken in rank order, extended by each pool parameter it lacks, in the paper's
   order. A set already proposed (reached from two kept sets) is tried once. So with
   ``top_k=1`` the pool is the kept set itself and the search ends after level 1.
4. Stop after level ``max_free``; when a level has no repaired trial; when a level would be
   empty; when a repaired trial reaches ``target_accuracy`` (after the batch that holds it); or
   at the deadline, which is checked before each batch of ``batch_size`` sets (a deadline
   already passed evaluates nothing; a batch once started is finished).

Every result is returned, in the order evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from nnv.core import Network, hookimpl
from nnv.core.plugin.search import Evaluate, SearchStrategy
from nnv.core.repair.trial import FreeSet, TrialResult
from nnv.plugins.search.exhaustive import (
    candidates,
    fraction_or_none,
    layer_numbers,
    positive_int,
    reject_unknown,
    run_in_batches,
)


def top_repaired(results: Sequence[TrialResult], k: int) -> list[TrialResult]:
    """The k best repaired trials; ``sorted`` is stable, so ties keep evaluation order."""
    repaired = [r for r in results if r.repaired]
    ranked = sorted(repaired, key=lambda r: -math.inf if r.accuracy is None else -r.accuracy)
    return ranked[:k]


def extensions(kept: Sequence[TrialResult], order: dict[str, int]) -> list[FreeSet]:
    """Each kept set plus one parameter of the pool it lacks, each resulting set once."""
    pool = sorted({address for result in kept for address in result.free}, key=order.__getitem__)
    found: dict[FreeSet, None] = {}
    for result in kept:
        for address in pool:
            if address not in result.free:
                found[tuple(sorted((*result.free, address), key=order.__getitem__))] = None
    return list(found)


class GreedySearch(SearchStrategy):
    """The paper's Algorithm 1: grow the top-k repaired sets one parameter per level."""

    name = "greedy"
    description = "the paper's Algorithm 1: grow the top-k repaired sets one parameter per level"

    def __init__(
        self,
        max_free: int = 1,
        layers: Sequence[int] | None = None,
        top_k: int = 5,
        target_accuracy: float | None = None,
        batch_size: int = 32,
        **unknown: Any,
    ) -> None:
        reject_unknown(self.name, unknown)
        super().__init__(positive_int("max_free", max_free), layer_numbers(layers))
        self.top_k = positive_int("top_k", top_k)
        self.target_accuracy = fraction_or_none("target_accuracy", target_accuracy)
        self.batch_size = positive_int("batch_size", batch_size)

    def first_level(self, network: Network) -> list[FreeSet]:
        """Level 1: every single parameter of the chosen layers, in the paper's order."""
        return [(address,) for address in candidates(network, self.layers)]

    def search(
        self, network: Network, evaluate: Evaluate, deadline: float | None
    ) -> list[TrialResult]:
        order = {str(a): i for i, a in enumerate(network.parameter_addresses())}
        level = self.first_level(network)
        results: list[TrialResult] = []
        for size in range(1, self.max_free + 1):
            level_results, cut_short = run_in_batches(
                level, evaluate, deadline, self.batch_size, self.target_accuracy
            )
            results.extend(level_results)
            if cut_short or size == self.max_free:
                break
            level = extensions(top_repaired(level_results, self.top_k), order)
            if not level:
                break
        return results


@hookimpl
def nnv_search_strategies() -> dict[str, type]:
    return {"greedy": GreedySearch}
