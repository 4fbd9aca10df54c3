"""The hooks a plugin can implement (pluggy, project name ``nnv``).

Contribution hooks return a mapping name -> plugin class; every plugin kind has one. Event
hooks let observers (progress bars, loggers, result stores) follow what the engines do; the
engines fire them through :class:`Events`, the typed view of the hook caller
(:attr:`nnv.core.plugin.registry.Registry.hook`).

A plugin module implements some of these with ``@hookimpl`` and is registered through the
entry-point group ``nnv`` in its distribution's metadata. Pluggy passes arguments by name:
an implementation's parameters must be named as here (it may take fewer of them).

``nnv_repair_methods`` returns ``type`` rather than ``type[RepairMethod]``: a method is given
the :class:`~nnv.core.plugin.registry.Registry`, and the registry loads these specs, so naming
the method's class here would make an import cycle. The registry checks nothing about a
contribution's type at load time in any case; the interfaces below say what each must be.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:  # the specs only name these: a command loads the interfaces it uses
    import numpy as np

    from nnv.core.plugin.executor import Executor
    from nnv.core.plugin.formats import NetworkLoader, NetworkSaver, PropertyLoader
    from nnv.core.plugin.heuristic import Heuristic
    from nnv.core.plugin.objective import Objective
    from nnv.core.plugin.search import SearchStrategy
    from nnv.core.plugin.solver import Solver
    from nnv.core.plugin.trainer import Trainer
    from nnv.core.repair.trial import FreeSet, TrialResult
    from nnv.core.verify.verifier import VerificationResult

PROJECT = "nnv"


hookspec = pluggy.HookspecMarker(PROJECT)


hookimpl = pluggy.HookimplMarker(PROJECT)


# -- contributions: name -> plugin class ----------------------------------------------------


@hookspec
def nnv_solvers() -> Mapping[str, type[Solver]]:
    """Solver classes (subclasses of :class:`nnv.core.plugin.solver.Solver`) by name."""
    raise NotImplementedError


@hookspec
def nnv_network_loaders() -> Mapping[str, type[NetworkLoader]]:
    """Network loader classes (:class:`nnv.core.plugin.formats.NetworkLoader`) by name."""
    raise NotImplementedError


@hookspec
def nnv_network_savers() -> Mapping[str, type[NetworkSaver]]:
    """Network saver classes (:class:`nnv.core.plugin.formats.NetworkSaver`) by name."""
    raise NotImplementedError


@hookspec
def nnv_property_loaders() -> Mapping[str, type[PropertyLoader]]:
    """Property loader classes (:class:`nnv.core.plugin.formats.PropertyLoader`) by name."""
    raise NotImplementedError


@hookspec
def nnv_heuristics() -> Mapping[str, type[Heuristic]]:
    """Similarity heuristic classes (:class:`nnv.core.plugin.heuristic.Heuristic`) by name."""
    raise NotImplementedError


@hookspec
def nnv_search_strategies() -> Mapping[str, type[SearchStrategy]]:
    """Search strategy classes (:class:`nnv.core.plugin.search.SearchStrategy`) by name."""
    raise NotImplementedError


@hookspec
def nnv_objectives() -> Mapping[str, type[Objective]]:
    """Objective classes of repair synthesis (:class:`nnv.core.plugin.objective.Objective`)
    by name: what ``nnv run --objective NAME`` minimises."""
    raise NotImplementedError


@hookspec
def nnv_executors() -> Mapping[str, type[Executor]]:
    """Executor classes (:class:`nnv.core.plugin.executor.Executor`: where trials run) by name."""
    raise NotImplementedError


@hookspec
def nnv_repair_methods() -> Mapping[str, type]:
    """Repair method classes (subclasses of :class:`nnv.core.plugin.method.RepairMethod`) by
    name: what ``nnv run --method NAME`` runs (``solver``, the paper's method, by default)."""
    raise NotImplementedError


@hookspec
def nnv_trainers() -> Mapping[str, type[Trainer]]:
    """Trainer classes (:class:`nnv.core.plugin.trainer.Trainer`) by name: what
    ``nnv train --method NAME`` runs (``smle`` and its baselines, built in)."""
    raise NotImplementedError


# -- events ---------------------------------------------------------------------------------


@hookspec
def nnv_counterexample_found(source: str, inputs: np.ndarray, outputs: np.ndarray) -> None:
    """A counterexample was found and replayed in float64: ``inputs`` in the property's region,
    ``outputs`` the network's (unsafe) outputs there. ``source`` says which stage found it:
    ``falsification``, ``branch-and-bound`` or ``solver`` (a verification), ``repair`` (the
    repair loop's check of a candidate) or ``certification`` (a candidate refused)."""


@hookspec
def nnv_trial_started(free: FreeSet) -> None:
    """A repair trial with these free parameters started."""


@hookspec
def nnv_trial_finished(result: TrialResult) -> None:
    """A repair trial finished (resumed trials, taken from trials.csv, fire nothing)."""


@hookspec
def nnv_verification_progress(open_boxes: int, boxes: int, settled: int, seconds: float) -> None:
    """Branch and bound took a step: ``open_boxes`` wait in its queue, ``boxes`` have been
    bounded and ``settled`` proved so far, ``seconds`` since the verification began (a
    progress display; fired once per step of up to 256 boxes)."""


@hookspec
def nnv_verification_finished(result: VerificationResult) -> None:
    """A verification (``nnv verify``) finished with ``result``."""


class Events(Protocol):
    """The hook caller as the engines fire events through it: keyword arguments only (as
    pluggy requires), one result per implementation (None for these hooks)."""

    def nnv_counterexample_found(
        self, *, source: str, inputs: np.ndarray, outputs: np.ndarray
    ) -> list[None]: ...

    def nnv_trial_started(self, *, free: FreeSet) -> list[None]: ...

    def nnv_trial_finished(self, *, result: TrialResult) -> list[None]: ...

    def nnv_verification_progress(
        self, *, open_boxes: int, boxes: int, settled: int, seconds: float
    ) -> list[None]: ...

    def nnv_verification_finished(self, *, result: VerificationResult) -> list[None]: ...
