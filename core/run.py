"""One repair run end to end: load the inputs, search over free sets, write the results folder.

This is what ``nnv run`` does, with the command line left out. :func:`run_repair` hands the run
to its repair method (``config.method``, a plugin: see :mod:`nnv.core.method`); the built-in
``solver`` method is :func:`search_repair` here. The plugins are looked up in a
:class:`~nnv.core.registry.Registry` by name, trials run on an executor (each in a process of
its own, several at once) through :class:`~nnv.core.repair.Repairer`, and the folder ``out``
receives ``run.json`` (what the trials depend on), ``trials.csv`` (rewritten atomically as each
trial finishes), ``result.json`` and, when a trial repaired the network, ``repaired.onnx``.

Resuming: when ``out`` already holds a ``run.json`` equal to this run's and its ``trials.csv``,
the trials recorded there are not run again but taken as they are, so the same command after
Ctrl-C, a crash or a killed worker goes on where it stopped and ends with the same best result.
The search options are not part of ``run.json``: a larger search resumes from a smaller one.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.metadata
import inspect
import io
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from .certify import Certifier
from .dataset import Dataset
from .errors import CapabilityError, InputError
from .executor import Executor, TrialTask, not_started
from .files import write_text_atomic
from .heuristic import Heuristic, SoftConstraints
from .method import RepairMethod
from .network import Network, ParameterAddress
from .property import Property
from .registry import Registry
from .repair import Repairer, RepairSettings, accuracy_report
from .search import FreeSet, SearchStrategy, TrialResult, TrialStatus, best

TRIAL_COLUMNS = (
    "free", "status", "accuracy", "kept", "soft_total", "seconds", "rounds", "certified_by",
    "values", "message", "cut_short",
)  # fmt: skip
TRIAL_STATUSES = get_args(TrialStatus)
REPAIRED_FILE = "repaired.onnx"
UNVERIFIED_FILE = "unverified.onnx"  # a method's network that no certificate proved
RESULT_FILE = "result.json"
TRIALS_FILE = "trials.csv"
RUN_FILE = "run.json"
BOUNDARY_FILE = "boundary.png"  # drawn by the command line for 2-D inputs
# what a run leaves besides run.json and trials.csv: stale once another run takes the folder
STALE_FILES = (RESULT_FILE, REPAIRED_FILE, UNVERIFIED_FILE, BOUNDARY_FILE)
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
    threshold_search: bool = False  # quantified mode: raise the threshold while satisfiable
    max_change: float = 10.0
    line_synthesis: bool = True  # one free parameter: the exact line analysis, not the solver
    timeout: float | None = None  # the whole run, seconds
    trial_timeout: float | None = None
    seed: int = 0  # the heuristic's random choices, unless its options name a seed
    executor: str = "local"
    workers: int | None = None  # trials at once; None: the executor's default
    scheduler: str | None = None  # dask: join this cluster instead of starting one
    restart: bool = False  # ignore trials an earlier run left in ``out``
    method: str = "solver"  # the repair method plugin
    method_options: dict[str, Any] = field(default_factory=dict)  # the method's own options

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        for name in ("timeout", "trial_timeout"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < math.inf:  # NaN fails too
                raise InputError(f"{name} must be a number of seconds >= 0, not {value!r}")
        if not 0 < self.max_change < math.inf:
            raise InputError(f"max_change must be a positive number, not {self.max_change!r}")
        for name, least in (("max_free", 1), ("top_k", 1), ("threshold", 0)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise InputError(f"{name} must be at least {least}, not {value!r}")
        if self.target_accuracy is not None and not 0 <= self.target_accuracy <= 1:
            raise InputError(f"target_accuracy must be in [0, 1], not {self.target_accuracy!r}")
        if self.threshold_search and self.mode != "quantified":
            raise InputError(
                "threshold search is for --mode quantified; cegis already keeps the most soft "
                "constraints it can"
            )
        if self.workers is not None and self.workers < 1:
            raise InputError(f"workers must be at least 1, not {self.workers!r}")

    def non_default(self, names: Sequence[str]) -> list[str]:
        """Which of these settings differ from their defaults (what a method may refuse)."""
        defaults = {
            f.name: f.default if f.default_factory is MISSING else f.default_factory()
            for f in fields(self)
        }
        return [name for name in names if getattr(self, name) != defaults[name]]

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
class Inputs:
    """A run's network, properties and data, loaded and checked against each other."""

    network: Network
    properties: list[Property]
    data: Dataset


def run_repair(
    config: RunConfig,
    registry: Registry,
    on_trial: Callable[[TrialResult], None] | None = None,
    on_planned: Callable[[int | None], None] | None = None,
) -> RunOutcome:
    """Run the repair ``config`` describes with its method and write its results folder.

    ``on_planned`` hears how many steps (trials of the search) are known to come (None while
    unknown) whenever that changes; ``on_trial`` hears each finished step, resumed ones
    included. Bad input, an unknown method or a method's bad option raises an ``NnvError``
    before anything is written.
    """
    factory = registry.get("repair-method", config.method).factory
    try:
        method: RepairMethod = factory(**config.method_options)
    except TypeError as error:
        raise InputError(f"method {config.method!r}: bad options ({error})") from None
    return method.repair(config, registry, on_trial, on_planned)


def search_repair(
    config: RunConfig,
    registry: Registry,
    on_trial: Callable[[TrialResult], None] | None = None,
    on_planned: Callable[[int | None], None] | None = None,
) -> RunOutcome:
    """The ``solver`` method: search over free sets, each a trial of the repair engine."""
    start = time.monotonic()
    deadline = None if config.timeout is None else start + config.timeout
    inputs, heuristic, repairer = _build(config, registry)
    strategy = _strategy(config, registry)
    _check_given_sets(config, repairer)
    fingerprint = _fingerprint(config, heuristic, repairer)
    with _executor(config, registry) as executor:
        job = RepairJob(config, repairer)
        trials = _Trials(config, job, executor, deadline, registry, on_trial, on_planned)
        trials.begin(_planned_count(config, inputs.network), fingerprint, inputs.network)
        strategy.search(inputs.network, trials.evaluate, deadline)
    chosen = _confirmed_best(trials, repairer)
    trials.finish()
    repaired = _repaired_network(inputs.network, chosen)
    seconds = time.monotonic() - start
    result = _result(trials, inputs, heuristic, repairer, chosen, repaired, seconds)
    write_outputs(config.out, registry, result, repaired)
    return RunOutcome(result, inputs.network, repaired, inputs.properties, inputs.data, trials.done)


# -- set-up ----------------------------------------------------------------------------------


def _build(config: RunConfig, registry: Registry) -> tuple[Inputs, Heuristic, Repairer]:
    """The run's inputs, its heuristic and the repairer that runs its trials."""
    inputs = load_inputs(config, registry)
    heuristic = _heuristic(config, registry)
    soft = heuristic.constraints(inputs.network, inputs.data)
    return inputs, heuristic, _repairer(config, registry, inputs, soft)


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
    config: RunConfig, registry: Registry, inputs: Inputs, soft: SoftConstraints
) -> Repairer:
    settings = RepairSettings(
        mode=config.mode,
        max_change=config.max_change,
        threshold=config.threshold,
        threshold_search=config.threshold_search,
        line_synthesis=config.line_synthesis,
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


def _executor(config: RunConfig, registry: Registry) -> Executor:
    """The executor with ``workers`` and, for executors that take one, ``scheduler``."""
    factory = registry.get("executor", config.executor).factory
    options: dict[str, Any] = {"workers": config.workers}
    if config.scheduler is not None:
        if not _takes(factory, "scheduler"):
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


def _fingerprint(config: RunConfig, heuristic: Heuristic, repairer: Repairer) -> dict[str, Any]:
    """What a trial's result depends on: the input files' contents, the trial settings, and
    the code that runs it (nnv's own source and the solver libraries' versions)."""
    files = [config.network, *config.properties, config.data]
    return json.loads(
        json.dumps(
            {
                "files": {
                    str(path): hashlib.sha256(Path(path).read_bytes()).hexdigest()
                    for path in files
                },
                "heuristic": config.heuristic,
                "heuristic_options": heuristic.options,
                "solver": config.solver,
                "solver_options": repairer.solver.options,
                "verifier": config.verifier,
                "verifier_options": repairer.verifier.options,
                "mode": config.mode,
                "threshold": config.threshold,
                "threshold_search": config.threshold_search,
                "max_change": config.max_change,
                "line_synthesis": config.line_synthesis,
                "trial_timeout": config.trial_timeout,
                "repair_settings": asdict(repairer.settings),
                "certifier": repairer.certifier.describe(),
                "nnv_version": nnv_version(),
                "engine": engine_version(),
                "libraries": library_versions(),
            },
            default=str,
        )
    )


@functools.cache
def engine_version() -> str:
    """A hash of nnv's own source files: changes whenever the engine's code does."""
    digest = hashlib.sha256()
    for package in ("nnv.core", "nnv.plugins"):
        for folder in importlib.import_module(package).__path__:
            root = Path(folder)
            for path in sorted(root.rglob("*.py")):
                digest.update(f"{package}/{path.relative_to(root)}".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    """The versions of the libraries whose answers a trial depends on."""
    versions: dict[str, str | None] = {}
    for name in ("numpy", "scipy", "highspy", "z3-solver", "cvc5", "pyomo"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# -- trials ----------------------------------------------------------------------------------


class RepairJob:
    """Runs one trial of this run; the :class:`~nnv.core.executor.TrialJob` executors take.

    A forked child uses the parent's repairer as it is; a pickled copy (a dask worker) rebuilds
    it from the config once per worker process, so the run's files must be readable there.
    """

    def __init__(self, config: RunConfig, repairer: Repairer) -> None:
        self.config = config
        self.repairer: Repairer | None = repairer
        # one named set: a solver that cannot take it is the user's mistake, not a trial's result
        sets = config.given_sets()
        self.strict = sets is not None and len(sets) == 1

    def __getstate__(self) -> dict[str, Any]:
        return {"config": _absolute(self.config), "repairer": None, "strict": self.strict}

    def __call__(self, task: TrialTask) -> TrialResult:
        repairer = self.repairer or _worker_repairer(self.config)
        repairer.settings = replace(repairer.settings, trial_timeout=task.timeout)
        started = time.monotonic()
        try:
            return repairer.trial(task.free)
        except CapabilityError as error:
            if self.strict:
                raise
            seconds = time.monotonic() - started
            return TrialResult(
                task.free, "error", seconds, soft_total=repairer.soft.count, message=str(error)
            )


_WORKER_REPAIRERS: dict[str, Repairer] = {}


def _worker_repairer(config: RunConfig) -> Repairer:
    """The repairer for ``config``, built once per process."""
    from .registry import default_registry

    key = repr(config)
    if key not in _WORKER_REPAIRERS:
        _WORKER_REPAIRERS[key] = _build(config, default_registry())[2]
    return _WORKER_REPAIRERS[key]


def _absolute(config: RunConfig) -> RunConfig:
    return replace(
        config,
        network=Path(config.network).resolve(),
        properties=[Path(p).resolve() for p in config.properties],
        data=Path(config.data).resolve(),
    )


class _Trials:
    """The ``evaluate`` a search calls: a batch of trials on the executor, each recorded in
    trials.csv as it ends; trials an earlier run of the same command recorded are reused.

    Nothing is written to the results folder before the first trial of this run ends, so a run
    that fails before that (bad input, a crash) leaves an earlier run's folder as it was.
    """

    def __init__(
        self,
        config: RunConfig,
        job: RepairJob,
        executor: Executor,
        deadline: float | None,
        registry: Registry,
        on_trial: Callable[[TrialResult], None] | None,
        on_planned: Callable[[int | None], None] | None,
    ) -> None:
        self.config = config
        self.job = job
        self.executor = executor
        self.deadline = deadline
        # the same instant on the wall clock, which trials in other processes can read
        self.deadline_epoch = (
            None if deadline is None else time.time() + deadline - time.monotonic()
        )
        self.registry = registry
        self.on_trial = on_trial
        self.on_planned = on_planned
        self.planned: int | None = None
        self.queued = 0
        self.skipped = 0  # proposed after the run's deadline had passed, never started
        self.resumed = 0
        self.fingerprint: dict[str, Any] = {}
        self.written = False  # whether this run has written run.json yet
        self.earlier: dict[frozenset[str], TrialResult] = {}
        # this search's trials in the order proposed, resumed ones included (so ``best`` breaks
        # ties the same way however the executor ordered them)
        self.done: list[TrialResult] = []
        self.recorded: list[TrialResult] = []  # trials.csv: earlier rows, then trials as they end
        self.demoted: list[dict[str, Any]] = []  # resumed repairs that failed re-certification

    def begin(self, planned: int | None, fingerprint: dict[str, Any], network: Network) -> None:
        """Announce the plan; take up an earlier run's trials if it was this same run."""
        self.planned = planned
        if self.on_planned is not None:
            self.on_planned(planned)
        self.fingerprint = fingerprint
        if not self.config.restart:
            self.earlier = _earlier_trials(self.config.out, fingerprint, network)
        self.recorded = list(self.earlier.values())

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def cut_short(self) -> int:
        """Trials of this search that the run's timeout stopped while they ran."""
        return sum(1 for result in self.done if result.cut_short)

    def is_resumed(self, result: TrialResult) -> bool:
        return any(result is earlier for earlier in self.earlier.values())

    def evaluate(self, batch: Sequence[FreeSet]) -> list[TrialResult]:
        self._queue(len(batch))
        results: list[TrialResult | None] = [None] * len(batch)
        tasks: list[TrialTask] = []
        positions: list[int] = []
        for position, names in enumerate(batch):
            earlier = self.earlier.get(frozenset(names))
            if earlier is not None:
                results[position] = earlier
                self.resumed += 1
                self._announce(earlier)
            elif self.out_of_time():
                results[position] = not_started(TrialTask(tuple(names)))
            else:
                limit = self.config.trial_timeout
                tasks.append(TrialTask(tuple(names), limit, self.deadline_epoch))
                positions.append(position)
                self.registry.hook.nnv_trial_started(free=names)
        for index, result in self.executor.map(self.job, tasks):
            results[positions[index]] = result
            if not result.started:
                continue
            self._record(result)
            self.registry.hook.nnv_trial_finished(result=result)
            self._announce(result)
        started = [r for r in results if r is not None and r.started]
        self.skipped += sum(1 for r in results if r is not None and not r.started)
        self.done.extend(started)  # in the order proposed, whatever order they ended in
        return started

    def replace(self, old: TrialResult, new: TrialResult) -> None:
        """Put ``new`` in ``old``'s place (a resumed row checked again) and rewrite the file."""
        self.done = [new if r is old else r for r in self.done]
        self.recorded = [new if r is old else r for r in self.recorded]
        self.earlier = {k: new if r is old else r for k, r in self.earlier.items()}
        self._write()

    def finish(self) -> None:
        """Make sure the folder's run.json and trials.csv are this run's, even if no trial ran."""
        if not self.written:
            self._write()

    def _record(self, result: TrialResult) -> None:
        self.recorded.append(result)
        self._write()

    def _write(self) -> None:
        """trials.csv, and run.json the first time: from then on the folder is this run's."""
        out = self.config.out
        if not self.written:
            if not self.earlier:  # another run's files (or none): its results are stale now
                for name in STALE_FILES:
                    (out / name).unlink(missing_ok=True)
            write_text_atomic(out / RUN_FILE, json.dumps(self.fingerprint, indent=2) + "\n")
            self.written = True
        write_text_atomic(out / TRIALS_FILE, trials_csv(self.recorded))

    def _queue(self, count: int) -> None:
        self.queued += count
        known = max(self.planned or 0, self.queued)
        if known != self.planned and self.on_planned is not None:
            self.on_planned(known)
        self.planned = known

    def _announce(self, result: TrialResult) -> None:
        if self.on_trial is not None:
            self.on_trial(result)


def _earlier_trials(
    out: Path, fingerprint: dict[str, Any], network: Network
) -> dict[frozenset[str], TrialResult]:
    """Trials recorded in ``out`` by a run with this fingerprint; none if it was another run
    (whose trials.csv this run then replaces). A row that does not read back as a well-formed
    trial of this network is dropped, so its trial runs again; a row the run's timeout cut
    short runs again too. Repaired rows are not trusted: see :func:`_confirmed_best`."""
    try:
        same = json.loads((out / RUN_FILE).read_text()) == fingerprint
        rows = list(csv.DictReader(io.StringIO((out / TRIALS_FILE).read_text())))
    except (OSError, ValueError):
        return {}
    if not same:
        return {}
    earlier: dict[frozenset[str], TrialResult] = {}
    for row in rows:
        try:
            result = _row_result(row, network)
        except (KeyError, ValueError, TypeError, AttributeError, InputError):
            continue
        if not result.cut_short:
            earlier[frozenset(result.free)] = result
    return earlier


def _row_result(row: dict[str, str], network: Network) -> TrialResult:
    """A trials.csv row back as the result it recorded; ValueError when it is malformed."""
    free = tuple(row["free"].split(","))
    for name in free:
        network.resolve(name)
    status = row["status"]
    if status not in TRIAL_STATUSES:
        raise ValueError(f"unknown status {status!r}")
    values = {str(k): float(v) for k, v in json.loads(row["values"]).items()}
    if not all(math.isfinite(v) for v in values.values()):
        raise ValueError("a value is not finite")
    if status == "repaired" and set(values) != set(free):
        raise ValueError("a repaired row's values do not match its free parameters")
    return TrialResult(
        free=free,
        status=status,  # type: ignore[arg-type]
        seconds=float(row["seconds"]),
        accuracy=float(row["accuracy"]) if row["accuracy"] else None,
        kept=int(row["kept"]) if row["kept"] else None,
        soft_total=int(row["soft_total"]),
        values=values,
        certified_by=row["certified_by"] or None,
        rounds=int(row["rounds"]),
        message=row["message"],
        cut_short=row.get("cut_short") == "1",
    )


def _confirmed_best(trials: _Trials, repairer: Repairer) -> TrialResult | None:
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


def trials_csv(results: Sequence[TrialResult]) -> str:
    """``trials.csv``: one row per trial, in the order run."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRIAL_COLUMNS)
    for r in results:
        writer.writerow([
            ",".join(r.free), r.status, _blank(r.accuracy), _blank(r.kept), r.soft_total,
            f"{r.seconds:.3f}", r.rounds, r.certified_by or "", json.dumps(r.values), r.message,
            "1" if r.cut_short else "",
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
    trials: _Trials,
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
            None if repaired is None else finite(accuracy_report(repaired, inputs.data))
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
        "max_change": config.max_change,
        "line_synthesis": config.line_synthesis,
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


def finite(report: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN: an empty split's accuracy becomes null."""
    return {k: None if math.isnan(v) else v for k, v in report.items()}


def nnv_version() -> str | None:
    try:
        return importlib.metadata.version("nnv")
    except importlib.metadata.PackageNotFoundError:
        return None


def write_outputs(
    out: Path,
    registry: Registry,
    result: dict[str, Any],
    repaired: Network | None,
    unverified: Network | None = None,
) -> None:
    """The networks first, so a result.json that names one never precedes it.

    ``repaired`` must be a certified repair; ``unverified`` is a network a method kept without
    a proof. Either file absent from this run is removed: a stale one would mislead.
    """
    for name, network in ((REPAIRED_FILE, repaired), (UNVERIFIED_FILE, unverified)):
        if network is not None:
            registry.save_network(network, out / name)
        else:
            (out / name).unlink(missing_ok=True)
    write_text_atomic(out / RESULT_FILE, json.dumps(result, indent=2) + "\n")
