"""The ``retrain`` method: the repair paper's naive baseline (its section 4.6.1, Table 6).

Instead of freeing a few parameters and solving for them, fine-tune every weight with gradient
descent until the verifier proves every property, at most ``iterations`` times:

1. verify each property (``--verifier``, the unsafe set widened by ``VERIFY_MARGIN`` so that a
   network that passes also passes the certificate);
2. if all hold, certify with core's :class:`~nnv.core.verify.certifier.Certifier` and stop:
   repaired;
3. otherwise add, for each property not proved, ``region_points`` points of its region
   labelled with the class it requires (``uniform``: uniform over the region;
   ``counterexamples``: the verifier's counterexample, up to ``SAMPLED_COUNTEREXAMPLES - 1``
   violating points among 2000 samples of the region, and Gaussian jitter around them), and
   ``train_points`` points drawn from the training split with their labels; fine-tune the
   whole network on everything added so far (Adam, cross-entropy) and go back to 1.

A run that never gets a proof is ``not_repaired`` (or ``timeout``): no ``repaired.onnx`` is
written, and the best network it trained (fewest properties not proved, then the highest
weighted accuracy) goes to ``unverified.onnx``, named as such in result.json.

``trials.csv`` has one row per verification (iteration 0 is the original network).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from nnv.core import InputError, Network, Property, hookimpl
from nnv.core.model.decision import Decision
from nnv.core.plugin.method import RepairMethod, check_options
from nnv.core.plugin.registry import Registry
from nnv.core.plugin.solver import Solver
from nnv.core.repair.metrics import accuracy_report
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import RunConfig
from nnv.core.run.inputs import Inputs, load_inputs
from nnv.core.run.results import (
    REPAIRED_FILE,
    RUN_FILE,
    STALE_FILES,
    TRIALS_FILE,
    UNVERIFIED_FILE,
    RunOutcome,
    finite,
    nnv_version,
    write_outputs,
)
from nnv.core.runtime.files import write_text_atomic
from nnv.core.verify.certifier import Certifier
from nnv.core.verify.falsify import violating_samples
from nnv.core.verify.verifier import Verifier

from .region_points import allowed_classes, points_near, uniform_points
from .torch_training import TrainingSettings, fine_tune, require_torch

SAMPLINGS = ("uniform", "counterexamples")
VERIFY_MARGIN = 1e-4  # the loop's widening of the unsafe set; the certificate's is 1e-6
SAMPLED_COUNTEREXAMPLES = 10  # counterexamples mode: seeds of the jitter per property
COLUMNS = (
    "iteration", "status", "not_proved", "accuracy", "region_points", "train_points", "loss",
    "seconds", "certified_by", "message",
)  # fmt: skip
# RunConfig settings of the solver method; retrain refuses them rather than ignore them
SOLVER_SETTINGS = (
    "free", "free_sets", "free_layers", "free_neurons", "search", "max_free", "layers", "top_k",
    "target_accuracy", "heuristic", "heuristic_options", "solver", "mode", "threshold",
    "threshold_search", "objective", "max_change", "line_synthesis", "pair_time",
    "trial_timeout", "executor", "workers", "scheduler",
)  # fmt: skip


@dataclass(frozen=True)
class RetrainOptions:
    """The method's options (``nnv run --iterations ...``); the defaults follow the paper where
    it gives a figure (20 iterations, 200 region and 200 training points) and are our choice
    where it does not (Adam at 1e-3, 10 epochs, batches of 32, jitter 0.05)."""

    iterations: int = 20
    sampling: str = "uniform"
    region_points: int = 200  # per property not proved, per iteration
    train_points: int = 200  # drawn from the training split, per iteration
    epochs: int = 10
    learning_rate: float = 1e-3
    batch_size: int = 32
    jitter: float = 0.05  # counterexamples: standard deviation, a fraction of the region's width

    def __post_init__(self) -> None:
        for name, least in (
            ("iterations", 0), ("region_points", 1), ("train_points", 0), ("epochs", 0),
            ("batch_size", 1),
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InputError(f"{name} must be an integer of at least {least}, not {value!r}")
        for name in ("learning_rate", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InputError(f"{name} must be a positive number, not {value!r}")
        if self.sampling not in SAMPLINGS:
            raise InputError(
                f"sampling must be one of {', '.join(SAMPLINGS)}, not {self.sampling!r}"
            )

    def training(self, decision: Decision) -> TrainingSettings:
        return TrainingSettings(self.epochs, float(self.learning_rate), self.batch_size, decision)


@dataclass
class Step:
    """One verification of the loop's network: a row of trials.csv."""

    iteration: int
    network: Network
    not_proved: list[str]  # property names
    accuracy: dict[str, float]
    counterexamples: dict[str, np.ndarray] = field(default_factory=dict)  # name -> point
    region_points: int = 0
    train_points: int = 0
    loss: float | None = None
    seconds: float = 0.0
    certified_by: str | None = None
    message: str = ""

    @property
    def status(self) -> str:
        if self.certified_by is not None:
            return "repaired"
        return "violated" if self.counterexamples else "undecided"

    def row(self) -> list[Any]:
        return [
            self.iteration, self.status, ";".join(self.not_proved), self.accuracy["weighted"],
            self.region_points, self.train_points, "" if self.loss is None else self.loss,
            f"{self.seconds:.3f}", self.certified_by or "", self.message,
        ]  # fmt: skip


class RetrainMethod(RepairMethod):
    """Fine-tune every weight on points of the violated regions until verified (the paper's
    naive baseline)."""

    name = "retrain"
    description = "fine-tune every weight on points of the violated regions until verified"

    def __init__(self, **options: Any) -> None:
        check_options(self.name, options, tuple(f.name for f in fields(RetrainOptions)))
        self.options = RetrainOptions(**options)

    def repair(
        self,
        config: RunConfig,
        registry: Registry,
        on_step: Callable[[TrialResult], None] | None = None,
        on_planned: Callable[[int | None], None] | None = None,
    ) -> RunOutcome:
        start = time.monotonic()
        refused = config.non_default(SOLVER_SETTINGS)
        if refused:
            raise InputError(
                "--method retrain fine-tunes every weight and takes no settings of --method "
                f"solver: {', '.join(refused)}"
            )
        require_torch()
        inputs = load_inputs(config, registry)
        loop = _Loop(config, self.options, inputs, registry, start)
        loop.settings = json.dumps(_settings(config, self), indent=2) + "\n"
        if on_planned is not None:
            on_planned(self.options.iterations + 1)
        steps = loop.run(on_step)
        repaired = steps[-1].network if steps[-1].certified_by is not None else None
        unverified = None if repaired is not None else _best_unverified(steps)
        result = _result(config, self.options, loop, steps, repaired, unverified, start)
        kept = None if unverified is None else unverified.network
        write_outputs(config.out, registry, result, repaired, kept)
        return RunOutcome(
            result,
            inputs.network,
            repaired,
            inputs.properties,
            inputs.data,
            [_trial(step) for step in steps],
        )


class _Loop:
    """Verify, add labelled points, fine-tune; a row of trials.csv per verification."""

    def __init__(
        self,
        config: RunConfig,
        options: RetrainOptions,
        inputs: Inputs,
        registry: Registry,
        start: float,
    ) -> None:
        self.config = config
        self.options = options
        self.inputs = inputs
        self.classes = {
            prop.name: allowed_classes(prop, config.decision) for prop in inputs.properties
        }
        if len(self.classes) != len(inputs.properties):
            raise InputError("--method retrain needs properties with distinct names")
        if options.train_points and "train" not in inputs.data.splits:
            raise InputError("--method retrain draws from the data's train split, and it has none")
        self.verifier: Solver = registry.solver(config.verifier)
        self.certifier = Certifier(registry.solver("highs"), registry.solver("z3"))
        self.deadline = None if config.timeout is None else start + config.timeout
        self.rng = np.random.default_rng(config.seed)
        self.X = np.zeros((0, inputs.network.n_inputs))
        # each point's allowed classes: a region's, or a training point's own label
        self.allowed = np.zeros((0, inputs.network.n_outputs), dtype=bool)
        self.region_count = self.train_count = 0
        self.timed_out = False
        self.settings = ""  # run.json's text, written with the first step (not before: a run
        # that fails first leaves an earlier run's folder as it was)

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    def run(self, on_step: Callable[[TrialResult], None] | None) -> list[Step]:
        steps: list[Step] = []
        network = self.inputs.network
        for iteration in range(self.options.iterations + 1):
            started = time.monotonic()
            loss = None
            if iteration > 0:
                if self.remaining() == 0.0:
                    self.timed_out = True
                    break
                self._add_points(steps[-1])
                seed = int(self.rng.integers(2**31))
                training = self.options.training(self.config.decision)
                network, loss = fine_tune(network, self.X, self.allowed, training, seed)
            step = self._check(iteration, network)
            step.loss, step.seconds = loss, time.monotonic() - started
            step.region_points, step.train_points = self.region_count, self.train_count
            steps.append(step)
            if len(steps) == 1:  # the folder is this run's from now on
                for name in STALE_FILES:
                    (self.config.out / name).unlink(missing_ok=True)
                write_text_atomic(self.config.out / RUN_FILE, self.settings)
            write_text_atomic(self.config.out / TRIALS_FILE, _csv(steps))
            if on_step is not None:
                on_step(_trial(step))
            if step.certified_by is not None or self.timed_out:
                break
        return steps

    def _check(self, iteration: int, network: Network) -> Step:
        """Verify every property; certify when all hold."""
        accuracy = accuracy_report(network, self.inputs.data, self.config.decision)
        step = Step(iteration, network, [], accuracy)
        notes = []
        for prop in self.inputs.properties:
            verifier = Verifier(self.verifier, timeout=self.remaining())
            result = verifier.verify(network, prop.expanded(VERIFY_MARGIN))
            if result.status == "unsat":
                continue
            step.not_proved.append(prop.name)
            if result.status == "sat" and result.counterexample is not None:
                step.counterexamples[prop.name] = result.counterexample
            else:
                notes.append(f"{prop.name}: {result.status} {result.message}".strip())
                self.timed_out |= result.status == "timeout" and self.remaining() == 0.0
        if not step.not_proved:
            certificate = self.certifier.certify(network, self.inputs.properties, self.remaining())
            if certificate.ok:
                step.certified_by = certificate.by
            else:
                step.not_proved = [prop.name for prop in self.inputs.properties]
                notes.append(f"certification failed: {certificate.message}")
        step.message = "; ".join(notes)
        return step

    def _add_points(self, last: Step) -> None:
        """The points this iteration adds to the fine-tuning set."""
        added_X, added_allowed = [self.X], [self.allowed]
        classes = self.inputs.network.n_outputs
        for prop in self.inputs.properties:
            if prop.name not in last.not_proved:
                continue
            points = self._region_points(prop, last)
            added_X.append(points)
            marks = np.zeros((points.shape[0], classes), dtype=bool)
            marks[:, self.classes[prop.name]] = True
            added_allowed.append(marks)
            self.region_count += points.shape[0]
        if self.options.train_points:
            X, y = self.inputs.data.splits["train"]
            count = min(self.options.train_points, X.shape[0])
            chosen = self.rng.choice(X.shape[0], size=count, replace=False)
            added_X.append(X[chosen])
            added_allowed.append(np.eye(classes, dtype=bool)[y[chosen]])
            self.train_count += count
        self.X, self.allowed = np.vstack(added_X), np.vstack(added_allowed)

    def _region_points(self, prop: Property, last: Step) -> np.ndarray:
        count = self.options.region_points
        if self.options.sampling == "uniform":
            return uniform_points(prop, count, self.rng)
        found = last.counterexamples.get(prop.name)
        seeds = [] if found is None else [found[None, :]]
        seeds.append(
            violating_samples(
                last.network,
                prop,
                SAMPLED_COUNTEREXAMPLES - len(seeds),
                seed=int(self.rng.integers(2**31)),
            )
        )
        points = np.vstack(seeds)
        if not points.shape[0]:  # undecided, and no sample violates: nothing to aim at
            return uniform_points(prop, count, self.rng)
        return points_near(prop, points, count, self.options.jitter, self.rng)


def _best_unverified(steps: Sequence[Step]) -> Step | None:
    """Of the trained networks, the one with the fewest properties not proved, then the most
    accurate; None when nothing was trained."""
    trained = [step for step in steps if step.iteration > 0]
    if not trained:
        return None
    return min(trained, key=lambda s: (len(s.not_proved), -s.accuracy["weighted"], s.iteration))


def _trial(step: Step) -> TrialResult:
    """A step as the progress bar and ``RunOutcome.trials`` take it (every parameter free)."""
    return TrialResult(
        free=(),
        status="repaired" if step.certified_by is not None else "not_repaired",
        seconds=step.seconds,
        accuracy=step.accuracy["weighted"],
        certified_by=step.certified_by,
        rounds=step.iteration,
        message=step.message,
    )


def _csv(steps: Sequence[Step]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(step.row() for step in steps)
    return buffer.getvalue()


def _settings(config: RunConfig, method: RetrainMethod) -> dict[str, Any]:
    """run.json: what this run depended on (retrain does not resume; a later run starts
    afresh, and a solver run in the same folder sees that it was another run)."""
    files = [config.network, *config.properties, config.data]
    return {
        "method": method.name,
        "files": {str(path): hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in files},
        "method_options": asdict(method.options),
        "verifier": config.verifier,
        "decision": config.decision,
        "seed": config.seed,
        "nnv_version": nnv_version(),
    }


def _result(
    config: RunConfig,
    options: RetrainOptions,
    loop: _Loop,
    steps: Sequence[Step],
    repaired: Network | None,
    unverified: Step | None,
    start: float,
) -> dict[str, Any]:
    """The content of result.json."""
    last = steps[-1]
    trained = last.iteration
    if repaired is not None:
        status = "repaired"
        message = (
            "every property already holds: the network is unchanged (0 fine-tuning iterations)"
            if trained == 0
            else f"every property proved after {trained} fine-tuning iteration(s)"
        )
    else:
        status = "timeout" if loop.timed_out else "not_repaired"
        why = (
            f"the run's timeout passed after {trained} fine-tuning iteration(s)"
            if loop.timed_out
            else f"no network proved within {options.iterations} fine-tuning iteration(s)"
        )
        kept = (
            ""
            if unverified is None
            else f"; the best it trained (iteration {unverified.iteration}) is in "
            f"{UNVERIFIED_FILE}, not a repair"
        )
        message = f"{why}: {', '.join(last.not_proved)} not proved{kept}"
    return {
        "status": status,
        "method": "retrain",
        "message": message,
        "certified_by": last.certified_by,
        "sampling": options.sampling,
        "iterations": trained,
        "max_iterations": options.iterations,
        "accuracy_before": finite(steps[0].accuracy),
        "accuracy_after": None if repaired is None else finite(last.accuracy),
        "allowed_classes": loop.classes,
        "unverified_network": (
            None
            if unverified is None
            else {
                "file": UNVERIFIED_FILE,
                "iteration": unverified.iteration,
                "not_proved": unverified.not_proved,
                "accuracy": finite(unverified.accuracy),
            }
        ),
        "region_points": last.region_points,
        "train_points": last.train_points,
        "seconds": round(time.monotonic() - start, 3),
        "verifier": config.verifier,
        "decision": config.decision,
        "method_options": asdict(options),
        "timeout": config.timeout,
        "seed": config.seed,
        "network": str(config.network),
        "properties": [str(p) for p in config.properties],
        "data": str(config.data),
        "repaired_network": None if repaired is None else REPAIRED_FILE,
        "nnv_version": nnv_version(),
    }


@hookimpl
def nnv_repair_methods() -> dict[str, type]:
    return {"retrain": RetrainMethod}
