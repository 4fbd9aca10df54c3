"""Progress on long work: branch and bound reports its steps, nnv verify draws them on a
terminal after a second, and --quiet silences every command's progress."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from cli_helpers import nnv
from conftest import random_network

from nnv.core import Property, hookimpl
from nnv.core.plugin.registry import default_registry
from nnv.core.verify.verifier import Verifier

ROOT = Path(__file__).resolve().parent.parent
XOR = ROOT / "examples" / "xor"


class Listener:
    def __init__(self) -> None:
        self.steps: list[tuple[int, int, int, float]] = []

    @hookimpl
    def nnv_verification_progress(
        self, open_boxes: int, boxes: int, settled: int, seconds: float
    ) -> None:
        self.steps.append((open_boxes, boxes, settled, seconds))


def test_branch_and_bound_reports_every_step_and_ends_at_the_result_counts() -> None:
    registry = default_registry()
    listener = Listener()
    registry.manager.register(listener)
    net = random_network(np.random.default_rng(3), (3, 16, 16, 2))
    center = np.zeros(3)
    label = int(np.argmax(net.forward(center)))
    # a radius wide enough that the root box does not settle by bounds alone
    prop = Property.robustness(center, 0.5, label, n_outputs=2)
    verifier = Verifier(
        registry.solver("highs"), falsify_samples=0, events=registry.hook, strategy="bab"
    )
    result = verifier.verify(net, prop)
    assert result.extra.get("strategy") == "bab"
    assert len(listener.steps) >= 2, result
    boxes = [step[1] for step in listener.steps]
    seconds = [step[3] for step in listener.steps]
    assert boxes == sorted(boxes) and seconds == sorted(seconds)
    assert listener.steps[-1][1] == result.extra["boxes"]
    if result.status == "unsat":
        assert listener.steps[-1][0] == 0  # nothing left open once it holds
        assert listener.steps[-1][2] == result.subproblems


def _verify_on_a_terminal(*flags: str) -> subprocess.CompletedProcess[str]:
    """nnv verify on an ACAS Xu instance that takes about half a minute, cut off at 3 s, with
    rich told that stderr is a terminal (FORCE_COLOR)."""
    from conftest import _need_shared

    acasxu = _need_shared() / "acasxu"
    command = [
        sys.executable,
        "-c",
        "from nnv.cli.main import main; main()",
        "verify",
        str(acasxu / "ACASXU_run2a_3_3_batch_2000.onnx"),
        str(acasxu / "prop_2.vnnlib"),
        "--timeout",
        "6",  # counted from the process's start: loading takes a second or two of it
        *flags,
    ]
    env = dict(os.environ, FORCE_COLOR="1", COLUMNS="120")
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def test_nnv_verify_draws_branch_and_bound_progress_on_a_terminal() -> None:
    done = _verify_on_a_terminal()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "timeout"
    assert "branch and bound" in done.stderr and "boxes open" in done.stderr
    assert "boxes open" not in done.stdout  # the verdict's stream stays clean


def test_quiet_turns_the_progress_off() -> None:
    done = _verify_on_a_terminal("--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "timeout"
    assert done.stderr == ""


def test_a_quick_verification_shows_no_progress_even_on_a_terminal() -> None:
    env = dict(os.environ, FORCE_COLOR="1")
    command = [sys.executable, "-c", "from nnv.cli.main import main; main()", "verify"]
    command += [str(XOR / "network.onnx"), str(XOR / "robust_holds.vnnlib")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stdout.startswith("unsat")
    assert done.stderr == ""


def test_run_and_train_take_quiet(tmp_path: Path) -> None:
    run = nnv(
        "run",
        "--network",
        str(XOR / "network.onnx"),
        "--property",
        str(XOR / "robust_violated.vnnlib"),
        "--data",
        str(XOR / "data.npz"),
        "--free",
        "w2.2.8",
        "--quiet",
        "--json",
        "--out",
        str(tmp_path / "run"),
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    train = nnv("train", "--help")
    assert "--quiet" in train.stdout
