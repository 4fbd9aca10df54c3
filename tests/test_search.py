"""Search strategies (exhaustive, greedy) against a fake, deterministic ``evaluate``.

The network has the paper's XOR shape, 2-4-2: 22 parameters, 12 in layer 1 (8 weights, 4
biases) and 10 in layer 2 (8 weights, 2 biases).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from conftest import random_network

from nnv.core import InputError, Network
from nnv.core.plugin.registry import default_registry
from nnv.core.plugin.search import best
from nnv.core.repair.trial import FreeSet, TrialResult
from nnv.plugins.search.exhaustive import ExhaustiveSearch
from nnv.plugins.search.greedy import GreedySearch

Score = Callable[[FreeSet], float | None]  # accuracy if the set repairs, else None


class FakeEvaluate:
    """Scores sets with ``score`` and records every batch, so tests can check what was asked."""

    def __init__(self, score: Score) -> None:
        self.score = score
        self.batches: list[list[FreeSet]] = []

    def __call__(self, sets: Sequence[FreeSet]) -> list[TrialResult]:
        self.batches.append(list(sets))
        return [self._trial(free) for free in sets]

    def _trial(self, free: FreeSet) -> TrialResult:
        accuracy = self.score(free)
        if accuracy is None:
            return TrialResult(free, "not_repaired")
        return TrialResult(free, "repaired", accuracy=accuracy)

    @property
    def evaluated(self) -> list[FreeSet]:
        return [free for batch in self.batches for free in batch]


@pytest.fixture
def xor_net() -> Network:
    return random_network(np.random.default_rng(7), (2, 4, 2))


@pytest.fixture
def order(xor_net: Network) -> list[str]:
    return [str(a) for a in xor_net.parameter_addresses()]


def repairs_with(singles: dict[str, float]) -> Score:
    """A set repairs iff it holds a repairing single; its accuracy is the best such single's,
    plus a small bonus per extra parameter, so bigger sets can do better."""

    def score(free: FreeSet) -> float | None:
        hits = [singles[a] for a in free if a in singles]
        return None if not hits else min(1.0, max(hits) + 0.01 * (len(free) - 1))

    return score


def nothing_repairs(free: FreeSet) -> None:
    return None


def assert_distinct_and_ordered(sets: list[FreeSet], order: list[str]) -> None:
    """No set twice, and each set's addresses in the paper's order."""
    assert len(set(sets)) == len(sets)
    for free in sets:
        assert list(free) == sorted(free, key=order.index)


# -- exhaustive -------------------------------------------------------------------------------


def test_exhaustive_tries_every_single_then_every_pair(xor_net: Network, order: list[str]) -> None:
    evaluate = FakeEvaluate(nothing_repairs)
    results = ExhaustiveSearch(max_free=2, batch_size=10).search(xor_net, evaluate, None)
    sets = evaluate.evaluated
    assert len(sets) == 22 + 231 == math.comb(22, 1) + math.comb(22, 2)  # XOR-B, Table 4
    assert_distinct_and_ordered(sets, order)
    assert [len(s) for s in sets] == [1] * 22 + [2] * 231
    assert sets[:22] == [(a,) for a in order]
    assert sets[22:24] == [(order[0], order[1]), (order[0], order[2])]
    assert all(len(batch) <= 10 for batch in evaluate.batches)
    assert [r.free for r in results] == sets


def test_exhaustive_default_batch_is_32(xor_net: Network) -> None:
    evaluate = FakeEvaluate(nothing_repairs)
    ExhaustiveSearch(max_free=2).search(xor_net, evaluate, None)
    assert [len(b) for b in evaluate.batches] == [32] * 7 + [253 - 7 * 32]


def test_exhaustive_restricted_to_layer_2(xor_net: Network) -> None:
    evaluate = FakeEvaluate(nothing_repairs)
    ExhaustiveSearch(max_free=2, layers=[2]).search(xor_net, evaluate, None)
    layer_2 = [str(a) for a in xor_net.parameter_addresses(layers=[2])]
    assert len(layer_2) == 10
    assert {a for s in evaluate.evaluated for a in s} == set(layer_2)
    assert len(evaluate.evaluated) == 10 + 45


def test_exhaustive_runs_exactly_the_given_sets(xor_net: Network) -> None:
    evaluate = FakeEvaluate(nothing_repairs)
    given = [["b2.1", "w1.1.1"], "w2.2.4", "w1.1.1 , b2.1", ("w1.3.2", "w2.1.3", "b1.4")]
    search = ExhaustiveSearch(max_free=1, layers=[2], batch_size=2, free_sets=given)
    search.search(xor_net, evaluate, None)
    # sorted into the paper's order; the repeated set (in another order) runs once
    assert evaluate.batches == [
        [("w1.1.1", "b2.1"), ("w2.2.4",)],
        [("w1.3.2", "b1.4", "w2.1.3")],
    ]


def test_a_passed_deadline_evaluates_nothing(xor_net: Network) -> None:
    for search in (ExhaustiveSearch(max_free=2), GreedySearch(max_free=2)):
        evaluate = FakeEvaluate(nothing_repairs)
        assert search.search(xor_net, evaluate, time.monotonic() - 1.0) == []
        assert evaluate.batches == []


def test_the_deadline_is_checked_before_each_batch(
    xor_net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = {"now": 0.0}

    def slow(free: FreeSet) -> None:
        clock["now"] += 1.0  # each trial takes a second

    evaluate = FakeEvaluate(slow)
    search = ExhaustiveSearch(max_free=2, batch_size=5)
    monkeypatch.setattr(time, "monotonic", lambda: clock["now"])
    search.search(xor_net, evaluate, deadline=12.0)
    # batches start at t = 0, 5 and 10; the one that would start at t = 15 does not
    assert [len(b) for b in evaluate.batches] == [5, 5, 5]


def test_exhaustive_stops_at_accuracy(xor_net: Network) -> None:
    evaluate = FakeEvaluate(repairs_with({"w1.3.1": 0.8, "b2.2": 0.97}))
    results = ExhaustiveSearch(max_free=2, batch_size=4, target_accuracy=0.95).search(
        xor_net, evaluate, None
    )
    # b2.2 is the 22nd parameter: the batch holding it (the 6th, sets 21-24) is the last
    assert len(results) == 24
    winner = best(results)
    assert winner is not None and winner.free == ("b2.2",) and winner.accuracy == 0.97


# -- greedy -----------------------------------------------------------------------------------


def test_greedy_level_1_is_every_single(xor_net: Network, order: list[str]) -> None:
    evaluate = FakeEvaluate(repairs_with({"w1.1.1": 0.9}))
    results = GreedySearch(max_free=1).search(xor_net, evaluate, None)
    assert [r.free for r in results] == [(a,) for a in order]


def test_greedy_level_2_extends_the_top_k_by_the_pool(xor_net: Network, order: list[str]) -> None:
    singles = {"w1.1.1": 0.70, "w1.2.2": 0.90, "b1.3": 0.80, "w2.1.4": 0.60, "b2.2": 0.85}
    evaluate = FakeEvaluate(repairs_with(singles))
    results = GreedySearch(max_free=2, top_k=3).search(xor_net, evaluate, None)
    sets = [r.free for r in results]
    assert_distinct_and_ordered(sets, order)
    assert sets[:22] == [(a,) for a in order]
    top = ["w1.2.2", "b2.2", "b1.3"]  # the three best singles, best first
    # every pair of the pool of three contains a top single: all three pairs, once each,
    # grouped by the top single they extend (the best first)
    assert sets[22:] == [("w1.2.2", "b1.3"), ("w1.2.2", "b2.2"), ("b1.3", "b2.2")]
    assert {a for s in sets[22:] for a in s} == set(top)


def test_greedy_with_a_pool_of_two_stops_after_one_pair(xor_net: Network, order: list[str]) -> None:
    singles = {a: 0.5 + 0.01 * i for i, a in enumerate(order[:6])}
    evaluate = FakeEvaluate(repairs_with(singles))
    results = GreedySearch(max_free=3, top_k=2).search(xor_net, evaluate, None)
    sets = [r.free for r in results]
    assert_distinct_and_ordered(sets, order)
    pairs = [s for s in sets if len(s) == 2]
    triples = [s for s in sets if len(s) == 3]
    top_singles = {order[5], order[4]}
    assert {a for s in pairs for a in s} == top_singles and len(pairs) == 1
    # one kept pair whose pool is itself: no triple can be built
    assert triples == []


def test_greedy_triples_come_only_from_top_pairs(xor_net: Network, order: list[str]) -> None:
    singles = {a: 0.5 + 0.01 * i for i, a in enumerate(order[:6])}
    evaluate = FakeEvaluate(repairs_with(singles))
    results = GreedySearch(max_free=3, top_k=3).search(xor_net, evaluate, None)
    by_size = {k: [r for r in results if len(r.free) == k] for k in (1, 2, 3)}
    top_pairs = [set(r.free) for r in sorted(by_size[2], key=lambda r: -r.accuracy)[:3]]
    pool = set().union(*top_pairs)
    assert by_size[3]
    for trial in by_size[3]:
        assert set(trial.free) <= pool
        assert any(pair < set(trial.free) for pair in top_pairs)


def test_greedy_stops_when_nothing_repairs(xor_net: Network) -> None:
    evaluate = FakeEvaluate(nothing_repairs)
    results = GreedySearch(max_free=3).search(xor_net, evaluate, None)
    assert len(results) == 22 and all(len(r.free) == 1 for r in results)


def test_greedy_stops_at_target_accuracy(xor_net: Network, order: list[str]) -> None:
    evaluate = FakeEvaluate(repairs_with({"w1.1.2": 0.99, "b2.1": 0.5}))
    results = GreedySearch(max_free=3, batch_size=8, target_accuracy=0.95).search(
        xor_net, evaluate, None
    )
    assert [r.free for r in results] == [(a,) for a in order[:8]]  # w1.1.2 is in batch 1


def test_greedy_ignores_failed_trials_when_ranking(xor_net: Network) -> None:
    def score(free: FreeSet) -> float | None:
        return 0.9 if free == ("w1.1.1",) or free == ("w2.1.1",) else None

    evaluate = FakeEvaluate(score)
    results = GreedySearch(max_free=2).search(xor_net, evaluate, None)
    assert [r.free for r in results[22:]] == [("w1.1.1", "w2.1.1")]


# -- registry and options ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exhaustive", "greedy"])
def test_strategies_come_from_the_registry(name: str, xor_net: Network) -> None:
    search = default_registry().get("search", name).factory(max_free=2)
    evaluate = FakeEvaluate(repairs_with({"w1.1.1": 0.9, "b1.1": 0.8}))
    results = search.search(xor_net, evaluate, None)
    assert search.name == name and len(results) == (253 if name == "exhaustive" else 23)


@pytest.mark.parametrize(
    ("factory", "options", "message"),
    [
        (ExhaustiveSearch, {"max_free": 0}, "max_free must be a positive integer"),
        (ExhaustiveSearch, {"max_free": True}, "max_free must be a positive integer"),
        (ExhaustiveSearch, {"batch_size": 0}, "batch_size must be a positive integer"),
        (ExhaustiveSearch, {"target_accuracy": 1.5}, "target_accuracy must be an accuracy"),
        (ExhaustiveSearch, {"layers": []}, "layers must name at least one layer"),
        (ExhaustiveSearch, {"layers": [0]}, "each layer number must be a positive integer"),
        (ExhaustiveSearch, {"free_sets": "w1.1.1"}, "free_sets must be a list"),
        (ExhaustiveSearch, {"free_sets": [[]]}, "a set of free parameters is empty"),
        (ExhaustiveSearch, {"free_sets": ["w1.1.1,w1.1.1"]}, "repeats a parameter"),
        (ExhaustiveSearch, {"free_sets": [["x9"]]}, "bad parameter address"),
        (ExhaustiveSearch, {"batchsize": 4}, "unknown option(s) batchsize"),
        (GreedySearch, {"top_k": 0}, "top_k must be a positive integer"),
        (GreedySearch, {"target_accuracy": "high"}, "target_accuracy must be an accuracy"),
        (GreedySearch, {"per_property": True}, "unknown option(s) per_property"),
    ],
)
def test_bad_options_are_one_clear_error(factory: type, options: dict, message: str) -> None:
    with pytest.raises(InputError) as caught:
        factory(**options)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (ExhaustiveSearch(layers=[3]), "layer 3 does not exist: the network has 2 layers"),
        (GreedySearch(layers=[1, 5]), "layer 5 does not exist"),
        (ExhaustiveSearch(free_sets=[["w3.1.1"]]), "w3.1.1: the network has 2 layers"),
        (ExhaustiveSearch(free_sets=[["w1.5.1"]]), "layer 1 has 4 neurons"),
    ],
)
def test_addresses_are_checked_against_the_network(
    search: ExhaustiveSearch | GreedySearch, message: str, xor_net: Network
) -> None:
    evaluate = FakeEvaluate(nothing_repairs)
    with pytest.raises(InputError) as caught:
        search.search(xor_net, evaluate, None)
    assert message in str(caught.value) and evaluate.batches == []
