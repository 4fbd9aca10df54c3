"""Trainers: what ``nnv train --method NAME`` runs, from the data to the results folder.

A trainer is a plugin (hook ``nnv_trainers``) like a solver or a repair method: a subclass of
:class:`Trainer` with its options in the constructor, declared as a frozen dataclass
(``Options``). ``nnv train`` builds one through the registry and calls :meth:`Trainer.train`
with a typed :class:`TrainRequest`; the trainer writes the folder (``model.onnx``,
``result.json``, ...) and returns a :class:`TrainResult`, whose :meth:`~TrainResult.to_json`
is ``result.json``. The built-in trainers are SMLE and its two baselines
(:mod:`nnv.plugins.smle`).

A solver that runs out of time is an outcome, not the user's mistake: a trainer reports it in
its result (not certified, with the reason), or raises :class:`TrainingStopped` when it
cannot finish at all; neither is bad input.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from nnv.core.plugin.options import NoOptions, build
from nnv.core.plugin.solver import Solver

SAMPLES = 100_000  # random inputs of the region the sample check runs, unless asked otherwise


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training, as a progress bar and the training curves see it."""

    epoch: int
    train_loss: float
    val_loss: float
    projections: int  # so far (0 for trainers that project nothing)
    violation: float  # the largest counterexample violation found this epoch (0: none)
    seconds: float
    counterexamples: int = 0  # found this epoch


@dataclass(frozen=True)
class ClosingRound:
    """One round of the projections after training: a counterexample found (``violation``)
    and projected away, or none left (``violation`` 0, ``converged``)."""

    round: int
    projections: int  # so far, training's included
    violation: float
    converged: bool = False


@dataclass(frozen=True)
class PhaseStarted:
    """A stage after the epochs begins (``closing``: the projections after training,
    ``certifying``: the checks of the exported file); ``detail`` says what it does."""

    phase: Literal["closing", "certifying"]
    detail: str = ""


# What a trainer tells ``nnv train`` (and ``nnv.train``'s caller) while it works.
TrainEvent = EpochRecord | ClosingRound | PhaseStarted
Progress = Callable[[TrainEvent], None]


@dataclass(frozen=True)
class TrainRequest:
    """What to train on, for which property, and where the results go.

    ``property_file`` and ``property_name`` pick a property from a file; ``quantile``
    generates one from the data instead (multi-label and forecasting data). ``series`` picks
    the series of a forecasting file; ``level`` asks to predict relative to the data's level
    input (None: when the data has one). ``samples`` inputs of the region are run through
    the exported file.
    """

    data: Path
    out: Path
    property_file: Path | None = None
    property_name: str | None = None
    quantile: float | None = None
    series: str | None = None
    level: bool | None = None
    samples: int = SAMPLES


@dataclass(frozen=True)
class SampleCheck:
    """Random inputs of the region run through the exported file, and how many broke the
    property."""

    count: int
    drawn: int  # points drawn to find ``count`` inside the region (rejection sampling)
    violations: int
    runtime: str  # what ran the file, e.g. "onnxruntime"

    @property
    def violation_rate(self) -> float:
        return self.violations / max(self.count, 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "drawn": self.drawn,
            "violations": self.violations,
            "violation_rate": self.violation_rate,
            "runtime": self.runtime,
        }


@dataclass(frozen=True)
class Proof:
    """A solver's check that no input of the region comes within ``margin`` of a violation.

    ``violation`` is how far a counterexample breaks the tightened property (0 when it
    holds; None when the solver decided nothing, and ``reason`` says why). ``level`` is the
    input column the file adds to every output, if any.
    """

    holds: bool
    margin: float
    solver: str
    violation: float | None
    seconds: float
    level: int | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "holds": self.holds,
            "margin": self.margin,
            "solver": self.solver,
            "violation": self.violation,
            "seconds": self.seconds,
            **({} if self.level is None else {"level": self.level}),
            **({"reason": self.reason} if self.reason else {}),
        }


@dataclass(frozen=True)
class TrainResult:
    """A training run: the guarantee, the scores per split, the cost and the settings.

    ``certified`` is true only when the exported file was proved to meet the property (and
    no sampled input broke it); ``certificate`` says how, or why not. ``scores`` are R^2
    (``metric`` "r2") or label-wise accuracy, per split; ``settings`` are the trainer's own.
    """

    method: str
    data: str
    property_name: str
    property_kind: str
    certified: bool
    certificate: str
    proof: Proof | None
    samples: SampleCheck
    metric: Literal["r2", "accuracy"]
    scores: Mapping[str, float]
    split_violation_rate: Mapping[str, float]
    projections: int
    epochs: int
    train_seconds: float
    total_seconds: float
    settings: Mapping[str, Any]
    machine: str
    series: str | None = None
    level: int | None = None
    precision: str | None = None  # of the file written (None: the trainer does not say)
    notice: str = ""  # one line the user should read, e.g. why the precision is not theirs
    files: tuple[str, ...] = ()  # what the trainer wrote into the folder

    @property
    def violation_rate(self) -> float:
        return self.samples.violation_rate

    def to_json(self) -> dict[str, Any]:
        """``result.json``: its keys in this order (tests and the docs read them)."""
        return {
            "method": self.method,
            "data": self.data,
            **({} if self.series is None else {"series": self.series}),
            **({} if self.level is None else {"level": self.level}),
            "property": self.property_name,
            "property_kind": self.property_kind,
            **({} if self.precision is None else {"precision": self.precision}),
            **({"notice": self.notice} if self.notice else {}),
            "certified": self.certified,
            "certificate": self.certificate,
            "proof": None if self.proof is None else self.proof.to_json(),
            "samples": self.samples.to_json(),
            "violation_rate": self.violation_rate,
            self.metric: dict(self.scores),
            "split_violation_rate": dict(self.split_violation_rate),
            "projections": self.projections,
            "epochs": self.epochs,
            "seconds": {"train": self.train_seconds, "total": self.total_seconds},
            "settings": dict(self.settings),
            "machine": self.machine,
        }


class TrainingStopped(Exception):  # noqa: N818 - an outcome, not an error of the user's
    """A trainer could not finish (a solver ran out of time, say) and wrote nothing: an
    outcome, like a model that is not certified (``nnv train`` exits 1), not bad input."""


class SolverLookup(Protocol):
    """Where a trainer gets its solvers: the registry ``nnv train`` built it from."""

    def solver(self, name: str, **options: Any) -> Solver: ...


class Trainer(abc.ABC):
    """Base class of trainer plugins. Options come in the constructor as keyword arguments,
    checked against ``Options`` (a frozen dataclass: names, types, defaults; its
    ``__post_init__`` refuses bad values with an ``InputError``)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions

    def __init__(self, **options: Any) -> None:
        self.options: Any = build(self.Options, options, f"trainer {self.name!r}")

    @abc.abstractmethod
    def train(
        self, request: TrainRequest, solvers: SolverLookup, progress: Progress | None = None
    ) -> TrainResult:
        """Train, write ``request.out`` and return the result.

        ``solvers`` builds the solvers the trainer needs; ``progress`` hears every epoch,
        and every later stage (:data:`TrainEvent`).
        Bad input raises an ``NnvError`` before anything is written.
        """

