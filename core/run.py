"""One repair run end to end: load the inputs, search over free sets, write the results folder.

This is what ``nnv run`` does, with the command line left out: the plugins are looked up in a
:class:`~nnv.core.registry.Registry` by name, trials run one after another through
:class:`~nnv.core.repair.Repairer`, and the folder ``out`` receives ``trials.csv`` (rewritten
after every trial, so an interrupted search leaves what it had done), ``result.json`` and, when
a trial repaired the network, ``repaired.onnx``. Every file is written atomically.
"""

from __future__ import annotations

import csv
import importlib.metadata
import inspect
import io
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .certify import Certifier
from .dataset import Dataset
from .errors import CapabilityError, InputError
from .files import write_text_atomic
from .heuristic import Heuristic, SoftConstraints
from .network import Network, ParameterAddress
from .property import Property
from .registry import Registry
from .repair import Repairer, RepairSettings, accuracy_report
from .search import FreeSet, SearchStrategy, TrialResult, best

TRIAL_COLUMNS = (
    "free", "status", "accuracy", "kept", "soft_total", "seconds", "rounds", "certified_by",
    "values", "message",
)  # fmt: skip
REPAIRED_FILE = "repaired.onnx"
MODES = ("cegis", "quantified")


@dataclass
class RunConfig:
    """Everything a run needs; names match ``nnv run``'s options and the TOML config's keys."""

    network: Path
    properties: list[Path]
    data: Path
    out: Path = Path("runs/latest")
    free: list[str] | None = None  # exactly this one set of free parameters
    free_sets: list[list[str]] | None = None  # exactly these sets, in this order
    search: str = "exhaustive"
    max_free: int = 1
    layers: list[int] | None = None
    top_k: int | None = None
    target_accuracy: float | None = None  # stop searching once a repair reaches it
    heuristic: str = "samples"
    heuristic_options: dict[str, Any] = field(default_factory=dict)
    solver: str = "highs"  # synthesis
    verifier: str = "highs"  # verifies candidates inside the loop
    mode: Literal["cegis", "quantified"] = "cegis"
    threshold: int | None = None
    max_change: float = 10.0
    timeout: float | None = None  # the whole run, seconds
    trial_timeout: float | None = None
    seed: int = 0  # the heuristic's random choices, unless its options name a seed

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        for name in ("timeout", "trial_timeout"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InputError(f"{name} must be at least 0 seconds, not {value!r}")

    def given_sets(self) -> list[list[str]] | None:
        """The free sets named outright (``free`` or ``free_sets``), or None to search."""
        if self.free is not None and self.free_sets is not None:
            raise InputError("give either free or free_sets, not both")
        return [self.free] if self.free is not None else self.free_sets


@dataclass
class RunOutcome:
    """What a run found: ``result`` is the content of result.json."""

    result: dict[str, Any]
    original: Network
    repaired: Network | None
    properties: list[Property]
    data: Dataset
    trials: list[TrialResult]

    @property
    def ok(self) -> bool:
        return self.repaired is not None


@dataclass
class _Inputs:
    network: Network
    properties: list[Property]
    data: Dataset


def run_repair(
    config: RunConfig,
    registry: Registry,
    on_trial: Callable[[TrialResult], None] | None = None,
    on_planned: Callable[[int | None], None] | None = None,
) -> RunOutcome:
    """Run the search ``config`` describes and write its results folder.

    ``on_planned`` hears how many trials are known to come (None while unknown) whenever that
    changes; ``on_trial`` hears each finished trial. Bad input raises an ``NnvError`` before
    anything is written.
    """
    start = time.monotonic()
    deadline = None if config.timeout is None else start + config.timeout
    inputs = _load(config, registry)
    heuristic = _heuristic(config, registry)
    soft = heuristic.constraints(inputs.network, inputs.data)
    repairer = _repairer(config, registry, inputs, soft)
    strategy = _strategy(config, registry)
    trials = _Trials(config, registry, repairer, deadline, on_trial, on_planned)
    trials.begin(_planned_count(config, inputs.network))
    strategy.search(inputs.network, trials.evaluate, deadline)
    chosen = best(trials.done)
    repaired = _repaired_network(inputs.network, chosen)
    result = _result(trials, inputs, heuristic, chosen, repaired, time.monotonic() - start)
    _write_outputs(config.out, registry, result, repaired)
    return RunOutcome(result, inputs.network, repaired, inputs.properties, inputs.data, trials.done)


# -- set-up ----------------------------------------------------------------------------------


def _load(config: RunConfig, registry: Registry) -> _Inputs:
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
    return _Inputs(network, properties, data)


def _heuristic(config: RunConfig, registry: Registry) -> Heuristic:
    """The heuristic with its options; ``seed`` reaches it when it takes one and none is set."""
    factory = registry.get("heuristic", config.heuristic).factory
    options = dict(config.heuristic_options)
    if "seed" not in options and _takes(factory, "seed"):
        options["seed"] = config.seed
    try:
        heuristic: Heuristic = factory(**options)
    except TypeError as error:
        raise InputError(f"heuristic {config.heuristic!r}: bad options ({error})") from None
    return heuristic


def _takes(factory: Any, name: str) -> bool:
    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _repairer(
    config: RunConfig, registry: Registry, inputs: _Inputs, soft: SoftConstraints
) -> Repairer:
    settings = RepairSettings(
        mode=config.mode,
        max_change=config.max_change,
        threshold=config.threshold,
        trial_timeout=config.trial_timeout,
    )
    return Repairer(
        inputs.network,
        inputs.properties,
        soft,
        inputs.data,
        solver=registry.solver(config.solver),
        verifier=registry.solver(config.verifier),
        certifier=Certifier(registry.solver("highs"), registry.solver("z3")),
        settings=settings,
    )


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


def _planned_count(config: RunConfig, network: Network) -> int | None:
    """How many trials the run will make if nothing stops it, where that is known up front."""
    sets = config.given_sets()
    if sets is not None:
        return len({frozenset(s) for s in sets})
    if config.search == "exhaustive":
        n = len(network.parameter_addresses(layers=config.layers))
        return sum(math.comb(n, k) for k in range(1, config.max_free + 1))
    return None


# -- trials ----------------------------------------------------------------------------------


class _Trials:
    """The ``evaluate`` a search calls: trials one after another, each recorded as it ends."""

    def __init__(
        self,
        config: RunConfig,
        registry: Registry,
        repairer: Repairer,
        deadline: float | None,
        on_trial: Callable[[TrialResult], None] | None,
        on_planned: Callable[[int | None], None] | None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.repairer = repairer
        self.deadline = deadline
        self.on_trial = on_trial
        self.on_planned = on_planned
        self.planned: int | None = None
        self.queued = 0
        self.skipped = 0  # proposed after the run's deadline had passed, never started
        self.done: list[TrialResult] = []
        # one named set: a solver that cannot take it is the user's mistake, not a trial's result
        sets = config.given_sets()
        self.strict = sets is not None and len(sets) == 1

    def begin(self, planned: int | None) -> None:
        """Announce the plan; an empty trials.csv replaces any earlier run's."""
        self.planned = planned
        if self.on_planned is not None:
            self.on_planned(planned)
        write_text_atomic(self.config.out / "trials.csv", trials_csv(self.done))

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def evaluate(self, batch: Sequence[FreeSet]) -> list[TrialResult]:
        self._queue(len(batch))
        return [self._one(names) for names in batch]

    def _queue(self, count: int) -> None:
        self.queued += count
        known = max(self.planned or 0, self.queued)
        if known != self.planned and self.on_planned is not None:
            self.on_planned(known)
        self.planned = known

    def _one(self, names: FreeSet) -> TrialResult:
        if self.out_of_time():
            self.skipped += 1
            return TrialResult(names, "timeout", message="the run's timeout passed first")
        self.registry.hook.nnv_trial_started(free=names)
        result = self._trial(names)
        self.done.append(result)
        write_text_atomic(self.config.out / "trials.csv", trials_csv(self.done))
        self.registry.hook.nnv_trial_finished(result=result)
        if self.on_trial is not None:
            self.on_trial(result)
        return result

    def _trial(self, names: FreeSet) -> TrialResult:
        """One trial, its time limit cut to what is left of the run's."""
        remaining = None if self.deadline is None else self.deadline - time.monotonic()
        limits = [t for t in (self.config.trial_timeout, remaining) if t is not None]
        self.repairer.settings = replace(
            self.repairer.settings, trial_timeout=min(limits) if limits else None
        )
        started = time.monotonic()
        try:
            return self.repairer.trial(names)
        except CapabilityError as error:
            if self.strict:
                raise
            seconds = time.monotonic() - started
            soft_total = self.repairer.soft.count
            return TrialResult(names, "error", seconds, soft_total=soft_total, message=str(error))


def trials_csv(results: Sequence[TrialResult]) -> str:
    """``trials.csv``: one row per trial, in the order run."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRIAL_COLUMNS)
    for r in results:
        writer.writerow([
            ",".join(r.free), r.status, _blank(r.accuracy), _blank(r.kept), r.soft_total,
            f"{r.seconds:.3f}", r.rounds, r.certified_by or "", json.dumps(r.values), r.message,
        ])  # fmt: skip
    return buffer.getvalue()


def _blank(value: float | int | None) -> str:
    return "" if value is None else str(value)


# -- results ---------------------------------------------------------------------------------


def _repaired_network(network: Network, chosen: TrialResult | None) -> Network | None:
    if chosen is None:
        return None
    values: dict[str | ParameterAddress, float] = {a: v for a, v in chosen.values.items()}
    return network.with_parameters(values)


def _status(trials: _Trials, chosen: TrialResult | None) -> str:
    """repaired; else timeout if time ran out anywhere; error if every trial failed so."""
    statuses = [r.status for r in trials.done]
    if chosen is not None:
        return "repaired"
    if trials.out_of_time() or "timeout" in statuses:
        return "timeout"
    if statuses and all(s == "error" for s in statuses):
        return "error"
    return "not_repaired"


def _message(trials: _Trials, chosen: TrialResult | None) -> str:
    if chosen is not None:
        return ""
    if len(trials.done) == 1 and not trials.skipped:
        return trials.done[0].message
    if not trials.done and trials.out_of_time():
        return "the run's timeout passed before any trial started"
    skipped = f"; {trials.skipped} not started before the timeout" if trials.skipped else ""
    return f"none of {len(trials.done)} trials repaired the network{skipped}"


def _result(
    trials: _Trials,
    inputs: _Inputs,
    heuristic: Heuristic,
    chosen: TrialResult | None,
    repaired: Network | None,
    seconds: float,
) -> dict[str, Any]:
    """The content of result.json."""
    config, repairer, network = trials.config, trials.repairer, inputs.network
    search, search_options = _search_plan(config)
    parameters = (
        None
        if chosen is None
        else {a: {"before": network.parameter(a), "after": v} for a, v in chosen.values.items()}
    )
    return {
        "status": _status(trials, chosen),
        "message": _message(trials, chosen),
        "certified_by": None if chosen is None else chosen.certified_by,
        "free": None if chosen is None else list(chosen.free),
        "parameters": parameters,
        "accuracy_before": _finite(repairer.accuracy_before),
        "accuracy_after": (
            None if repaired is None else _finite(accuracy_report(repaired, inputs.data))
        ),
        "kept": None if chosen is None else chosen.kept,
        "soft_total": repairer.soft.count,
        "seconds": round(seconds, 3),
        "trials": len(trials.done),
        "trial_counts": dict(Counter(r.status for r in trials.done)),
        "solver": config.solver,
        "verifier": config.verifier,
        "heuristic": config.heuristic,
        "heuristic_options": dict(heuristic.options),
        "mode": config.mode,
        "search": search,
        "search_options": search_options,
        "threshold": config.threshold,
        "max_change": config.max_change,
        "timeout": config.timeout,
        "trial_timeout": config.trial_timeout,
        "seed": config.seed,
        "network": str(config.network),
        "properties": [str(p) for p in config.properties],
        "data": str(config.data),
        "repaired_network": None if repaired is None else REPAIRED_FILE,
        "nnv_version": _version(),
    }


def _finite(report: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN: an empty split's accuracy becomes null."""
    return {k: None if math.isnan(v) else v for k, v in report.items()}


def _version() -> str | None:
    try:
        return importlib.metadata.version("nnv")
    except importlib.metadata.PackageNotFoundError:
        return None


def _write_outputs(
    out: Path, registry: Registry, result: dict[str, Any], repaired: Network | None
) -> None:
    """The repaired network first, so a result.json that names it never precedes it."""
    target = out / REPAIRED_FILE
    if repaired is not None:
        registry.save_network(repaired, target)
    else:
        target.unlink(missing_ok=True)  # a stale one from an earlier run would mislead
    write_text_atomic(out / "result.json", json.dumps(result, indent=2) + "\n")
