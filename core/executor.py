"""Executors: where repair trials run, each in a process of its own that can be stopped.

A search hands the executor a batch of :class:`TrialTask`; the executor runs each through a
:class:`TrialJob` (a picklable callable that owns the network, properties and solvers) and
yields ``(index, result)`` as trials finish, in any order.

Every trial runs in a forked child process (:func:`run_isolated`, :class:`IsolatedTrials`), so
a solver that ignores its time limit, hangs or crashes costs one trial, not the search: the
child is killed a little after the trial's time limit (:func:`kill_after`) and the trial is
recorded as a timeout, or as an error when the child died on its own. Forking also means a
child inherits the parent's loaded network and solvers for free.

A task may also carry the whole run's deadline. Its time limit is then fixed when it starts
(its own limit, cut to what is left of the run), a task whose turn comes after the deadline is
not started at all, and a running one is killed at most :data:`RUN_GRACE` seconds after it, so
``--timeout`` holds however many trials were queued.
"""

from __future__ import annotations

import abc
import math
import multiprocessing
import os
import pickle
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, ClassVar, Protocol, cast

from .search import FreeSet, TrialResult, TrialStatus

_FORK = multiprocessing.get_context("fork")

# seconds a trial may run past the run's deadline (to report what it has) before it is killed
RUN_GRACE = 2.0


@dataclass(frozen=True)
class TrialTask:
    """One trial to run: these free parameters, stopped after ``timeout`` seconds (None: never)
    and, when ``deadline`` is set (a ``time.time()`` instant: the run's end), by then too."""

    free: FreeSet
    timeout: float | None = None
    deadline: float | None = None

    def left(self) -> float | None:
        """Seconds until the run's deadline (None: the run has none)."""
        return None if self.deadline is None else self.deadline - time.time()

    def starting_now(self) -> TrialTask:
        """The task as it starts: its limit is its own, cut to what is left of the run."""
        left = self.left()
        limits = [t for t in (self.timeout, left) if t is not None]
        return replace(self, timeout=max(min(limits), 0.0) if limits else None)

    def too_late(self) -> bool:
        """Whether the run's deadline passed before the task could start."""
        left = self.left()
        return left is not None and left <= 0


def cut_short(task: TrialTask, seconds: float = 0.0) -> TrialResult:
    """The result of a task the run's deadline stopped while it ran."""
    message = "stopped: the run's timeout passed while it ran"
    return TrialResult(task.free, "timeout", seconds, message=message, cut_short=True)


def not_started(task: TrialTask) -> TrialResult:
    """The result of a task whose turn came after the run's deadline: no trial at all."""
    return TrialResult(
        task.free, "timeout", message="the run's timeout passed before it started", started=False
    )


class TrialJob(Protocol):
    """Runs one trial; must pickle (a remote worker rebuilds what it needs from the pickle)."""

    def __call__(self, task: TrialTask) -> TrialResult: ...


class Executor(abc.ABC):
    """Base class of executor plugins; options in the constructor, ``workers`` among them.

    Use as a context manager: ``close`` releases processes or cluster connections.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers

    @abc.abstractmethod
    def map(self, job: TrialJob, tasks: Sequence[TrialTask]) -> Iterator[tuple[int, TrialResult]]:
        """Run every task; yield ``(position in tasks, result)`` as each finishes."""

    def close(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """Release what the executor holds; the default holds nothing."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_workers() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0))


def kill_after(timeout: float | None) -> float | None:
    """Seconds after which a trial's process is killed: its own limit plus time to report it."""
    return None if timeout is None else timeout * 1.1 + 5.0


# -- one trial in a child process ----------------------------------------------------------


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
            target=_child_main, args=(job, task, child_conn), daemon=True
        )
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
