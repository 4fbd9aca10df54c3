"""One repair run end to end: load the inputs, search over free sets, write the results folder.

This is what ``nnv run`` does, with the command line left out. :func:`run_repair` hands the run
to its repair method (``config.method``, a plugin: see :mod:`nnv.core.plugin.method`); the built-in
``solver`` method is :func:`search_repair` here. The plugins are looked up in a
:class:`~nnv.core.plugin.registry.Registry` by name, trials run on an executor (each in a process of
its own, several at once) through :class:`~nnv.core.repair.loop.Repairer`, and the folder ``out``
receives ``run.json`` (what the trials depend on), ``trials.csv`` (rewritten atomically as each
trial finishes), ``result.json`` and, when a trial repaired the network, ``repaired.onnx``.

Resuming: when ``out`` already holds a ``run.json`` equal to this run's and its ``trials.csv``,
the trials recorded there are not run again but taken as they are, so the same command after
Ctrl-C, a crash or a killed worker goes on where it stopped and ends with the same best result.
The search options are not part of ``run.json``: a larger search resumes from a smaller one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from nnv.core.errors import CapabilityError, InputError
from nnv.core.model.network import Network, ParameterAddress
from nnv.core.plugin.executor import Executor
from nnv.core.plugin.options import accepts
from nnv.core.plugin.registry import Registry
from nnv.core.plugin.search import SearchStrategy, best
from nnv.core.repair.free import select
from nnv.core.repair.loop import Repairer
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import RunConfig
from nnv.core.run.fingerprint import fingerprint
from nnv.core.run.results import RunOutcome, write_outputs
from nnv.core.run.trials import TrialTable
from nnv.plugins.methods.solver.build import build_run
from nnv.plugins.methods.solver.job import RepairJob
from nnv.plugins.methods.solver.options import SolverOptions
from nnv.plugins.methods.solver.result import partial, search_result


def search_repair(
    config: RunConfig,
    options: SolverOptions,
    registry: Registry,
    on_trial: Callable[[TrialResult], None] | None = None,
    on_planned: Callable[[int | None], None] | None = None,
) -> RunOutcome:
    """The ``solver`` method: search over free sets, each a trial of the repair engine."""
    start = time.monotonic()
    deadline = None if config.timeout is None else start + config.timeout
    inputs, heuristic, repairer = build_run(config, options, registry)
    options = _resolved(options, inputs.network)
    plan = _search_plan(options)
    strategy: SearchStrategy = registry.create("search", *plan)
    strategy.prepare(inputs.properties)
    _check_given_sets(options, repairer)
    trial_settings = fingerprint(config, options, heuristic, repairer)
    with _executor(options, registry) as executor:
        job = RepairJob(config, options, repairer)
        trials = TrialTable(
            config, job, executor, deadline, registry, on_trial, on_planned, options.trial_timeout
        )
        trials.begin(_planned_count(options, inputs.network), trial_settings, inputs.network)
        strategy.search(inputs.network, trials.evaluate, deadline)
    chosen = _confirmed_best(trials, repairer)
    trials.finish()
    repaired = _repaired_network(inputs.network, chosen)
    seconds = time.monotonic() - start
    built = (heuristic, repairer)
    result = search_result(trials, options, plan, inputs, built, chosen, repaired, seconds)
    found = None if repaired is not None else partial(trials)
    unverified = None if found is None else _repaired_network(inputs.network, found)
    write_outputs(config.out, registry, result, repaired, unverified)
    return RunOutcome(result, inputs.network, repaired, inputs.properties, inputs.data, trials.done)


def _resolved(options: SolverOptions, network: Network) -> SolverOptions:
    """The options with their named free sets as addresses: globs, layers and neurons
    expanded (an ``InputError`` for one that names nothing in ``network``)."""
    one = options.selectors()
    free = None if one is None else select(network, one)
    sets = None if options.free_sets is None else [select(network, s) for s in options.free_sets]
    return replace(options, free=free, free_sets=sets, free_layers=None, free_neurons=None)


def _executor(options: SolverOptions, registry: Registry) -> Executor:
    """The executor with ``workers``, its own options and, for executors that take one,
    ``scheduler``."""
    factory = registry.get("executor", options.executor).factory
    chosen: dict[str, Any] = {"workers": options.workers, **options.executor_options}
    if options.scheduler is not None:
        if not accepts(factory, "scheduler"):
            raise InputError(f"executor {options.executor!r} takes no scheduler address")
        chosen["scheduler"] = options.scheduler
    executor: Executor = registry.create("executor", options.executor, chosen)
    return executor


def _search_plan(options: SolverOptions) -> tuple[str, dict[str, Any]]:
    """Named free sets run exactly (exhaustive over them); otherwise the chosen search. The
    search's own options (``-o search.KEY=VALUE``) come last."""
    sets = options.given_sets()
    if sets is not None:
        return "exhaustive", {"free_sets": sets, **options.search_options}
    plan: dict[str, Any] = {"max_free": options.max_free, "layers": options.layers}
    if options.top_k is not None:
        plan["top_k"] = options.top_k
    if options.target_accuracy is not None:
        plan["target_accuracy"] = options.target_accuracy
    return options.search, {**plan, **options.search_options}


def _check_given_sets(options: SolverOptions, repairer: Repairer) -> None:
    """Named free sets are checked before anything is written: unknown addresses are bad input
    always, and a solver that cannot take the one named set is the user's mistake."""
    sets = options.given_sets()
    for names in sets or ():
        try:
            repairer.check(names)
        except CapabilityError:
            if len(sets or ()) == 1:
                raise


def _planned_count(options: SolverOptions, network: Network) -> int | None:
    """How many trials the run will make if nothing stops it, where that is known up front."""
    sets = options.given_sets()
    if sets is not None:
        return len({frozenset(s) for s in sets})
    if options.search == "exhaustive":
        n = len(network.parameter_addresses(layers=options.layers))
        return sum(math.comb(n, k) for k in range(1, options.max_free + 1))
    return None


def _confirmed_best(trials: TrialTable, repairer: Repairer) -> TrialResult | None:
    """The best repaired trial, certified by this process.

    Trials run now were certified where they ran; a repaired row read back from trials.csv is
    only a claim, so the best one is certified again (its accuracy and kept count recomputed)
    before it can be chosen. One that fails is demoted to ``not_repaired`` in trials.csv and
    listed in the result, and the next best is tried.
    """
    confirmed: set[int] = set()
    while True:
        chosen = best(trials.done)
        if chosen is None or not trials.is_resumed(chosen) or id(chosen) in confirmed:
            return chosen
        checked = repairer.recertify(chosen)
        trials.replace(chosen, checked)
        confirmed.add(id(checked))
        if not checked.repaired:
            trials.demoted.append({"free": list(chosen.free), "message": checked.message})


def _repaired_network(network: Network, chosen: TrialResult | None) -> Network | None:
    if chosen is None:
        return None
    values: dict[str | ParameterAddress, float] = {a: v for a, v in chosen.values.items()}
    return network.with_parameters(values)
