"""The hooks a plugin can implement (pluggy, project name ``nnv``).

Contribution hooks return a mapping name -> factory; every plugin kind has one. Event hooks
let observers (progress bars, loggers, result stores) follow what the engines do.

A plugin module implements some of these with ``@hookimpl`` and is registered through the
entry-point group ``nnv`` in its distribution's metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

PROJECT = "nnv"


hookspec = pluggy.HookspecMarker(PROJECT)


hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def nnv_solvers() -> Mapping[str, type]:
    """Solver classes (subclasses of :class:`nnv.core.plugin.solver.Solver`) by name."""
    raise NotImplementedError


@hookspec
def nnv_network_loaders() -> Mapping[str, type]:
    """Network loader classes (:class:`nnv.core.plugin.formats.NetworkLoader`) by name."""
    raise NotImplementedError


@hookspec
def nnv_network_savers() -> Mapping[str, type]:
    """Network saver classes (:class:`nnv.core.plugin.formats.NetworkSaver`) by name."""
    raise NotImplementedError


@hookspec
def nnv_property_loaders() -> Mapping[str, type]:
    """Property loader classes (:class:`nnv.core.plugin.formats.PropertyLoader`) by name."""
    raise NotImplementedError


@hookspec
def nnv_heuristics() -> Mapping[str, type]:
    """Similarity heuristic classes (:class:`nnv.core.plugin.heuristic.Heuristic`) by name."""
    raise NotImplementedError


@hookspec
def nnv_search_strategies() -> Mapping[str, type]:
    """Search strategy classes (:class:`nnv.core.plugin.search.SearchStrategy`) by name."""
    raise NotImplementedError


@hookspec
def nnv_objectives() -> Mapping[str, type]:
    """Objective classes of repair synthesis (:class:`nnv.core.plugin.objective.Objective`)
    by name: what ``nnv run --objective NAME`` minimises."""
    raise NotImplementedError


@hookspec
def nnv_executors() -> Mapping[str, Callable[..., Any]]:
    """Executors (where trials run) by name."""
    raise NotImplementedError


@hookspec
def nnv_repair_methods() -> Mapping[str, type]:
    """Repair method classes (:class:`nnv.core.plugin.method.RepairMethod`) by name: what
    ``nnv run --method NAME`` runs (``solver``, the paper's method, by default)."""
    raise NotImplementedError


@hookspec
def nnv_trainers() -> Mapping[str, Callable[..., Any]]:
    """Trainers (SMLE and baselines) by name."""
    raise NotImplementedError


@hookspec
def nnv_counterexample_found(source: str, inputs: Any, outputs: Any) -> None:
    """A counterexample was found and replayed; ``source`` says which stage found it."""


@hookspec
def nnv_trial_started(free: tuple[str, ...]) -> None:
    """A repair trial with these free parameters started."""


@hookspec
def nnv_trial_finished(result: Any) -> None:
    """A repair trial finished (:class:`nnv.core.repair.trial.TrialResult`)."""


@hookspec
def nnv_verification_finished(result: Any) -> None:
    """A verification finished with ``result``
    (:class:`nnv.core.verify.verifier.VerificationResult`)."""
