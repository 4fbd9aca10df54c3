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
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from nnv.core.errors import CapabilityError, InputError
from nnv.core.model.network import Network, ParameterAddress
from nnv.core.plugin.executor import Executor
from nnv.core.plugin.heuristic import Heuristic
from nnv.core.plugin.registry import Registry
from nnv.core.plugin.search import SearchStrategy, best
from nnv.core.repair.free import select
from nnv.core.repair.loop import Repairer
from nnv.core.repair.metrics import accuracy_report
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import RunConfig
from nnv.core.run.fingerprint import fingerprint
from nnv.core.run.inputs import Inputs
from nnv.core.run.results import REPAIRED_FILE, RunOutcome, finite, nnv_version, write_outputs
from nnv.core.run.trials import TrialTable
from nnv.plugins.methods.solver.build import build_run, takes_option
from nnv.plugins.methods.solver.job import RepairJob


def search_repair(
    config: RunConfig,
    registry: Registry,
    on_trial: Callable[[TrialResult], None] | None = None,
    on_planned: Callable[[int | None], None] | None = None,
) -> RunOutcome:
    """The ``solver`` method: search over free sets, each a trial of the repair engine."""
    start = time.monotonic()
    deadline = None if config.timeout is None else start + config.timeout
    inputs, heuristic, repairer = build_run(config, registry)
    config = _resolved(config, inputs.network)
    strategy = _strategy(config, registry)
    _check_given_sets(config, repairer)
    trial_settings = fingerprint(config, heuristic, repairer)
    with _executor(config, registry) as executor:
        job = RepairJob(config, repairer)
        trials = TrialTable(config, job, executor, deadline, registry, on_trial, on_planned)
        trials.begin(_planned_count(config, inputs.network), trial_settings, inputs.network)
        strategy.search(inputs.network, trials.evaluate, deadline)
    chosen = _confirmed_best(trials, repairer)
    trials.finish()
    repaired = _repaired_network(inputs.network, chosen)
    seconds = time.monotonic() - start
    result = _result(trials, inputs, heuristic, repairer, chosen, repaired, seconds)
    write_outputs(config.out, registry, result, repaired)
    return RunOutcome(result, inputs.network, repaired, inputs.properties, inputs.data, trials.done)


def _resolved(config: RunConfig, network: Network) -> RunConfig:
    """The config with its named free sets as addresses: globs, layers and neurons expanded
    (an ``InputError`` for one that names nothing in ``network``)."""
    one = config.selectors()
    free = None if one is None else select(network, one)
    sets = None if config.free_sets is None else [select(network, s) for s in config.free_sets]
    return replace(config, free=free, free_sets=sets, free_layers=None, free_neurons=None)


def _executor(config: RunConfig, registry: Registry) -> Executor:
    """The executor with ``workers`` and, for executors that take one, ``scheduler``."""
    factory = registry.get("executor", config.executor).factory
    options: dict[str, Any] = {"workers": config.workers}
    if config.scheduler is not None:
        if not takes_option(factory, "scheduler"):
            raise InputError(f"executor {config.executor!r} takes no scheduler address")
        options["scheduler"] = config.scheduler
    executor: Executor = factory(**options)
    return executor


def _strategy(config: RunConfig, registry: Registry) -> SearchStrategy:
    name, options = _search_plan(config)
    factory = registry.get("search", name).factory
    try:
        strategy: SearchStrategy = factory(**options)
    except TypeError as error:
        raise InputError(f"search {name!r}: bad options ({error})") from None
    return strategy


def _search_plan(config: RunConfig) -> tuple[str, dict[str, Any]]:
    """Named free sets run exactly (exhaustive over them); otherwise the chosen search."""
    sets = config.given_sets()
    if sets is not None:
        return "exhaustive", {"free_sets": sets}
    options: dict[str, Any] = {"max_free": config.max_free, "layers": config.layers}
    if config.top_k is not None:
        options["top_k"] = config.top_k
    if config.target_accuracy is not None:
        options["target_accuracy"] = config.target_accuracy
    return config.search, options


def _check_given_sets(config: RunConfig, repairer: Repairer) -> None:
    """Named free sets are checked before anything is written: unknown addresses are bad input
    always, and a solver that cannot take the one named set is the user's mistake."""
    sets = config.given_sets()
    for names in sets or ():
        try:
            repairer.check(names)
        except CapabilityError:
            if len(sets or ()) == 1:
                raise


def _planned_count(config: RunConfig, network: Network) -> int | None:
    """How many trials the run will make if nothing stops it, where that is known up front."""
    sets = config.given_sets()
    if sets is not None:
        return len({frozenset(s) for s in sets})
    if config.search == "exhaustive":
        n = len(network.parameter_addresses(layers=config.layers))
        return sum(math.comb(n, k) for k in range(1, config.max_free + 1))
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


def _status(trials: TrialTable, chosen: TrialResult | None) -> str:
    """repaired; else timeout if time ran out anywhere; error if every trial failed so."""
    statuses = [r.status for r in trials.done]
    if chosen is not None:
        return "repaired"
    if trials.out_of_time() or "timeout" in statuses:
        return "timeout"
    if statuses and all(s == "error" for s in statuses):
        return "error"
    return "not_repaired"


def _message(trials: TrialTable, chosen: TrialResult | None) -> str:
    notes = [chosen.message] if chosen is not None and chosen.message else []
    if chosen is None:
        if len(trials.done) == 1 and not trials.skipped and not trials.cut_short:
            notes.append(trials.done[0].message)
        elif not trials.done and trials.out_of_time():
            notes.append("the run's timeout passed before any trial started")
        else:
            notes.append(f"none of {len(trials.done)} trials repaired the network")
    if trials.cut_short or trials.skipped:
        notes.append(
            f"the run's timeout ({trials.config.timeout:g} s) cut the search short: "
            f"{trials.cut_short} trials stopped, {trials.skipped} not started"
        )
    if trials.demoted:
        notes.append(f"{len(trials.demoted)} resumed repairs failed re-certification")
    return "; ".join(note for note in notes if note)


def _result(
    trials: TrialTable,
    inputs: Inputs,
    heuristic: Heuristic,
    repairer: Repairer,
    chosen: TrialResult | None,
    repaired: Network | None,
    seconds: float,
) -> dict[str, Any]:
    """The content of result.json."""
    config, network = trials.config, inputs.network
    search, search_options = _search_plan(config)
    parameters = (
        None
        if chosen is None
        else {a: {"before": network.parameter(a), "after": v} for a, v in chosen.values.items()}
    )
    return {
        "status": _status(trials, chosen),
        "method": config.method,
        "message": _message(trials, chosen),
        "certified_by": None if chosen is None else chosen.certified_by,
        "free": None if chosen is None else list(chosen.free),
        "parameters": parameters,
        "accuracy_before": finite(repairer.accuracy_before),
        "accuracy_after": (
            None
            if repaired is None
            else finite(accuracy_report(repaired, inputs.data, config.decision))
        ),
        "kept": None if chosen is None else chosen.kept,
        "soft_total": repairer.soft.count,
        "seconds": round(seconds, 3),
        "trials": len(trials.done),
        "resumed": trials.resumed,
        "demoted": trials.demoted,
        "cut_short": bool(trials.cut_short or trials.skipped),
        "trial_counts": dict(Counter(r.status for r in trials.done)),
        "solver": config.solver,
        "verifier": config.verifier,
        "heuristic": config.heuristic,
        "heuristic_options": dict(heuristic.options),
        "mode": config.mode,
        "search": search,
        "search_options": search_options,
        "threshold": config.threshold,
        "threshold_search": config.threshold_search,
        "objective": list(config.objective),
        "max_change": config.max_change,
        "decision": config.decision,
        "line_synthesis": config.line_synthesis,
        "pair_time": config.pair_time,
        "timeout": config.timeout,
        "trial_timeout": config.trial_timeout,
        "seed": config.seed,
        "executor": config.executor,
        "workers": trials.executor.workers,
        "network": str(config.network),
        "properties": [str(p) for p in config.properties],
        "data": str(config.data),
        "repaired_network": None if repaired is None else REPAIRED_FILE,
        "nnv_version": nnv_version(),
    }
