"""Start-up imports only what the command uses (speed is measured by benchmarks/cold_start.py)."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import random_network

from nnv.cli.main import COMMANDS
from nnv.core.bounds.symbolic import symbolic_bounds

HEAVY = ("highspy", "z3", "cvc5", "pyomo", "torch", "onnxruntime", "scipy.sparse", "onnx", "rich")


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1].split()[1:]


def test_importing_the_cli_imports_no_solver_or_heavy_library() -> None:
    assert _loaded_after("import nnv.cli.main") == []
    assert "numpy" not in _loaded_after("import nnv.cli.main, nnv.core")


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys\nsys.argv = ['nnv', '--help']\nfrom nnv.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'numpy' not in sys.modules, 'numpy'\n"
        "assert not [m for m in sys.modules if m.endswith('_command')], 'a command module'"
    )
    assert _loaded_after(code) == []


@pytest.mark.shared
def test_verifying_an_onnx_instance_imports_neither_onnx_nor_unused_solvers(
    acasxu: Path,
) -> None:
    """ACAS Xu's prop_1 on network 1_1 is settled by bounds alone (27 input boxes): its
    dense network and bounds never load scipy.sparse, which only sparse layers and solver
    queries need, nor rich (a progress line shows only after a second); highspy is loaded
    (the chosen solver's plugin), the other solvers are not."""
    network, prop = acasxu / "ACASXU_run2a_1_1_batch_2000.onnx", acasxu / "prop_1.vnnlib"
    code = (
        f"import sys\nsys.argv = ['nnv', 'verify', {str(network)!r}, {str(prop)!r}, '--json']\n"
        "from nnv.cli.main import main\ntry:\n    main()\nexcept SystemExit as e:\n"
        "    assert e.code == 0, e.code"
    )
    loaded = _loaded_after(code)
    assert not set(loaded) & {"onnx", "z3", "cvc5", "pyomo", "torch", "onnxruntime"}, loaded
    assert "scipy.sparse" not in loaded and "rich" not in loaded, loaded


def test_a_query_for_the_solver_loads_scipy_sparse_where_it_is_built(tmp_path: Path) -> None:
    """The other side of the lazy import: a case that bounds leave open goes to HiGHS, whose
    query is built with scipy.sparse (a small random network, a threshold just under the
    bound of its output, --strategy milp), and the answer names the solver."""
    rng = np.random.default_rng(0)
    net = random_network(rng, (3, 10, 10, 2))
    layers = [{"weight": w.weight.tolist(), "bias": w.bias.tolist()} for w in net.layers]
    network = tmp_path / "net.json"
    network.write_text(json.dumps({"format": "nnv-network", "version": 1, "layers": layers}))
    bound = symbolic_bounds(net, -np.ones(3), np.ones(3)).upper[-1][0]
    threshold = float(bound) - 1e-3
    lines = [f"(declare-const X_{i} Real)" for i in range(3)]
    lines += ["(declare-const Y_0 Real)", "(declare-const Y_1 Real)"]
    lines += [f"(assert (>= X_{i} -1.0))\n(assert (<= X_{i} 1.0))" for i in range(3)]
    lines.append(f"(assert (>= Y_0 {threshold!r}))")
    prop = tmp_path / "prop.vnnlib"
    prop.write_text("\n".join(lines) + "\n")
    code = (
        f"import sys\nsys.argv = ['nnv', 'verify', {str(network)!r}, {str(prop)!r}, "
        "'--strategy', 'milp']\n"
        "from nnv.cli.main import main\ntry:\n    main()\nexcept SystemExit as e:\n"
        "    assert e.code == 0, e.code"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "by highs" in done.stdout and " 0 by highs" not in done.stdout, done.stdout
    assert "scipy.sparse" in _loaded_after(code)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_help_summary_is_the_commands_own(name: str) -> None:
    module, function, summary = COMMANDS[name]
    command = getattr(importlib.import_module(f"nnv.cli.{module}"), function)
    first_paragraph = inspect.getdoc(command).split("\n\n")[0]
    assert summary == " ".join(first_paragraph.split())
