"""Regions checked side by side: answers in order, failures raised, no child left behind;
and the loop's check of a candidate across rounds (proofs remembered, more time when
undecided, the same repair with one or two workers)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nnv.core import Network, Property
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.registry import default_registry
from nnv.core.repair.candidates import CandidateChecker, RoundState
from nnv.core.repair.settings import RepairSettings
from nnv.core.runtime.parallel import can_fork, map_forked
from nnv.core.verify.verifier import VerificationResult, Verifier

pytestmark = pytest.mark.skipif(not can_fork(), reason="checks run in children on Linux only")


def _slow_pid(seconds: float) -> tuple[float, int]:
    time.sleep(seconds)
    return seconds, os.getpid()


def test_answers_come_back_in_order_from_other_processes() -> None:
    delays = [0.4, 0.0, 0.2, 0.1]  # the first finishes last
    answers = list(map_forked(_slow_pid, delays, workers=2))
    assert [seconds for seconds, _ in answers] == delays
    assert os.getpid() not in {pid for _, pid in answers}


def test_one_worker_runs_here_and_stops_where_the_caller_stops() -> None:
    seen: list[int] = []

    def note(item: int) -> int:
        seen.append(item)
        return item

    for answer in map_forked(note, [1, 2, 3], workers=1):
        if answer == 2:
            break
    assert seen == [1, 2]  # lazily, in this process


def _fails(item: int) -> int:
    if item == 2:
        raise ValueError("no such region")
    return item


def test_a_failure_in_a_child_is_raised_here() -> None:
    with pytest.raises(RuntimeError, match="ValueError: no such region"):
        list(map_forked(_fails, [1, 2, 3], workers=2))


def _pid_of_daemon(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put((os.getpid(), [pid for _, pid in map_forked(_slow_pid, [0.0, 0.0], 2)]))


def test_a_daemonic_process_checks_in_itself() -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_pid_of_daemon, args=(queue,), daemon=True)
    process.start()
    own, pids = queue.get(timeout=30)
    process.join()
    assert pids == [own, own]


def _sleep_and_tell(path: Path) -> None:
    def sleep_long(item: int) -> int:
        path.with_suffix(f".{item}").write_text(str(os.getpid()))
        time.sleep(60)
        return item

    list(map_forked(sleep_long, [0, 1], 2))


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status  # a zombie waiting for its new parent counts as gone


def test_the_children_die_with_the_process_that_forked_them(tmp_path: Path) -> None:
    """A trial killed for overrunning leaves no region check running."""
    context = multiprocessing.get_context("fork")
    middle = context.Process(target=_sleep_and_tell, args=(tmp_path / "pid",))
    middle.start()
    files = [tmp_path / "pid.0", tmp_path / "pid.1"]
    for _ in range(200):
        if all(f.exists() and f.read_text() for f in files):
            break
        time.sleep(0.05)
    children = [int(f.read_text()) for f in files]
    assert not any(_gone(pid) for pid in children)
    os.kill(middle.pid or 0, signal.SIGKILL)
    middle.join()
    for _ in range(100):
        if all(_gone(pid) for pid in children):
            break
        time.sleep(0.05)
    assert all(_gone(pid) for pid in children)


# -- the loop's check of a candidate ---------------------------------------------------------


def _two_safe_regions() -> tuple[Network, list[Property]]:
    """y = (x, 1 - x) on x in [0, 0.4] and [0.1, 0.3]: class 1 everywhere, so both hold."""
    net = Network([([[1.0], [-1.0]], [0.0, 1.0])])
    props = [
        Property.robustness([0.2], 0.2, label=1, n_outputs=2),
        Property.robustness([0.2], 0.1, label=1, n_outputs=2),
    ]
    return net, [replace(p, name=f"region {i}") for i, p in enumerate(props)]


class _Recording:
    """The checker's verifier: records (region, time given); ``timeout`` for region 1's first
    check, the real answer otherwise."""

    calls: list[tuple[str, float | None]] = []

    def __init__(self, solver: object, timeout: float | None = None) -> None:
        self.real = Verifier(solver, timeout=timeout)  # type: ignore[arg-type]
        self.timeout = timeout

    def verify(self, network: Network, prop: Property) -> VerificationResult:
        type(self).calls.append((prop.name, self.timeout))
        if prop.name == "region 1" and sum(name == prop.name for name, _ in self.calls) == 1:
            return VerificationResult("timeout", "fake")
        return self.real.verify(network, prop)


def test_proofs_are_remembered_and_an_undecided_region_gets_twice_the_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nnv.core.repair.candidates as candidates

    monkeypatch.setattr(candidates, "Verifier", _Recording)
    _Recording.calls = []
    net, props = _two_safe_regions()
    soft = SoftConstraints(np.zeros((0, 1)), np.zeros(0, dtype=np.int64))
    settings = RepairSettings(check_seconds=3.0, near_misses=5)
    checker = CandidateChecker(net, props, soft, default_registry().solver("highs"), settings)
    state = RoundState([[], []], [], candidate={"b1.1": 0.0})
    assert checker.check(net, [], state, None) == "verified"
    # region 1 undecided in 3 s: tried again at once on the same candidate with 6 s
    assert _Recording.calls == [("region 0", 3.0), ("region 1", 3.0), ("region 1", 6.0)]
    assert state.near_misses == 0 and state.rounds == 0
    assert checker.check(net, [], state, None) == "verified"  # the same values: remembered
    assert len(_Recording.calls) == 3
    state.candidate = {"b1.1": 1e-9}  # other values: proved again, the slow region first
    assert checker.check(net, [], state, None) == "verified"
    assert _Recording.calls[3:] == [("region 1", 6.0), ("region 0", 3.0)]
