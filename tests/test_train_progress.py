"""``nnv train``'s progress: the trainer's typed events, the lines they draw on a terminal,
the closing table, and --quiet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from nnv.core.plugin.registry import default_registry  # noqa: E402
from nnv.core.plugin.trainer import (  # noqa: E402
    ClosingRound,
    EpochRecord,
    PhaseStarted,
    TrainEvent,
    TrainRequest,
)

TOY = Path(__file__).resolve().parent.parent / "examples" / "smle_toy"


def test_the_smle_trainer_tells_every_stage_in_order(tmp_path: Path) -> None:
    registry = default_registry()
    trainer = registry.create("trainer", "smle", {"epochs": 3, "patience": 3})
    request = TrainRequest(
        data=TOY / "data.npz", out=tmp_path / "run", property_file=TOY / "properties.json",
        samples=2000,
    )  # fmt: skip
    events: list[TrainEvent] = []
    result = trainer.train(request, registry, events.append)
    epochs = [e for e in events if isinstance(e, EpochRecord)]
    assert [e.epoch for e in epochs] == list(range(1, result.epochs + 1))
    # every counterexample found in training is projected away, and counted once
    assert sum(e.counterexamples for e in epochs) == epochs[-1].projections
    rest = events[len(epochs) :]
    assert rest[0] == PhaseStarted("closing", rest[0].detail)
    rounds = [e for e in rest if isinstance(e, ClosingRound)]
    assert rounds and rounds[-1].converged and rounds[-1].projections == result.projections
    closing = result.settings["closing_rounds"]  # one event per round, then "none left"
    assert [r.round for r in rounds] == [*range(1, closing + 1), closing]
    assert isinstance(rest[-1], PhaseStarted) and rest[-1].phase == "certifying"
    assert "float32" in rest[-1].detail and result.certified


def _train(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """nnv train on the toy data, with rich told that stderr is a terminal (FORCE_COLOR)."""
    command = [
        sys.executable, "-c", "from nnv.cli.main import main; main()", "train",
        "--data", str(TOY / "data.npz"), "--property", str(TOY / "properties.json"),
        "--out", str(tmp_path / "run"), "--epochs", "2", "--samples", "2000", *flags,
    ]  # fmt: skip
    env = dict(os.environ, FORCE_COLOR="1", COLUMNS="120")
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def test_nnv_train_draws_every_stage_on_a_terminal_and_closes_with_the_table(
    tmp_path: Path,
) -> None:
    done = _train(tmp_path)
    assert done.returncode == 0, done.stderr
    for text in ("epoch", "2/2", "loss", "violation", "counterexamples", "projections",
                 "no counterexample left", "certifying", "the float32 file"):
        assert text in done.stderr, text
    assert "counterexamples" not in done.stdout  # the table's stream stays clean
    table = done.stdout
    for row in ("certified", "yes", "r2 train", "r2 test", "sampled inputs", "seconds",
                "model.onnx (float32)", "result.json", "curves.png"):
        assert row in table, row
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["precision"] == "float32" and result["certified"]


def test_quiet_silences_nnv_train_on_a_terminal(tmp_path: Path) -> None:
    done = _train(tmp_path, "--quiet", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["precision"] == "float32"
