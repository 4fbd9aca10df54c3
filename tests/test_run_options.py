"""``nnv run``'s flags, derived from the option dataclasses: a third-party method's options
become flags and config keys, ``-o KIND.KEY=VALUE`` reaches any plugin, ``--solver-option``
reaches the synthesis solver, and result.json keeps its keys in their order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from cli_helpers import nnv
from test_run import EXAMPLE, FREE, example_args
from typer.testing import CliRunner

from nnv.cli.main import app
from nnv.core import RepairMethod, hookimpl
from nnv.core.plugin.options import Options, option
from nnv.core.plugin.registry import Registry
from nnv.core.repair.metrics import accuracy_report
from nnv.core.run.config import RunConfig
from nnv.core.run.inputs import load_inputs
from nnv.core.run.results import (
    ResultDetails,
    RunOutcome,
    RunResult,
    finite,
    placed,
    write_outputs,
)

# result.json's keys for the solver method, in the order they have always had
SOLVER_KEYS = [
    "status", "partially_proved", "method", "message", "certified_by", "free", "parameters",
    "accuracy_before", "accuracy_after", "kept", "soft_total", "drawdown", "seconds", "trials",
    "resumed", "demoted", "cut_short", "trial_counts", "solver", "verifier", "heuristic",
    "heuristic_options", "mode", "search", "search_options", "threshold", "threshold_search",
    "objective", "max_change", "max_change_used", "synthesis_margin", "margins",
    "line_synthesis", "pair_time", "decision",
    "timeout", "trial_timeout", "seed", "executor", "workers", "network", "properties",
    "regions", "data", "repaired_network", "nnv_version",
]  # fmt: skip


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["run", *args])


def bad_input(done: Any, fragment: str) -> None:
    assert done.exit_code == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnv: error:"), done.stderr
    assert fragment in lines[0], lines[0]


# -- a third-party method, in process ------------------------------------------------------


@dataclass(frozen=True)
class ToyOptions(Options):
    level: int = option(1, minimum=0, help="toy: how hard to try (default 1).")
    style: Literal["calm", "eager"] = option("calm", help="toy: calm (default) or eager.")


@dataclass
class ToyDetails(ResultDetails):
    level: int = field(metadata=placed("certified_by"))
    style: str


class ToyMethod(RepairMethod):
    """Repairs nothing; reports the options it was given."""

    name = "toy"
    Options = ToyOptions
    options: ToyOptions

    def repair(self, config: RunConfig, registry: Registry, *_: Any) -> RunOutcome:
        inputs = load_inputs(config, registry)
        result = RunResult.of(
            config,
            None,
            status="not_repaired",
            message=f"level {self.options.level}",
            certified_by=None,
            accuracy_before=finite(accuracy_report(inputs.network, inputs.data)),
            accuracy_after=None,
            seconds=0.0,
            details=ToyDetails(self.options.level, self.options.style),
        )
        write_outputs(config.out, registry, result, None)
        return RunOutcome(result, inputs.network, None, inputs.properties, inputs.data, [])


class ToyPlugin:
    @hookimpl
    def nnv_repair_methods(self) -> dict[str, type]:
        return {"toy": ToyMethod}


@pytest.fixture
def with_toy(monkeypatch: pytest.MonkeyPatch) -> None:
    """``nnv run`` sees the installed plugins and the toy method."""
    registry = Registry(plugins=(ToyPlugin(),))  # type: ignore[arg-type]
    monkeypatch.setattr("nnv.cli.run_command.default_registry", lambda: registry)


def test_a_third_party_methods_options_are_flags(with_toy: None, tmp_path: Path) -> None:
    help_text = invoke("--help").stdout
    assert "Options of --method toy" in help_text and "--level" in help_text
    assert "toy: how hard to try" in help_text
    done = invoke(*example_args(tmp_path, "--method", "toy"), "--level", "3", "--style", "eager",
                  "--json")  # fmt: skip
    assert done.exit_code == 1, done.stderr  # not repaired
    result = json.loads(done.stdout)
    assert (result["level"], result["style"], result["message"]) == (3, "eager", "level 3")
    assert list(result)[:6] == ["status", "method", "message", "certified_by", "level", "style"]
    assert "method" in invoke(*example_args(tmp_path, "--method", "toy")).stdout  # the table


def test_a_third_party_methods_options_by_o_and_config(with_toy: None, tmp_path: Path) -> None:
    done = invoke(*example_args(tmp_path, "--method", "toy"), "-o", "method.level=4", "--json")
    assert json.loads(done.stdout)["level"] == 4, done.stderr
    done = invoke(*example_args(tmp_path, "--method", "toy"), "--method-option", "level=5")
    assert json.loads((tmp_path / "result.json").read_text())["level"] == 5, done.stderr
    config = tmp_path / "toy.toml"
    config.write_text(f'method = "toy"\nlevel = 6\nnetwork = "{EXAMPLE / "network.onnx"}"\n')
    args = [
        "--property",
        str(EXAMPLE / "robust_violated.vnnlib"),
        "--data",
        str(EXAMPLE / "data.npz"),
    ]
    done = invoke(str(config), *args, "--out", str(tmp_path), "--json")
    assert json.loads(done.stdout)["level"] == 6, done.stderr


def test_a_third_party_methods_bad_options(with_toy: None, tmp_path: Path) -> None:
    bad_input(invoke(*example_args(tmp_path), "--level", "3"), "takes no settings of method 'toy'")
    usage = invoke(*example_args(tmp_path, "--method", "toy"), "--level", "-1")  # click's own
    assert usage.exit_code == 2 and "Invalid value for '--level'" in usage.stderr
    bad_input(
        invoke(*example_args(tmp_path, "--method", "toy"), "--style", "loud"),
        "style must be one of calm, eager, not 'loud'",
    )


def test_method_flags_are_made_only_for_nnv_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import nnv.cli.run_command as run_command

    made: list[int] = []
    real = run_command.run_parameters

    def recorded(catalogue: Any) -> Any:
        made.append(1)
        return real(catalogue)

    monkeypatch.setattr(run_command, "run_parameters", recorded)
    assert CliRunner().invoke(app, ["--help"]).exit_code == 0
    verify = ["verify", str(EXAMPLE / "network.onnx"), str(EXAMPLE / "robust_holds.vnnlib")]
    assert CliRunner().invoke(app, verify).exit_code == 0
    assert made == []
    assert invoke("--help").exit_code == 0 and made == [1]


# -- any plugin's options --------------------------------------------------------------------


# Runs that reach the trials go through the real entry point in a subprocess, like the other
# CLI tests: a trial is a forked child, and this process may hold threads by now (torch).


def test_o_reaches_the_heuristic(tmp_path: Path) -> None:
    done = nnv("run", *example_args(tmp_path), "-o", "heuristic.count=5", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["heuristic_options"]["count"] == 5 and result["soft_total"] == 5


def test_solver_option_reaches_the_synthesis_solver(tmp_path: Path) -> None:
    done = nnv("run", *example_args(tmp_path), "--solver-option", "mip_rel_gap=1e-7", "--json")
    assert done.returncode == 0, done.stderr
    settings = json.loads((tmp_path / "run.json").read_text())
    assert settings["solver_options"] == {"mip_rel_gap": 1e-7}
    assert settings["verifier_options"] == {}  # the verifier is another solver
    message = "solver 'highs': option 'threads' takes an integer, not 'abc'"
    bad_input(invoke(*example_args(tmp_path), "--solver-option", "threads=abc"), message)
    bad_input(invoke(*example_args(tmp_path), "-o", "solver.threads=abc"), message)
    bad_input(invoke(*example_args(tmp_path), "-o", "verifier.threads=abc"), message)


def test_o_refuses_what_is_not_kind_key_value(tmp_path: Path) -> None:
    bad_input(invoke(*example_args(tmp_path), "-o", "count=5"), "not of the form KIND.KEY=VALUE")
    bad_input(invoke(*example_args(tmp_path), "-o", "colour.red=1"), "no plugin kind 'colour'")


def test_free_and_free_sets_together_are_refused(tmp_path: Path) -> None:
    args = example_args(tmp_path, "--free", "b2.1", "--free-sets", "b2.2")
    bad_input(invoke(*args), "give either free or free_sets, not both")


# -- result.json -----------------------------------------------------------------------------


def test_result_json_keeps_its_keys_in_order(tmp_path: Path) -> None:
    done = nnv("run", *example_args(tmp_path, "--free", FREE), "--json")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "result.json").read_text()
    result = json.loads(text)
    assert list(result) == SOLVER_KEYS
    assert text == json.dumps(result, indent=2) + "\n" and done.stdout == text
