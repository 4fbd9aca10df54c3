"""Executors: trials in child processes that a hang or a crash cannot take down, on this
machine or on a dask cluster; and searches that resume where a killed run stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import pytest
from test_run import FREE, example_args, example_config, read_rows

from nnv.core import Query, Solution, Solver, hookimpl
from nnv.core.plugin.executor import TrialTask
from nnv.core.plugin.registry import Registry, default_registry
from nnv.core.repair.trial import TrialResult
from nnv.core.run.dispatch import run_repair
from nnv.core.runtime.isolation import IsolatedTrials, run_isolated

# the example's output layer: 18 single parameters, 6 of them repair it
LAYER_2 = {"layers": [2]}


def _echo(task: TrialTask) -> TrialResult:
    return TrialResult(task.free, "not_repaired", message=f"pid {os.getpid()}")


def _sleep(task: TrialTask) -> TrialResult:
    time.sleep(3600)
    raise AssertionError("not reached")


def _die(task: TrialTask) -> TrialResult:
    os._exit(7)


def _fail(task: TrialTask) -> TrialResult:
    raise ValueError(f"bad trial {task.free}")


def test_each_trial_runs_in_a_child_and_results_carry_their_position() -> None:
    tasks = [TrialTask((f"b2.{i}",)) for i in range(1, 6)]
    results = dict(IsolatedTrials(2).map(_echo, tasks))
    assert sorted(results) == list(range(5))
    assert all(results[i].free == tasks[i].free for i in range(5))
    pids = {results[i].message for i in range(5)}
    assert f"pid {os.getpid()}" not in pids and len(pids) == 5


def test_a_hung_trial_is_killed_after_its_limit_and_the_rest_go_on() -> None:
    started = time.monotonic()
    hung = run_isolated(_sleep, TrialTask(("w1.1.1",), timeout=0.2))
    assert hung.status == "timeout" and "still running" in hung.message
    assert time.monotonic() - started < 30  # killed at 1.1 x 0.2 s + 5 s, not an hour


def test_a_crashed_trial_is_an_error_row() -> None:
    result = run_isolated(_die, TrialTask(("w1.1.1",)))
    assert result.status == "error" and "exit code 7" in result.message


def test_an_exception_in_a_trial_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="bad trial"):
        run_isolated(_fail, TrialTask(("w1.1.1",)))


class _HangingSolver(Solver):
    """A solver that ignores its time limit, as HiGHS and z3 sometimes do."""

    name = "hanging"
    capabilities: ClassVar[frozenset[str]] = frozenset({"linear", "integer", "optimize"})

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        time.sleep(3600)
        raise AssertionError("not reached")


class _HangingPlugin:
    @hookimpl
    def nnv_solvers(self) -> dict[str, type]:
        return {"hanging": _HangingSolver}


def test_a_search_goes_on_past_a_solver_that_ignores_its_limit(tmp_path: Path) -> None:
    registry = Registry(plugins=(_HangingPlugin(),))  # type: ignore[arg-type]
    config = example_config(
        tmp_path,
        free_sets=[["b2.1", "b2.2"], FREE.split(",")],  # pairs: a single parameter needs no solver
        solver="hanging",
        trial_timeout=0.5,
        workers=2,
    )
    outcome = run_repair(config, registry)
    assert [r.status for r in outcome.trials] == ["timeout", "timeout"]
    assert outcome.result.status == "timeout"
    assert {row["status"] for row in read_rows(tmp_path)} == {"timeout"}


def test_parallel_search_finds_what_a_single_worker_finds(tmp_path: Path) -> None:
    one = run_repair(example_config(tmp_path / "one", workers=1, **LAYER_2), default_registry())
    two = run_repair(example_config(tmp_path / "two", workers=2, **LAYER_2), default_registry())
    assert one.result.details.free == two.result.details.free == ["w2.1.8"]
    assert one.result.details.parameters == two.result.details.parameters
    assert [r.free for r in one.trials] == [r.free for r in two.trials]


def test_the_dask_executor_finds_what_local_finds(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    local = run_repair(example_config(tmp_path / "local", **LAYER_2), default_registry())
    config = example_config(tmp_path / "dask", executor="dask", workers=2, **LAYER_2)
    on_dask = run_repair(config, default_registry())
    assert on_dask.result.details.executor == "dask" and on_dask.result.details.trials == 18
    assert on_dask.result.details.free == local.result.details.free == ["w2.1.8"]
    assert on_dask.result.details.parameters == local.result.details.parameters
    assert on_dask.result.details.trial_counts == local.result.details.trial_counts


def test_the_dask_executor_joins_a_running_scheduler() -> None:
    """The address and handshake checks before connecting let a real scheduler through
    (tests/test_bad_input.py has the addresses they refuse)."""
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    from nnv.plugins.executors.dask_cluster import DaskExecutor

    with LocalCluster(
        n_workers=1, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        with DaskExecutor(scheduler=cluster.scheduler_address) as executor:
            results = dict(executor.map(_echo, [TrialTask(("w2.1.8",))]))
    assert results[0].free == ("w2.1.8",) and results[0].status == "not_repaired"


def test_a_finished_run_resumes_without_running_a_trial(tmp_path: Path) -> None:
    first = run_repair(example_config(tmp_path, **LAYER_2), default_registry())
    again = run_repair(example_config(tmp_path, **LAYER_2), default_registry())
    assert again.result.details.resumed == 18
    assert again.result.details.parameters == first.result.details.parameters
    assert len(read_rows(tmp_path)) == 18
    fresh = run_repair(example_config(tmp_path, restart=True, **LAYER_2), default_registry())
    assert fresh.result.details.resumed == 0 and len(read_rows(tmp_path)) == 18


def test_a_different_run_in_the_same_folder_starts_afresh(tmp_path: Path) -> None:
    run_repair(example_config(tmp_path, **LAYER_2), default_registry())
    other = run_repair(example_config(tmp_path, max_change=5.0, **LAYER_2), default_registry())
    assert other.result.details.resumed == 0
    assert json.loads((tmp_path / "run.json").read_text())["max_change"] == 5.0


def test_a_killed_search_resumes_to_the_same_best_result(tmp_path: Path) -> None:
    """Kill ``nnv run`` (SIGKILL, its trial processes too) part-way; the same command then
    runs only what is missing and ends exactly where an uninterrupted run ends."""
    search = ("--layers", "2", "--max-free", "2", "--workers", "1")
    whole = tmp_path / "whole"
    done = _nnv("run", *example_args(whole, *search), "--json")
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout)

    cut = tmp_path / "cut"
    command = [sys.executable, "-c", "from nnv.cli.main import main; main()"]
    process = subprocess.Popen(
        [*command, "run", *example_args(cut, *search)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_rows(cut, 20, process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    recorded = len(read_rows(cut))
    assert 20 <= recorded < expected["trials"]

    resumed = _nnv("run", *example_args(cut, *search), "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["resumed"] == recorded
    for key in ("free", "parameters", "accuracy_after", "trials", "trial_counts", "kept"):
        assert result[key] == expected[key], key
    assert len(read_rows(cut)) == expected["trials"]


def _nnv(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from nnv.cli.main import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _wait_for_rows(out: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    """Until trials.csv holds ``count`` rows (the run must still be going)."""
    while True:
        assert process.poll() is None, "the run ended before it could be killed"
        try:
            if len(read_rows(out)) >= count:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.05)


def test_the_cli_takes_executor_options(tmp_path: Path) -> None:
    done = _nnv("run", *example_args(tmp_path, "--free", FREE), "--workers", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["workers"] == 1
    bad = _nnv("run", *example_args(tmp_path, "--free", FREE), "--executor", "nowhere")
    assert bad.returncode == 2 and "unknown executor 'nowhere'" in bad.stderr
    bad = _nnv("run", *example_args(tmp_path, "--free", FREE), "--scheduler", "tcp://x:1")
    assert bad.returncode == 2 and "takes no scheduler" in bad.stderr


def test_threshold_search_is_refused_outside_quantified_mode(tmp_path: Path) -> None:
    done = _nnv("run", *example_args(tmp_path, "--free", FREE), "--threshold-search")
    assert done.returncode == 2 and "threshold search is for --mode quantified" in done.stderr
