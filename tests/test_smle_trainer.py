"""The Trainer interface: a third-party trainer through ``nnv plugins`` and ``nnv train``, and
a solver that runs out of time, which is an outcome of training (exit 1), not bad input."""

from __future__ import annotations

import json
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nnv.cli.main import app
from nnv.core import Query, Solution, Solver, Trainer, TrainRequest, TrainResult, hookimpl
from nnv.core.plugin.registry import Registry
from nnv.core.plugin.trainer import EpochRecord, Progress, SampleCheck, SolverLookup


@dataclass(frozen=True)
class MeanOptions:
    seed: int = 0


class MeanTrainer(Trainer):
    """Predicts the training targets' mean: a trainer as a third party would write one."""

    name = "mean"
    description = "the training mean (a test trainer)"
    Options = MeanOptions

    def train(
        self, request: TrainRequest, solvers: SolverLookup, progress: Progress | None = None
    ) -> TrainResult:
        with np.load(request.data) as data:
            mean = float(data["y_train"].mean())
        if progress is not None:
            progress(EpochRecord(1, 0.5, 0.25, 0, 0.0, 0.0))
        result = TrainResult(
            method=self.name,
            data=str(request.data),
            property_name="none",
            property_kind="linear",
            certified=False,
            certificate="none: the mean proves nothing",
            proof=None,
            samples=SampleCheck(0, 0, 0, "none"),
            metric="r2",
            scores={"train": 0.0},
            split_violation_rate={"train": 0.0},
            projections=0,
            epochs=1,
            train_seconds=0.0,
            total_seconds=0.0,
            settings={"seed": self.options.seed, "mean": mean, "samples": request.samples},
            machine="test",
        )
        request.out.mkdir(parents=True, exist_ok=True)
        (request.out / "result.json").write_text(json.dumps(result.to_json(), indent=2))
        return result


class LateSolver(Solver):
    """Takes everything SMLE needs and always runs out of time."""

    name = "late"
    capabilities = frozenset({"linear", "integer", "optimize", "quadratic"})

    def _solve(self, query: Query, timeout: float | None) -> Solution:
        return Solution("timeout", message="the time limit was reached")


def _plugin() -> types.ModuleType:
    module = types.ModuleType("nnv_test_trainer")

    @hookimpl
    def nnv_trainers() -> dict[str, type[Trainer]]:
        return {"mean": MeanTrainer}

    @hookimpl
    def nnv_solvers() -> dict[str, type[Solver]]:
        return {"late": LateSolver}

    module.nnv_trainers = nnv_trainers  # type: ignore[attr-defined]
    module.nnv_solvers = nnv_solvers  # type: ignore[attr-defined]
    return module


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The installed plugins and the test module's, as the command line sees them."""
    built = Registry(plugins=(_plugin(),))
    for command in ("train_command", "plugins_command"):
        monkeypatch.setattr(f"nnv.cli.{command}.default_registry", lambda: built)
    return built


def _regression(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(80, 2))
    Y = X.sum(axis=1, keepdims=True)
    path = tmp_path / "data.npz"
    np.savez(path, x_train=X[:60], y_train=Y[:60], x_test=X[60:], y_test=Y[60:])
    return path


def test_a_third_party_trainer_is_listed_and_trains(registry: Registry, tmp_path: Path) -> None:
    listed = CliRunner().invoke(app, ["plugins", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {(row["kind"], row["name"]): row for row in json.loads(listed.stdout)}
    assert rows[("trainer", "mean")]["origin"] == "nnv_test_trainer"
    assert rows[("trainer", "mean")]["description"] == "the training mean (a test trainer)"
    assert ("trainer", "smle") in rows  # the built-in ones are still there

    data, out = _regression(tmp_path), tmp_path / "run"
    done = CliRunner().invoke(
        app, ["train", "--method", "mean", "--data", str(data), "--out", str(out), "--seed",
              "3", "--json"],
    )  # fmt: skip
    assert done.exit_code == 0, (done.stdout, done.stderr)
    result = json.loads(done.stdout)
    assert result == json.loads((out / "result.json").read_text())
    assert result["method"] == "mean" and result["settings"]["seed"] == 3
    with np.load(data) as arrays:
        assert result["settings"]["mean"] == pytest.approx(arrays["y_train"].mean())
    assert result["settings"]["samples"] == 100_000  # the request's default

    table = CliRunner().invoke(
        app, ["train", "--method", "mean", "--data", str(data), "--out", str(out)]
    )
    assert table.exit_code == 0 and "nnv train (mean)" in table.stdout
    refused = CliRunner().invoke(
        app, ["train", "--method", "mean", "--data", str(data), "--out", str(tmp_path / "no"),
              "--box", "linear"],
    )  # fmt: skip
    assert refused.exit_code == 2
    assert "trainer 'mean' has no option 'box' (known: seed)" in refused.stderr
    assert not (tmp_path / "no").exists()


@pytest.fixture
def smle() -> None:
    """What SMLE itself needs (the trainer above needs neither)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")


@pytest.mark.usefixtures("smle")
def test_a_solver_timeout_in_training_is_an_outcome(registry: Registry, tmp_path: Path) -> None:
    """Every search times out: training stops, the model is still exported and checked, and
    the run is not certified (exit 1, the reason in result.json), not bad input (exit 2)."""
    prop = tmp_path / "low.json"
    prop.write_text(json.dumps({"name": "low", "input": None, "output": {"A": [[1]], "b": [-10]}}))
    out = tmp_path / "run"
    done = CliRunner().invoke(
        app, ["train", "--data", str(_regression(tmp_path)), "--property", str(prop), "--out",
              str(out), "--solver", "late", "--epochs", "3", "--samples", "500", "--json"],
    )  # fmt: skip
    assert done.exit_code == 1, (done.stdout, done.stderr)
    assert "error" not in done.stderr
    result = json.loads((out / "result.json").read_text())
    assert not result["certified"] and not result["proof"]["holds"]
    assert "training stopped early: counterexample search: solver 'late' answered timeout" in (
        result["certificate"]
    )
    assert result["epochs"] == 0 and not result["settings"]["closing_converged"]
    assert (out / "model.onnx").is_file()


@pytest.mark.usefixtures("smle")
def test_a_solver_timeout_in_the_certificate_proves_nothing() -> None:
    import torch

    from nnv.plugins.smle.certify import certify
    from nnv.plugins.smle.export import export_smle
    from nnv.plugins.smle.grounding import Head
    from nnv.plugins.smle.model import SmleNet
    from nnv.plugins.smle.spec import LinearInequalities, Region

    region = Region.polytope(np.vstack([np.eye(2), -np.eye(2)]), np.ones(4))
    model = SmleNet(2, 2, [3], "linear", region)  # a linear box: the proof needs a MILP
    with torch.no_grad():
        model.lower.weight.copy_(torch.tensor([[0.5, 0.0], [0.0, 0.5], [0.3, -0.3]]))
        model.upper.weight.copy_(torch.tensor([[0.0, 0.5], [0.5, 0.0], [-0.2, 0.4]]))
    model.set_head(Head(np.array([[0.2, 0.2, 0.1], [0.1, -0.2, 0.2]]), np.zeros(2)))
    spec = LinearInequalities(np.array([[1.0, 1.0]]), np.array([1.0]), region)
    late = certify(export_smle(model), spec, LateSolver(), 2000, (-np.ones(2), np.ones(2)))
    assert not late.certified and late.proof is not None and not late.proof.holds
    assert late.proof.violation is None and "answered timeout" in late.proof.reason
    assert late.text.startswith("no proof: the counterexample MILP (late) decided nothing")
    assert late.samples.violations == 0  # the model is safe: only the proof is missing
    from nnv.core.plugin.registry import default_registry

    highs = certify(export_smle(model), spec, default_registry().solver("highs"), 2000,
                    (-np.ones(2), np.ones(2)))  # fmt: skip
    assert highs.certified and highs.proof is not None and highs.proof.holds


@pytest.mark.usefixtures("smle")
def test_a_baseline_that_cannot_finish_exits_1_and_writes_nothing(
    registry: Registry, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    labels = (rng.uniform(size=(60, 3)) < 0.6).astype(int)
    rows = "\n".join(",".join([f"{v:.4f}" for v in x] + [str(v) for v in y])
                     for x, y in zip(X, labels, strict=True))
    path = tmp_path / "tiny.arff"
    path.write_text(
        "@relation 'tiny: -C -3'\n@attribute f0 numeric\n@attribute f1 numeric\n"
        + "".join(f"@attribute l{i} {{0,1}}\n" for i in range(3)) + "@data\n" + rows + "\n"
    )
    out = tmp_path / "run"
    done = CliRunner().invoke(
        app, ["train", "--method", "preprocess", "--data", str(path), "--quantile", "1",
              "--solver", "late", "--out", str(out)],
    )  # fmt: skip
    assert done.exit_code == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "nnv: preprocess stopped: labelling: solver 'late' answered timeout: the time limit "
        "was reached"
    ]
    assert not out.exists()

