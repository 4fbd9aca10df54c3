"""The ``retrain`` repair method (the paper's naive baseline): its loop, its results folder, the
command line, and the pieces it is built from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_run import EXAMPLE, assert_bad_input, example_args, nnv, read_rows

from nnv.core import InputError, InputPiece, Property
from nnv.core.plugin.registry import default_registry
from nnv.core.run.config import RunConfig
from nnv.core.run.dispatch import run_repair
from nnv.core.run.results import REPAIRED_FILE, UNVERIFIED_FILE
from nnv.plugins.methods.region_points import allowed_classes, points_near, uniform_points
from nnv.plugins.methods.torch_training import from_torch, to_torch

VIOLATED = EXAMPLE / "robust_violated.vnnlib"  # class 0 required; violated
HOLDS = EXAMPLE / "robust_holds.vnnlib"  # class 1 required; holds
# small and quick: the example repairs after one iteration with these (seed 0)
QUICK = {"region_points": 100, "train_points": 100, "epochs": 5}


def retrain_config(out: Path, *properties: Path, **options: Any) -> RunConfig:
    return RunConfig(
        network=EXAMPLE / "network.onnx",
        properties=list(properties or [VIOLATED]),
        data=EXAMPLE / "data.npz",
        out=out,
        method="retrain",
        method_options={**QUICK, **options},
    )


def flipped(tmp_path: Path) -> Path:
    """The violated property's region, but requiring class 1: with it, no network is safe."""
    text = VIOLATED.read_text().replace("(* 1.0 Y_0) (* -1.0 Y_1)", "(* -1.0 Y_0) (* 1.0 Y_1)")
    path = tmp_path / "wants_class_1.vnnlib"
    path.write_text(text)
    return path


# -- the loop --------------------------------------------------------------------------------


def test_stops_as_soon_as_the_property_is_proved(tmp_path: Path) -> None:
    outcome = run_repair(retrain_config(tmp_path), default_registry())
    result = outcome.result
    assert result["status"] == "repaired" and result["certified_by"] == "z3 (exact)"
    assert result["iterations"] == 1 and result["method"] == "retrain"
    assert result["sampling"] == "uniform" and result["allowed_classes"] == {"robust_violated": [0]}
    assert result["accuracy_after"]["weighted"] > 0.9
    assert result["repaired_network"] == REPAIRED_FILE and result["unverified_network"] is None
    rows = read_rows(tmp_path)
    assert [(r["iteration"], r["status"]) for r in rows] == [("0", "violated"), ("1", "repaired")]
    assert rows[1]["region_points"] == "100" and rows[1]["train_points"] == "100"
    saved = default_registry().load_network(tmp_path / REPAIRED_FILE)
    assert outcome.repaired is not None and saved == outcome.repaired
    assert not (tmp_path / UNVERIFIED_FILE).exists()


def test_a_safe_network_is_not_trained(tmp_path: Path) -> None:
    outcome = run_repair(retrain_config(tmp_path, HOLDS), default_registry())
    result = outcome.result
    assert result["status"] == "repaired" and result["iterations"] == 0
    assert "0 fine-tuning iterations" in result["message"]
    assert outcome.repaired == outcome.original
    assert result["accuracy_after"] == result["accuracy_before"]
    assert [r["status"] for r in read_rows(tmp_path)] == ["repaired"]


def test_no_training_never_gets_there_and_reports_no_repair(tmp_path: Path) -> None:
    (tmp_path / REPAIRED_FILE).write_bytes(b"stale")  # from an earlier run: must go
    outcome = run_repair(retrain_config(tmp_path, iterations=1, epochs=0), default_registry())
    result = outcome.result
    assert result["status"] == "not_repaired" and not outcome.ok
    assert result["certified_by"] is None and result["accuracy_after"] is None
    assert result["repaired_network"] is None and not (tmp_path / REPAIRED_FILE).exists()
    assert "no network proved within 1" in result["message"]
    assert result["unverified_network"]["file"] == UNVERIFIED_FILE
    assert result["unverified_network"]["not_proved"] == ["robust_violated"]
    assert (tmp_path / UNVERIFIED_FILE).is_file()
    assert [r["status"] for r in read_rows(tmp_path)] == ["violated", "violated"]


def test_an_impossible_pair_of_properties_keeps_the_best_unverified(tmp_path: Path) -> None:
    config = retrain_config(tmp_path, VIOLATED, flipped(tmp_path), iterations=2)
    outcome = run_repair(config, default_registry())
    result = outcome.result
    assert result["status"] == "not_repaired" and result["iterations"] == 2
    assert result["allowed_classes"] == {"robust_violated": [0], "wants_class_1": [1]}
    rows = read_rows(tmp_path)
    assert len(rows) == 3 and all(r["status"] != "repaired" for r in rows)
    trained = [r for r in rows if r["iteration"] != "0"]
    best = min(trained, key=lambda r: (len(r["not_proved"].split(";")), -float(r["accuracy"])))
    assert result["unverified_network"]["iteration"] == int(best["iteration"])
    assert not (tmp_path / REPAIRED_FILE).exists()


def test_no_iterations_keeps_no_network(tmp_path: Path) -> None:
    result = run_repair(retrain_config(tmp_path, iterations=0), default_registry()).result
    assert result["status"] == "not_repaired" and result["unverified_network"] is None
    assert not (tmp_path / UNVERIFIED_FILE).exists()


def test_the_runs_timeout_ends_it(tmp_path: Path) -> None:
    config = retrain_config(tmp_path)
    config.timeout = 0.0
    result = run_repair(config, default_registry()).result
    assert result["status"] == "timeout" and result["iterations"] == 0
    assert "timeout passed" in result["message"] and not (tmp_path / REPAIRED_FILE).exists()


def test_the_seed_makes_it_deterministic(tmp_path: Path) -> None:
    runs = [
        run_repair(
            retrain_config(tmp_path / str(i), sampling="counterexamples"), default_registry()
        )
        for i in range(2)
    ]
    assert runs[0].repaired is not None and runs[0].repaired == runs[1].repaired
    rows = [read_rows(tmp_path / str(i)) for i in range(2)]
    for row in rows:
        for entry in row:
            entry.pop("seconds")
    assert rows[0] == rows[1]


def test_solver_settings_are_refused(tmp_path: Path) -> None:
    config = retrain_config(tmp_path)
    config.free, config.max_change = ["w2.1.8"], 5.0
    with pytest.raises(InputError, match="free, max_change"):
        run_repair(config, default_registry())
    assert not (tmp_path / "result.json").exists()


def test_a_property_without_a_class_is_refused() -> None:
    square = np.vstack([np.eye(2), -np.eye(2)])
    prop = Property.linear(square, np.ones(4), np.array([[1.0, 0.0]]), np.zeros(1))
    with pytest.raises(InputError, match="needs a property about the decision"):
        allowed_classes(prop, "argmax")


# -- the pieces ------------------------------------------------------------------------------


def test_allowed_classes_from_the_unsafe_outputs(nnsynth: Path, acasxu: Path) -> None:
    registry = default_registry()
    for name, k, label in (("xor_b", 1, 1), ("xor_b", 2, 1), ("blobs", 1, 0), ("blobs", 2, 0)):
        prop = registry.load_property(nnsynth / name / "properties" / f"prop_{k}.vnnlib")
        assert prop.label is None and allowed_classes(prop, "argmax") == [label]
    three = Property.classification(InputPiece(np.zeros(2), np.ones(2)), 2, 3)
    assert allowed_classes(Property(three.pieces, three.unsafe_outputs, 2, 3), "argmax") == [2]
    # ACAS Xu property 8: "the minimum is one of outputs 2, 3, 4" is unsafe: COC or WL
    p8 = registry.load_property(acasxu / "prop_8.vnnlib")
    assert allowed_classes(p8, "argmin") == [0, 1]
    with pytest.raises(InputError, match="under --decision argmax"):
        allowed_classes(p8, "argmax")


def test_region_points_stay_in_the_region() -> None:
    rng = np.random.default_rng(0)
    box = Property.classification(InputPiece(np.array([0.0, 10.0]), np.array([1.0, 20.0])), 0, 2)
    points = uniform_points(box, 50, rng)
    assert points.shape == (50, 2) and box.in_region(points).all()
    triangle = Property.classification(
        InputPiece(np.zeros(2), np.ones(2), np.array([[1.0, 1.0]]), np.ones(1)), 0, 2
    )
    assert triangle.in_region(uniform_points(triangle, 50, rng)).all()
    seeds = np.array([[0.0, 10.0], [1.0, 20.0]])
    near = points_near(box, seeds, 40, 0.05, rng)
    assert near.shape == (40, 2) and box.in_region(near).all()
    assert np.array_equal(near[:2], seeds)


def test_torch_round_trip_keeps_the_weights() -> None:
    network = default_registry().load_network(EXAMPLE / "network.onnx")
    model = to_torch(network)
    assert from_torch(model) == network
    X = np.random.default_rng(0).normal(size=(20, 2))
    import torch

    outputs = model(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(outputs, network.forward(X), rtol=1e-12, atol=1e-12)


# -- the command line ------------------------------------------------------------------------


def test_cli_retrain_with_counterexamples_is_certified(tmp_path: Path) -> None:
    args = example_args(tmp_path, "--method", "retrain", "--sampling", "counterexamples")
    done = nnv("run", *args, "--region-points", "100", "--epochs", "5", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "repaired" and result["certified_by"]
    assert result["sampling"] == "counterexamples"
    assert result["method_options"]["region_points"] == 100
    verdict = nnv("verify", str(tmp_path / REPAIRED_FILE), str(VIOLATED), "--solver", "cvc5")
    assert verdict.stdout.splitlines()[0] == "unsat", verdict.stdout
    table = nnv("run", *args, "--iterations", "0")
    assert table.returncode == 1 and "retrain (counterexamples sampling)" in table.stdout


def test_cli_config_keys(tmp_path: Path) -> None:
    lines = [
        f'network = "{EXAMPLE / "network.onnx"}"',
        f'property = ["{HOLDS}"]',
        f'data = "{EXAMPLE / "data.npz"}"',
        'method = "retrain"',
        "iterations = 3",
        'sampling = "counterexamples"',
        'out = "results"',
        "[method_options]",
        "jitter = 0.1",
    ]
    config = tmp_path / "retrain.toml"
    config.write_text("\n".join(lines) + "\n")
    done = nnv("run", str(config), "--epochs", "2", "--json")
    assert done.returncode == 0, done.stderr
    options = json.loads(done.stdout)["method_options"]
    assert (options["iterations"], options["sampling"]) == (3, "counterexamples")
    assert (options["jitter"], options["epochs"]) == (0.1, 2)


def test_cli_bad_method_options_exit_2(tmp_path: Path) -> None:
    retrain = example_args(tmp_path, "--method", "retrain")
    assert_bad_input(nnv("run", *retrain, "--sampling", "bogus"), "sampling must be one of")
    assert_bad_input(nnv("run", *retrain, "--iterations", "-1"), "iterations must be")
    assert_bad_input(nnv("run", *retrain, "--learning-rate", "0"), "learning_rate must be")
    assert_bad_input(nnv("run", *retrain, "--method-option", "bogus=1"), "bogus")
    assert_bad_input(nnv("run", *retrain, "--free", "w2.1.8"), "takes no settings")
    assert_bad_input(nnv("run", *example_args(tmp_path), "--iterations", "3"), "'solver'")
    assert_bad_input(
        nnv("run", *example_args(tmp_path, "--method", "nosuch")), "unknown repair-method 'nosuch'"
    )
    assert not (tmp_path / "result.json").exists()


def test_methods_are_listed_as_plugins() -> None:
    rows = {(row["name"], row["kind"]) for row in json.loads(nnv("plugins", "--json").stdout)}
    assert {("solver", "repair-method"), ("retrain", "repair-method")} <= rows


# -- the paper's benchmark -------------------------------------------------------------------


@pytest.mark.shared
def test_xor_b_both_properties(nnsynth: Path, tmp_path: Path) -> None:
    folder = nnsynth / "xor_b"
    config = RunConfig(
        network=folder / "model.onnx",
        properties=[folder / "properties" / f"prop_{k}.vnnlib" for k in (1, 2)],
        data=folder / "data.npz",
        out=tmp_path,
        method="retrain",
        method_options={"sampling": "counterexamples"},
    )
    result = run_repair(config, default_registry()).result
    assert result["status"] == "repaired" and result["certified_by"] == "z3 (exact)"
    assert result["accuracy_after"]["weighted"] > 0.9
