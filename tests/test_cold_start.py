"""Start-up imports only what the command uses (speed is measured by benchmarks/cold_start.py)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from nnv.cli.main import COMMANDS

HEAVY = ("highspy", "z3", "cvc5", "pyomo", "torch", "onnxruntime", "scipy.sparse", "onnx")


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
    network, prop = acasxu / "ACASXU_run2a_1_1_batch_2000.onnx", acasxu / "prop_1.vnnlib"
    code = (
        f"import sys\nsys.argv = ['nnv', 'verify', {str(network)!r}, {str(prop)!r}]\n"
        "from nnv.cli.main import main\ntry:\n    main()\nexcept SystemExit as e:\n"
        "    assert e.code == 0, e.code"
    )
    loaded = _loaded_after(code)
    assert not set(loaded) & {"onnx", "z3", "cvc5", "pyomo", "torch", "onnxruntime"}, loaded


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_help_summary_is_the_commands_own(name: str) -> None:
    module, function, summary = COMMANDS[name]
    command = getattr(importlib.import_module(f"nnv.cli.{module}"), function)
    first_paragraph = inspect.getdoc(command).split("\n\n")[0]
    assert summary == " ".join(first_paragraph.split())
