"""``nnv run`` end to end (the CLI in a subprocess) and ``run_repair`` in process."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_bad_input, nnv

from nnv.core import CapabilityError, hookimpl
from nnv.core.plugin.registry import Registry, default_registry
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import RunConfig
from nnv.core.run.dispatch import run_repair
from nnv.plugins.methods.solver.options import SolverOptions

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "xor"
# The example's repair: the output layer's weights from hidden neuron 8 (0.15 s, all 800 kept).
FREE = "w2.1.8,w2.2.8"
UNREPAIRABLE = "w1.6.1,w1.6.2"  # no values fix the counterexamples, even in a box grown 1024 times
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RUN_SETTINGS = {field.name for field in dataclasses.fields(RunConfig)}


def example_args(out: Path, *choice: str) -> list[str]:
    """The example's inputs; ``choice`` says what to free (``--free FREE`` by default)."""
    return [
        "--network", str(EXAMPLE / "network.onnx"),
        "--property", str(EXAMPLE / "robust_violated.vnnlib"),
        "--data", str(EXAMPLE / "data.npz"),
        *(choice or ("--free", FREE)),
        "--out", str(out),
    ]  # fmt: skip


def read_rows(out: Path) -> list[dict[str, str]]:
    with (out / "trials.csv").open(newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The README's command, with --json: its results folder and its printed result."""
    out = tmp_path_factory.mktemp("run") / "xor"
    done = nnv("run", *example_args(out), "--json")
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout)


# -- the example, through the CLI ------------------------------------------------------------


def test_example_repairs_and_writes_result(example_run: tuple[Path, dict[str, Any]]) -> None:
    out, printed = example_run
    result = json.loads((out / "result.json").read_text())
    assert printed == result
    assert result["status"] == "repaired" and result["certified_by"]
    assert result["free"] == FREE.split(",")
    assert set(result["parameters"]) == set(FREE.split(","))
    assert result["accuracy_after"]["weighted"] >= 0.99
    assert set(result["accuracy_before"]) == {"train", "test", "sampled", "weighted"}
    assert result["kept"] == result["soft_total"] == 800
    assert result["trials"] == 1 and result["trial_counts"] == {"repaired": 1}
    assert (result["solver"], result["heuristic"], result["mode"]) == ("highs", "samples", "cegis")
    rows = read_rows(out)
    assert len(rows) == 1 and rows[0]["free"] == FREE and rows[0]["status"] == "repaired"
    assert json.loads(rows[0]["values"]).keys() == set(FREE.split(","))


@pytest.mark.parametrize("solver", ["highs", "z3"])
def test_repaired_network_verifies(example_run: tuple[Path, dict[str, Any]], solver: str) -> None:
    out, _ = example_run
    done = nnv(
        "verify",
        str(out / "repaired.onnx"),
        str(EXAMPLE / "robust_violated.vnnlib"),
        "--solver",
        solver,
    )
    assert done.returncode == 0 and done.stdout.splitlines()[0] == "unsat", done.stdout


def test_boundary_picture(example_run: tuple[Path, dict[str, Any]]) -> None:
    out, _ = example_run
    assert (out / "boundary.png").read_bytes().startswith(PNG_MAGIC)


def test_summary_table_and_unrepairable_set(tmp_path: Path) -> None:
    done = nnv("run", *example_args(tmp_path, "--free", UNREPAIRABLE))
    assert done.returncode == 1, done.stderr
    assert "not_repaired" in done.stdout and "accuracy weighted" in done.stdout
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "not_repaired" and result["accuracy_after"] is None
    assert result["free"] is None and "no values" in result["message"]
    assert not (tmp_path / "repaired.onnx").exists()
    assert [row["status"] for row in read_rows(tmp_path)] == ["not_repaired"]


def test_free_sets_one_row_each(tmp_path: Path) -> None:
    args = example_args(tmp_path, "--free-sets", f"b2.1;{UNREPAIRABLE};b2.2")
    done = nnv("run", *args, "--json")
    assert done.returncode == 0, done.stderr
    statuses = {row["free"]: row["status"] for row in read_rows(tmp_path)}  # in finishing order
    assert statuses == {"b2.1": "repaired", UNREPAIRABLE: "not_repaired", "b2.2": "repaired"}
    result = json.loads(done.stdout)
    assert result["trials"] == 3 and result["trial_counts"] == {"repaired": 2, "not_repaired": 1}
    assert result["free"] == ["b2.1"]  # equal accuracy: the sooner wins


def test_a_whole_layer_free_with_the_l1_objective(tmp_path: Path) -> None:
    """``--free-layer 2`` frees its 18 parameters; ``--objective l1`` moves as little as it can:
    here one weight, every soft point kept; the summary lists the ones that moved."""
    done = nnv("run", *example_args(tmp_path, "--free-layer", "2", "--objective", "l1"))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "repaired" and result["objective"] == ["l1"]
    assert len(result["free"]) == 18 and result["free"][0] == "w2.1.1"
    moved = [a for a, c in result["parameters"].items() if c["after"] != c["before"]]
    assert len(moved) == 1 and f"free {moved[0]}" in done.stdout
    assert "18 parameters, 1 changed" in done.stdout
    # the same set by glob and by neurons, from a config file: the same trial
    config = write_config(tmp_path, objective="l1")
    text = config.read_text().replace(
        f'free = "{FREE}"', 'free = ["w2.1.*", "b2.1"]\nfree_neuron = "2.2"'
    )
    config.write_text(text.replace('"results"', '"from_file"'))
    assert nnv("run", str(config)).returncode == 0
    again = json.loads((tmp_path / "from_file" / "result.json").read_text())
    assert again["free"] == result["free"] and again["parameters"] == result["parameters"]


def write_config(folder: Path, **extra: str) -> Path:
    """A config with paths relative to its own folder, as a user would keep it."""
    example = Path(os.path.relpath(EXAMPLE, folder))
    lines = [
        f'network = "{example / "network.onnx"}"',
        f'property = ["{example / "robust_violated.vnnlib"}"]',
        f'data = "{example / "data.npz"}"',
        f'free = "{FREE}"',
        'out = "results"',
        "max-change = 10.0",
        *(f'{key} = "{value}"' for key, value in extra.items()),
        "[heuristic_options]",
        'split = "train"',
    ]
    path = folder / "run.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_config_file_matches_flags_and_flags_win(
    tmp_path: Path, example_run: tuple[Path, dict[str, Any]]
) -> None:
    _, flags_result = example_run
    config = write_config(tmp_path)
    done = nnv("run", str(config), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "results" / "result.json").read_text())
    for key in ("status", "free", "parameters", "accuracy_after", "kept", "certified_by"):
        assert result[key] == flags_result[key], key
    override = tmp_path / "override"
    done = nnv("run", str(config), "--free", UNREPAIRABLE, "--out", str(override))
    assert done.returncode == 1, done.stderr
    result = json.loads((override / "result.json").read_text())
    assert result["status"] == "not_repaired"
    assert result["search_options"] == {"free_sets": [UNREPAIRABLE.split(",")]}


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    missing_data = example_args(tmp_path)
    missing_data[missing_data.index("--data") + 1] = str(tmp_path / "nope.npz")
    assert_bad_input(nnv("run", *missing_data), "nope.npz: no such file")
    assert_bad_input(
        nnv("run", *example_args(tmp_path), "--heuristic", "nosuch"), "unknown heuristic 'nosuch'"
    )
    assert_bad_input(nnv("run", *example_args(tmp_path, "--free", "w9.9.9")), "w9.9.9")
    assert_bad_input(nnv("run", *example_args(tmp_path), "--heuristic-option", "bogus=1"), "bogus")
    config = write_config(tmp_path, colour="blue")
    assert_bad_input(nnv("run", str(config)), "unknown key(s) colour")
    assert_bad_input(
        nnv("run", "--network", str(EXAMPLE / "network.onnx"), "--out", str(tmp_path)),
        "missing --property, --data",
    )
    assert not (tmp_path / "result.json").exists()


# -- run_repair in process -------------------------------------------------------------------


def example_config(out: Path, **changes: Any) -> RunConfig:
    """The example's run; ``changes`` are RunConfig's settings or the solver method's."""
    common = {key: changes.pop(key) for key in list(changes) if key in RUN_SETTINGS}
    return RunConfig(
        network=EXAMPLE / "network.onnx",
        properties=[EXAMPLE / "robust_violated.vnnlib"],
        data=EXAMPLE / "data.npz",
        out=out,
        method_options=SolverOptions(**changes),
        **common,
    )


class Recorder:
    """A plugin that listens to the trial events."""

    def __init__(self) -> None:
        self.started: list[tuple[str, ...]] = []
        self.finished: list[TrialResult] = []

    @hookimpl
    def nnv_trial_started(self, free: tuple[str, ...]) -> None:
        self.started.append(free)

    @hookimpl
    def nnv_trial_finished(self, result: TrialResult) -> None:
        self.finished.append(result)


def test_search_over_a_layer_reports_events_and_progress(tmp_path: Path) -> None:
    registry = Registry()
    recorder = Recorder()
    registry.manager.register(recorder)
    heard: list[TrialResult] = []
    planned: list[int | None] = []
    outcome = run_repair(
        example_config(tmp_path, layers=[2]), registry, heard.append, planned.append
    )
    assert planned == [18]  # 2 x 8 weights and 2 biases
    assert len(heard) == len(recorder.finished) == len(recorder.started) == 18
    assert recorder.started == [r.free for r in outcome.trials]  # the order proposed
    assert sorted(r.free for r in heard) == sorted(recorder.started)  # heard as they finished
    assert outcome.ok and outcome.result.status == "repaired"
    assert outcome.result.details.free == ["w2.1.8"]  # the best single parameter, found first
    assert len(read_rows(tmp_path)) == 18
    assert outcome.repaired is not None
    assert (
        outcome.repaired.parameter("w2.1.8") == outcome.result.details.parameters["w2.1.8"]["after"]
    )


def test_capability_error_is_a_trial_error_in_a_search(tmp_path: Path) -> None:
    # w2.1.8 reads the activation b1.8 changes: bilinear, which highs cannot take without
    # the pair search
    sets = [["b1.8", "w2.1.8"], ["b2.1"]]
    config = example_config(tmp_path, free_sets=sets, line_synthesis=False)
    outcome = run_repair(config, default_registry())
    assert [r.status for r in outcome.trials] == ["error", "repaired"]
    assert "multiply each other" in outcome.trials[0].message
    assert outcome.result.status == "repaired"
    only_errors = run_repair(
        example_config(tmp_path, free_sets=sets[:1] + [["w1.8.2", "w2.2.8"]], line_synthesis=False),
        default_registry(),
    )
    assert only_errors.result.status == "error" and only_errors.repaired is None


def test_capability_error_of_one_named_set_is_raised(tmp_path: Path) -> None:
    config = example_config(tmp_path, free=["b1.8", "w2.1.8"], line_synthesis=False)
    with pytest.raises(CapabilityError, match="multiply each other"):
        run_repair(config, default_registry())
    assert not (tmp_path / "result.json").exists()


def test_run_out_of_time(tmp_path: Path) -> None:
    outcome = run_repair(example_config(tmp_path, timeout=0.0), default_registry())
    assert outcome.trials == [] and outcome.result.status == "timeout"
    assert read_rows(tmp_path) == []
    assert "timeout" in outcome.result.message


# -- the paper's benchmark -------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.slow
def test_xor_b_property_1(nnsynth: Path, tmp_path: Path) -> None:
    folder = nnsynth / "xor_b"
    prop = folder / "properties" / "prop_1.vnnlib"
    done = nnv(
        "run",
        "--network", str(folder / "model.onnx"),
        "--property", str(prop),
        "--data", str(folder / "data.npz"),
        "--free", "w1.1.1,w1.2.1",
        "--out", str(tmp_path),
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "repaired" and result["certified_by"]
    assert result["accuracy_after"]["weighted"] >= 0.99
    for solver in ("highs", "z3"):
        verdict = nnv("verify", str(tmp_path / "repaired.onnx"), str(prop), "--solver", solver)
        assert verdict.stdout.splitlines()[0] == "unsat", (solver, verdict.stdout)
