"""One trial of a solver-method run, as the executors take it (picklable for dask)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from nnv.core.errors import CapabilityError
from nnv.core.plugin.executor import TrialTask
from nnv.core.repair.loop import Repairer
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import RunConfig
from nnv.plugins.methods.solver.build import build_run
from nnv.plugins.methods.solver.options import SolverOptions


class RepairJob:
    """Runs one trial of this run; the :class:`~nnv.core.plugin.executor.TrialJob` executors take.

    A forked child uses the parent's repairer as it is; a pickled copy (a dask worker) rebuilds
    it from the config once per worker process, so the run's files must be readable there.
    """

    def __init__(self, config: RunConfig, options: SolverOptions, repairer: Repairer) -> None:
        self.config = config
        self.options = options
        self.repairer: Repairer | None = repairer
        # one named set: a solver that cannot take it is the user's mistake, not a trial's result
        sets = options.given_sets()
        self.strict = sets is not None and len(sets) == 1

    def __getstate__(self) -> dict[str, Any]:
        config = _absolute(self.config)
        return {"config": config, "options": self.options, "repairer": None, "strict": self.strict}

    def __call__(self, task: TrialTask) -> TrialResult:
        repairer = self.repairer or _worker_repairer(self.config, self.options)
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


def _worker_repairer(config: RunConfig, options: SolverOptions) -> Repairer:
    """The repairer for ``config`` and ``options``, built once per process."""
    from nnv.core.plugin.registry import default_registry

    key = repr((config, options))
    if key not in _WORKER_REPAIRERS:
        _WORKER_REPAIRERS[key] = build_run(config, options, default_registry())[2]
    return _WORKER_REPAIRERS[key]


def _absolute(config: RunConfig) -> RunConfig:
    return replace(
        config,
        network=Path(config.network).resolve(),
        properties=[Path(p).resolve() for p in config.properties],
        data=Path(config.data).resolve(),
    )
