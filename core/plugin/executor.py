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
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Protocol

from nnv.core.repair.trial import FreeSet, TrialResult

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
