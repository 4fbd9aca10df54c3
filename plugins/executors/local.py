"""The ``local`` executor: trials in forked processes on this machine, one per core by default."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from nnv.core import InputError, hookimpl
from nnv.core.plugin.executor import Executor, TrialJob, TrialTask, default_workers
from nnv.core.repair.trial import TrialResult
from nnv.core.runtime.isolation import IsolatedTrials


class LocalExecutor(Executor):
    """Up to ``workers`` trials at once (default: every core), each in its own process."""

    name = "local"
    description = "a process per trial on this machine's cores (default)"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise InputError(f"workers must be at least 1, not {workers}")
        super().__init__(workers or default_workers())

    def map(self, job: TrialJob, tasks: Sequence[TrialTask]) -> Iterator[tuple[int, TrialResult]]:
        return IsolatedTrials(self.workers or 1).map(job, tasks)


@hookimpl
def nnv_executors() -> dict[str, type]:
    return {"local": LocalExecutor}
