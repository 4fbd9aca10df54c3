"""``nnv run`` without the command line: hand the run to its repair method (a plugin)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from nnv.core.plugin.method import RepairMethod
from nnv.core.plugin.registry import Registry
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import RunConfig
from nnv.core.run.results import RunOutcome


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
    before anything is written. A config that names no verifier gets the default one here
    (:meth:`RunConfig.verifier_name`), so the method and its results name the one it used.
    """
    config = replace(config, verifier=config.verifier_name(registry.names("solver")))
    method: RepairMethod = registry.create("repair-method", config.method, config.method_options)
    return method.repair(config, registry, on_trial, on_planned)
