"""Exhaustive search: every set of 1..``max_free`` free parameters, smallest sets first.

Sets are proposed level by level (all singles, then all pairs, ...); within a level in the
paper's parameter order (``itertools.combinations`` over the addresses of the chosen layers,
so ``(w1.1.1, w1.1.2)`` comes before ``(w1.1.1, w1.2.1)``). They go to ``evaluate`` in batches
of ``batch_size``, which an executor may run in parallel, and are generated lazily: the pairs
of a large network are never all held in memory.

With ``free_sets`` it runs exactly those sets, in the order given, instead (``max_free`` and
``layers`` are then ignored); each set is a list of addresses or one comma-separated string,
and a set given twice (in any order) runs once.

Stopping: the deadline is checked before each batch, so a deadline already passed evaluates
nothing and a batch once started is finished. ``target_accuracy`` stops after the batch in
which a repaired trial reaches it.

The small helpers below are public because the ``greedy`` strategy, in the same package,
shares them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from nnv.core import InputError, Network, ParameterAddress, hookimpl
from nnv.core.plugin.search import Evaluate, SearchStrategy
from nnv.core.repair.trial import FreeSet, TrialResult

# -- option checks and helpers shared with greedy ----------------------------------------------


def reject_unknown(strategy: str, unknown: dict[str, Any]) -> None:
    """A misspelt option must fail loudly, not be silently ignored."""
    if unknown:
        raise InputError(f"{strategy} search: unknown option(s) {', '.join(sorted(unknown))}")


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return value


def fraction_or_none(name: str, value: Any) -> float | None:
    """An accuracy goal: a fraction in [0, 1], or None for no goal."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InputError(f"{name} must be an accuracy in [0, 1], got {value!r}")
    return float(value)


def layer_numbers(layers: Sequence[int] | None) -> list[int] | None:
    """1-based layer numbers, checked for form here and against the network in ``candidates``."""
    if layers is None:
        return None
    checked = [positive_int("each layer number", layer) for layer in layers]
    if not checked:
        raise InputError("layers must name at least one layer (or be omitted for all)")
    return sorted(set(checked))


def candidates(network: Network, layers: Sequence[int] | None) -> list[str]:
    """The addresses a search may free, in the paper's order; a missing layer is an error
    because ``parameter_addresses`` would silently skip it."""
    count = len(network.layers)
    missing = [layer for layer in layers or () if layer > count]
    if missing:
        raise InputError(f"layer {missing[0]} does not exist: the network has {count} layers")
    return [str(address) for address in network.parameter_addresses(layers=layers)]


def goal_reached(results: Iterable[TrialResult], goal: float | None) -> bool:
    return goal is not None and any(
        r.repaired and r.accuracy is not None and r.accuracy >= goal for r in results
    )


def run_in_batches(
    sets: Iterable[FreeSet],
    evaluate: Evaluate,
    deadline: float | None,
    batch_size: int,
    goal: float | None,
) -> tuple[list[TrialResult], bool]:
    """Evaluate ``sets`` batch by batch; also say whether the deadline or the goal cut it short."""
    results: list[TrialResult] = []
    iterator = iter(sets)
    while batch := list(itertools.islice(iterator, batch_size)):
        if deadline is not None and time.monotonic() >= deadline:
            return results, True
        batch_results = evaluate(batch)
        results.extend(batch_results)
        if goal_reached(batch_results, goal):
            return results, True
    return results, False


# -- the strategy -------------------------------------------------------------------------------


def _parse_free_sets(free_sets: Any) -> list[list[ParameterAddress]]:
    if isinstance(free_sets, str) or not isinstance(free_sets, Iterable):
        raise InputError("free_sets must be a list of sets of parameter addresses")
    parsed = []
    for entry in free_sets:
        texts = entry.split(",") if isinstance(entry, str) else list(entry)
        addresses = [ParameterAddress.parse(str(text)) for text in texts if str(text).strip()]
        if not addresses:
            raise InputError("free_sets: a set of free parameters is empty")
        if len(set(addresses)) != len(addresses):
            raise InputError(f"free_sets: {', '.join(map(str, addresses))} repeats a parameter")
        parsed.append(addresses)
    return parsed


def _in_network_order(network: Network, sets: list[list[ParameterAddress]]) -> list[FreeSet]:
    """Each set sorted in the paper's order (so equal sets compare equal), each set once."""
    index = {address: i for i, address in enumerate(network.parameter_addresses())}
    ordered: dict[FreeSet, None] = {}
    for addresses in sets:
        resolved = [network.resolve(address) for address in addresses]
        ordered[tuple(str(a) for a in sorted(resolved, key=index.__getitem__))] = None
    return list(ordered)


class ExhaustiveSearch(SearchStrategy):
    """Every set of 1..max_free parameters, smallest sets first (or exactly the given sets)."""

    name = "exhaustive"
    description = "every set of 1..max_free parameters, smallest sets first"

    def __init__(
        self,
        max_free: int = 1,
        layers: Sequence[int] | None = None,
        batch_size: int = 32,
        target_accuracy: float | None = None,
        free_sets: Iterable[Iterable[str] | str] | None = None,
        **unknown: Any,
    ) -> None:
        reject_unknown(self.name, unknown)
        super().__init__(positive_int("max_free", max_free), layer_numbers(layers))
        self.batch_size = positive_int("batch_size", batch_size)
        self.target_accuracy = fraction_or_none("target_accuracy", target_accuracy)
        self.free_sets = None if free_sets is None else _parse_free_sets(free_sets)

    def proposals(self, network: Network) -> Iterator[FreeSet]:
        """The sets this search tries, in order, if nothing stops it."""
        if self.free_sets is not None:
            return iter(_in_network_order(network, self.free_sets))
        addresses = candidates(network, self.layers)
        return itertools.chain.from_iterable(
            itertools.combinations(addresses, size) for size in range(1, self.max_free + 1)
        )

    def search(
        self, network: Network, evaluate: Evaluate, deadline: float | None
    ) -> list[TrialResult]:
        results, _ = run_in_batches(
            self.proposals(network), evaluate, deadline, self.batch_size, self.target_accuracy
        )
        return results


@hookimpl
def nnv_search_strategies() -> dict[str, type]:
    return {"exhaustive": ExhaustiveSearch}
