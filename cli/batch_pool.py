"""Where a batch's instances run: threads here (``local``) or tasks on a dask cluster.

Each instance is a process of its own either way (:func:`~nnv.core.run.batch.run_instance`);
a thread or a dask task only starts it and waits, so ``workers`` instances run at once.
The executor plugins' ``map`` runs repair trials (typed tasks and results), so a batch has
these two small pools instead; the dask one connects as the plugin does (locally with
threads, not processes).

On dask, a remote cluster's workers must have nnv installed and read the instances' files
at the same (absolute) paths; the result files come back in the task's answer, so only this
process writes the output folder. Without ``--scheduler`` a LocalCluster of ``workers``
threads is started (threads suffice: the work is in the instance processes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from nnv.core.errors import InputError
from nnv.core.run.batch import InstanceJob, InstanceOutcome, run_instance, stop_all

EXECUTORS = ("local", "dask")


class LocalPool:
    """``workers`` instance processes at once on this machine."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, jobs: Sequence[InstanceJob]) -> Iterator[tuple[int, InstanceOutcome]]:
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="nnv-instance")
        futures = {pool.submit(run_instance, job): index for index, job in enumerate(jobs)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:  # Ctrl-C or an error: no instance process is left behind
            for future in futures:
                future.cancel()
            stop_all()
            pool.shutdown(wait=True)

    def close(self) -> None:
        """Nothing held between runs."""


class DaskPool:
    """Instances as tasks on the dask cluster at ``scheduler``, or on a LocalCluster."""

    def __init__(self, workers: int, scheduler: str | None) -> None:
        from nnv.plugins.executors.dask_cluster import connect

        self._cluster, self._client = connect(scheduler, workers, processes=False)

    def run(self, jobs: Sequence[InstanceJob]) -> Iterator[tuple[int, InstanceOutcome]]:
        from dask.distributed import as_completed as completed

        futures = {
            self._client.submit(run_instance, job, pure=False): index
            for index, job in enumerate(jobs)
        }
        try:
            for future in completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()
            stop_all()  # a LocalCluster's tasks run in this process's threads

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead cluster's client can raise
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_pool(executor: str, workers: int, scheduler: str | None) -> LocalPool | DaskPool:
    if executor not in EXECUTORS:
        raise InputError(f"--executor {executor!r}: use one of {', '.join(EXECUTORS)}")
    if scheduler is not None and executor != "dask":
        raise InputError("--scheduler needs --executor dask")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, not {workers}")
    return LocalPool(workers) if executor == "local" else DaskPool(workers, scheduler)
