"""The command line end to end: verdict lines, result files, JSON, and bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_helpers import assert_bad_input, nnv
from onnx import TensorProto, helper

from nnv.core import Network
from nnv.core.plugin.registry import default_registry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "xor"


def test_example_verdicts_and_result_file(tmp_path: Path) -> None:
    violated = nnv(
        "verify",
        str(EXAMPLE / "network.onnx"),
        str(EXAMPLE / "robust_violated.vnnlib"),
        "--result-file",
        str(tmp_path / "out.txt"),
    )
    assert violated.returncode == 0 and violated.stdout.splitlines()[0] == "sat"
    text = (tmp_path / "out.txt").read_text()
    assert text.startswith("sat\n((X_0 ") and "(Y_1 " in text
    holds = nnv(
        "verify",
        str(EXAMPLE / "network.onnx"),
        str(EXAMPLE / "robust_holds.vnnlib"),
        "--solver",
        "cvc5",
        "--json",
    )
    result = json.loads(holds.stdout)
    assert result["status"] == "unsat" and result["solver"] == "cvc5"


def test_counterexample_in_result_file_replays(tmp_path: Path) -> None:
    nnv(
        "verify",
        str(EXAMPLE / "network.onnx"),
        str(EXAMPLE / "robust_violated.vnnlib"),
        "--result-file",
        str(tmp_path / "out.txt"),
    )
    values = {}
    for token in (tmp_path / "out.txt").read_text().split("(")[2:]:
        name, value = token.strip(" )\n").split()
        values[name] = float(value)
    x = np.array([values["X_0"], values["X_1"]])
    registry = default_registry()
    net = registry.load_network(EXAMPLE / "network.onnx")
    prop = registry.load_property(EXAMPLE / "robust_violated.vnnlib")
    assert prop.in_region(x)[0] and prop.is_unsafe(net.forward(x))[0]
    assert np.array_equal(net.forward(x), [values["Y_0"], values["Y_1"]])


def test_plugins_table_lists_builtins() -> None:
    done = nnv("plugins", "--json")
    rows = {(row["name"], row["kind"]): row for row in json.loads(done.stdout)}
    for solver in ("highs", "pyomo", "z3", "cvc5"):
        assert "linear" in rows[(solver, "solver")]["capabilities"]
        assert rows[(solver, "solver")]["origin"].startswith("nnv ")
    assert "exact" in rows[("z3", "solver")]["capabilities"]
    assert ".vnnlib" in rows[("vnnlib", "property-loader")]["capabilities"]
    table = nnv("plugins")
    assert table.returncode == 0 and "highs" in table.stdout


def _onnx_with(tmp_path: Path, op: str) -> Path:
    node = helper.make_node(op, ["X"], ["Y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
    )
    path = tmp_path / f"{op}.onnx"
    onnx.save(helper.make_model(graph), path)
    return path


def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    prop = str(EXAMPLE / "robust_holds.vnnlib")
    net = str(EXAMPLE / "network.onnx")
    assert_bad_input(nnv("verify", str(tmp_path / "missing.onnx"), prop), "no such file")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes((EXAMPLE / "network.onnx").read_bytes()[:100])
    assert_bad_input(nnv("verify", str(truncated), prop), "truncated.onnx")
    assert_bad_input(nnv("verify", str(_onnx_with(tmp_path, "Sigmoid")), prop), "Sigmoid")
    bad_vnnlib = tmp_path / "bad.vnnlib"
    bad_vnnlib.write_text("(declare-const X_0 Real)\n(assert (<= X_0 1.0)\n")
    assert_bad_input(nnv("verify", net, str(bad_vnnlib)), "bad.vnnlib")
    wide = tmp_path / "wide.json"
    default_registry().save_network(Network([(np.ones((2, 3)), np.zeros(2))]), wide)
    assert_bad_input(nnv("verify", str(wide), prop), "3 inputs")
    nan = tmp_path / "nan.json"
    nan.write_text(
        json.dumps(
            {
                "format": "nnv-network",
                "version": 1,
                "layers": [{"weight": [[float("nan"), 1.0]], "bias": [0.0]}],
            }
        )
    )
    assert_bad_input(nnv("verify", str(nan), prop), "NaN")
    assert_bad_input(nnv("verify", net, prop, "--solver", "nosuch"), "nosuch")
    assert_bad_input(nnv("verify", net, prop, "--solver-option", "oops"), "key=value")
    unknown_suffix = tmp_path / "model.xyz"
    unknown_suffix.write_text("x")
    assert_bad_input(nnv("verify", str(unknown_suffix), prop), ".xyz")


@pytest.mark.parametrize("solver", ["highs", "pyomo", "z3", "cvc5"])
def test_verify_with_each_solver_from_the_cli(nnsynth: Path, solver: str) -> None:
    done = nnv(
        "verify",
        str(nnsynth / "xor_b" / "model.onnx"),
        str(nnsynth / "xor_b" / "properties" / "prop_1.vnnlib"),
        "--solver",
        solver,
    )
    assert done.returncode == 0 and done.stdout.splitlines()[0] == "sat"
    held = nnv(
        "verify",
        str(nnsynth / "xor_a" / "model.onnx"),
        str(nnsynth / "xor_a" / "properties" / "prop_1.vnnlib"),
        "--solver",
        solver,
    )
    assert held.stdout.splitlines()[0] == "unsat"
