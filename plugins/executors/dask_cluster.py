"""The ``dask`` executor: trials as tasks on a ``dask.distributed`` cluster.

With no scheduler address it starts a ``LocalCluster`` of ``workers`` processes (one thread
each) on this machine; with ``scheduler="tcp://host:8786"`` it joins that cluster, whose
workers must be able to import nnv and read the run's files at the same paths.

Inside a worker each trial still runs in a child process that is killed after its time limit.
A worker started as a daemonic process (dask's default for ``dask worker``) may not have
children; there the trial runs in the worker itself and only the solvers' own limits hold, so
start remote workers with ``--no-nanny`` or ``distributed.worker.daemon: false``. The local
cluster started here is configured so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from nnv.core import InputError, hookimpl
from nnv.core.executor import (
    RUN_GRACE,
    Executor,
    TrialJob,
    TrialTask,
    cut_short,
    default_workers,
    run_isolated,
)
from nnv.core.search import TrialResult


class DaskExecutor(Executor):
    """Trials as dask tasks, on a LocalCluster or on the cluster at ``scheduler``."""

    name = "dask"
    description = "tasks on a dask.distributed cluster (a LocalCluster unless --scheduler)"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        if workers is not None and workers < 1:
            raise InputError(f"workers must be at least 1, not {workers}")
        super().__init__(workers)
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise InputError(
                'the dask executor needs dask.distributed: pip install "nnv[dask]"'
            ) from None
        self._cluster: Any = None
        if scheduler is None:
            with dask.config.set({"distributed.worker.daemon": False}):
                self._cluster = LocalCluster(
                    n_workers=workers or default_workers(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            self._client: Any = Client(self._cluster)
        else:
            try:
                self._client = Client(scheduler, timeout=30)
            except OSError as error:
                message = f"cannot reach the dask scheduler at {scheduler}: {error}"
                raise InputError(message) from None

    def map(self, job: TrialJob, tasks: Sequence[TrialTask]) -> Iterator[tuple[int, TrialResult]]:
        """Submit every task; past the run's deadline (plus grace) the tasks still out are
        cut short: their futures are cancelled, and a worker's trial process is killed by
        its own timer."""
        from dask.distributed import as_completed

        futures = {
            self._client.submit(run_isolated, job, task, pure=False): index
            for index, task in enumerate(tasks)
        }
        deadlines = [task.deadline for task in tasks if task.deadline is not None]
        wait = None if not deadlines else max(deadlines) + RUN_GRACE + 1.0 - time.time()
        done: set[int] = set()
        try:
            for future in as_completed(futures, timeout=wait):
                done.add(futures[future])
                yield futures[future], future.result()
        except TimeoutError:  # what dask raises when the wait runs out
            for index in sorted(set(futures.values()) - done):
                yield index, cut_short(tasks[index])
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


@hookimpl
def nnv_executors() -> dict[str, type]:
    return {"dask": DaskExecutor}
