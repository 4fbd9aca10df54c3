"""Independent checks (one region's verification each) spread over forked processes.

A repair on many regions spends most of its time proving each region in turn: the loop's
check of a candidate, the certificate, the held-out boxes. These are independent, so with
``workers`` > 1 each runs in a forked child (which inherits the network and the solver, so
nothing is pickled on the way in; each answer is pickled on the way back). Results come back
in the order of the items whatever order the children finish in, so a run's outcome does not
depend on the timing. The children die with the process that forked them (Linux's parent-death
signal), so a trial killed for overrunning leaves none behind; where that signal is missing,
or where this process may not fork (a daemonic one), the items run here, one after another.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar, cast

Item = TypeVar("Item")
Answer = TypeVar("Answer")

_FORK = multiprocessing.get_context("fork")
_PR_SET_PDEATHSIG = 1


def map_forked(
    function: Callable[[Item], Answer], items: Sequence[Item], workers: int
) -> Iterator[Answer]:
    """``function(item)`` of each item in order; up to ``workers`` at a time in forked
    children (all of them computed before the first is yielded), else lazily here, so that a
    caller who stops at the first answer it cannot use saves the rest."""
    if workers <= 1 or len(items) <= 1 or not can_fork():
        for item in items:
            yield function(item)
        return
    yield from _in_children(function, items, workers)


def _in_children(
    function: Callable[[Item], Answer], items: Sequence[Item], workers: int
) -> list[Answer]:
    answers: dict[int, Answer] = {}
    waiting = list(enumerate(items))[::-1]
    running: dict[Connection, tuple[int, Any]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                index, item = waiting.pop()
                receive, send = _FORK.Pipe(duplex=False)
                process = _FORK.Process(
                    target=_child, args=(function, item, send, os.getpid())
                )
                process.start()
                send.close()
                running[receive] = (index, process)
            for ready in wait(list(running)):
                conn = cast(Connection, ready)
                index, process = running.pop(conn)
                answers[index] = _collect(conn, process)
    finally:
        for _, process in running.values():  # an error or Ctrl-C: leave no child behind
            process.kill()
            process.join()
    return [answers[index] for index in range(len(items))]


def can_fork() -> bool:
    """Whether checks may run in children here: Linux (for the parent-death signal), and not
    inside a daemonic process, which may not have children."""
    return sys.platform.startswith("linux") and not multiprocessing.current_process().daemon


def _child(function: Callable[[Any], Any], item: Any, conn: Connection, parent: int) -> None:
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)
    try:
        message: tuple[str, Any] = ("answer", function(item))
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the parent
        message = ("raise", RuntimeError(f"{type(error).__name__}: {error}"))
    try:
        conn.send(message)
    finally:
        conn.close()


def _collect(conn: Connection, process: Any) -> Any:
    try:
        kind, payload = conn.recv()
    except (EOFError, OSError):
        process.join()
        raise RuntimeError(f"a check's process died (exit code {process.exitcode})") from None
    finally:
        conn.close()
    process.join()
    if kind == "raise":
        raise payload
    return payload
