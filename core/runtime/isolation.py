"""Each trial in a forked child process that can be stopped.

A solver that ignores its time limit, hangs or crashes costs one trial, not the search: the
child is killed a little after the trial's time limit (:func:`kill_after`), or at most
:data:`~nnv.core.plugin.executor.RUN_GRACE` seconds after the run's deadline, and the trial is
recorded as a timeout, or as an error when the child died on its own. Forking also means a
child inherits the parent's loaded network and solvers for free.
"""

from __future__ import annotations

import math
import multiprocessing
import pickle
import time
import traceback
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, cast

from nnv.core.plugin.executor import RUN_GRACE, TrialJob, TrialTask, cut_short, not_started
from nnv.core.repair.trial import TrialResult
from nnv.core.status import TrialStatus

_FORK = multiprocessing.get_context("fork")


def kill_after(timeout: float | None) -> float | None:
    """Seconds after which a trial's process is killed: its own limit plus time to report it."""
    return None if timeout is None else timeout * 1.1 + 5.0


def _child_main(job: TrialJob, task: TrialTask, conn: Connection) -> None:
    """Run the trial; send ``("result", TrialResult)`` or ``("raise", exception)`` back."""
    try:
        message: tuple[str, Any] = ("result", job(task))
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the parent
        message = ("raise", _portable(error))
    try:
        conn.send(message)
    finally:
        conn.close()


def _portable(error: BaseException) -> BaseException:
    """The error itself when it pickles, else a RuntimeError with its traceback."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - anything that does not survive pickling
        text = "".join(traceback.format_exception(error)).strip()
        return RuntimeError(text)


class _Child:
    """A trial running in a forked process."""

    def __init__(self, index: int, job: TrialJob, task: TrialTask) -> None:
        self.index = index
        self.task = task = task.starting_now()
        self.started = time.monotonic()
        limit = kill_after(task.timeout)
        left = task.left()
        if left is not None:  # the run's deadline holds whatever the trial's own limit
            limit = min(limit if limit is not None else math.inf, left + RUN_GRACE)
        self.kill_at = None if limit is None else self.started + limit
        self.conn, child_conn = _FORK.Pipe(duplex=False)
        self.process: BaseProcess = _FORK.Process(
            target=_child_main, args=(job, task, child_conn), daemon=False
        )  # not daemonic, so that a trial may check its regions in children of its own
        self.process.start()
        child_conn.close()

    def overdue(self, now: float) -> bool:
        return self.kill_at is not None and now >= self.kill_at

    def collect(self) -> TrialResult:
        """The trial's result once its pipe is readable (or closed by a dying child)."""
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            self.process.join()
            return self._failed(f"the trial's process died (exit code {self.process.exitcode})")
        finally:
            self.conn.close()
        self.process.join()
        if kind == "raise":
            raise payload
        result: TrialResult = payload
        return result

    def kill(self) -> TrialResult:
        self.process.kill()
        self.process.join()
        self.conn.close()
        left = self.task.left()
        if left is not None and left <= 0:
            return cut_short(self.task, time.monotonic() - self.started)
        return self._failed(
            f"stopped: still running {time.monotonic() - self.started:.0f} s after the "
            f"{self.task.timeout:g} s trial limit had passed",
            status="timeout",
        )

    def _failed(self, message: str, status: TrialStatus = "error") -> TrialResult:
        return TrialResult(self.task.free, status, time.monotonic() - self.started, message=message)


class IsolatedTrials:
    """Up to ``workers`` trials at once, each in a forked child; the parent only waits."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers

    def map(self, job: TrialJob, tasks: Sequence[TrialTask]) -> Iterator[tuple[int, TrialResult]]:
        waiting = list(enumerate(tasks))[::-1]
        running: dict[Connection, _Child] = {}
        try:
            while waiting or running:
                while waiting and len(running) < self.workers:
                    index, task = waiting.pop()
                    if task.too_late():
                        yield index, not_started(task)
                        continue
                    child = _Child(index, job, task)
                    running[child.conn] = child
                if not running:  # every task left was too late to start
                    continue
                for ready in wait(list(running), timeout=_next_wake(running.values())):
                    child = running.pop(cast(Connection, ready))
                    yield child.index, child.collect()
                now = time.monotonic()
                for conn, child in list(running.items()):
                    if child.overdue(now):
                        del running[conn]
                        yield child.index, child.kill()
        finally:
            for child in running.values():  # Ctrl-C or an error: leave no orphan behind
                child.process.kill()
                child.process.join()


def _next_wake(children: Any) -> float | None:
    """Seconds until the first child is due to be killed (None: no child has a limit)."""
    deadlines = [child.kill_at for child in children if child.kill_at is not None]
    return None if not deadlines else max(min(deadlines) - time.monotonic(), 0.0)


def run_isolated(job: TrialJob, task: TrialTask) -> TrialResult:
    """One trial in a child process, or in this one where it may not have children (a
    daemonic process, as dask's default workers are): then only the solvers' own time limits
    hold."""
    if task.too_late():
        return not_started(task)
    if multiprocessing.current_process().daemon:
        return job(task.starting_now())
    for _, result in IsolatedTrials(1).map(job, [task]):
        return result
    raise AssertionError("IsolatedTrials yielded no result")  # pragma: no cover
