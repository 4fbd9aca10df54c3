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

import asyncio
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

from nnv.core import InputError, hookimpl
from nnv.core.plugin.executor import (
    RUN_GRACE,
    Executor,
    TrialJob,
    TrialTask,
    cut_short,
    default_workers,
)
from nnv.core.repair.trial import TrialResult
from nnv.core.runtime.isolation import run_isolated

_SCHEMES = ("tcp", "tls", "ws", "wss")  # the ones addressed as host:port
PROBE_SECONDS = 10


class DaskExecutor(Executor):
    """Trials as dask tasks, on a LocalCluster or on the cluster at ``scheduler``."""

    name = "dask"
    description = "tasks on a dask.distributed cluster (a LocalCluster unless --scheduler)"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        if workers is not None and workers < 1:
            raise InputError(f"workers must be at least 1, not {workers}")
        super().__init__(workers)
        self._cluster, self._client = connect(scheduler, workers or default_workers(), True)

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


def _host_port(address: str) -> tuple[str, int]:
    """The host and port of a scheduler address, or the one-line reason it is not one."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme not in _SCHEMES:
            raise ValueError(f"scheme {scheme!r} is not one of {', '.join(_SCHEMES)}")
        host, port = parse_host_port(location)
        if not host or not 0 < port < 65536:
            raise ValueError("it needs a host and a port from 1 to 65535")
    except ValueError as error:
        raise InputError(
            f"--scheduler {address!r} is not a dask scheduler address like "
            f"tcp://host:8786 ({error})"
        ) from None
    return host, port


def connect(scheduler: str | None, workers: int, processes: bool) -> tuple[Any, Any]:
    """A dask ``(cluster, client)``: a LocalCluster of ``workers`` single-thread workers
    (``processes``, or threads of this one) when ``scheduler`` is None, else ``(None, client)``
    of the cluster there, checked first so a wrong address fails in one line.

    Local worker processes are not daemonic, so a trial can still run in a child process."""
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            'the dask executor needs dask.distributed: pip install "nnv[dask]"'
        ) from None
    if scheduler is None:
        with dask.config.set({"distributed.worker.daemon": False}):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
            )
        return cluster, Client(cluster)
    check_scheduler(scheduler)
    try:
        return None, Client(scheduler, timeout=30)
    except OSError as error:
        raise InputError(f"cannot reach the dask scheduler at {scheduler}: {error}") from None


def check_scheduler(address: str) -> None:
    """Fail in one line, within seconds, unless a dask scheduler answers at ``address``.

    dask's client retries a refused connection until its timeout, and waits for ever for the
    handshake of something that accepts connections but is not a scheduler (its dashboard,
    say), or reads that one's answer as a frame length and runs out of memory."""
    from distributed.comm import connect

    async def handshake() -> None:
        comm = await connect(address, timeout=PROBE_SECONDS)
        await comm.close()

    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
        asyncio.run(asyncio.wait_for(handshake(), PROBE_SECONDS))
    except TimeoutError:
        message = f"no dask scheduler answered at {address} within {PROBE_SECONDS} s"
        raise InputError(message) from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise InputError(f"cannot reach the dask scheduler at {address}: {reason}") from None
    except Exception as error:  # the far end's bytes are not dask's protocol
        raise InputError(
            f"{address} did not answer as a dask scheduler ({type(error).__name__})"
        ) from None


@hookimpl
def nnv_executors() -> dict[str, type]:
    return {"dask": DaskExecutor}
