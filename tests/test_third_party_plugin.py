"""A third-party plugin, installed the way its users would install it: tests/plugin_example.

The example distribution ``nnv-scipy-milp`` is built and installed with pip into a temporary
directory (never into the environment running the tests), and the ``nnv`` command line is
run in a subprocess with that directory on ``PYTHONPATH``: nnv must find the plugin through
the entry-point group ``nnv`` alone, list it, and verify with it. The solver class itself is
also checked in-process, loaded straight from its source file.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy.optimize import OptimizeResult

from nnv.core import CapabilityError, InputError, QueryBuilder
from nnv.core.plugin.registry import Registry, default_registry
from nnv.core.verify.verifier import Verifier

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "plugin_example"
XOR = ROOT / "examples" / "xor"
DISTRIBUTION = "nnv-scipy-milp"
# The console script's entry point, run by the interpreter running the tests (so the same
# environment), with the program name the user sees.
NNV = [
    sys.executable,
    "-c",
    "import sys; sys.argv[0] = 'nnv'; from nnv.cli.main import main; main()",
]


# -- installing the example, as a user would -----------------------------------------------


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the installed distribution nnv-scipy-milp (a pip ``--target``).

    pip builds a local project in place (leaving build/ and *.egg-info behind), so it builds
    a copy: the source tree stays clean. ``--no-build-isolation`` uses the setuptools already
    installed, so nothing is downloaded; a failure here is a failure, not a skip.
    """
    base = tmp_path_factory.mktemp("third-party-plugin")
    source, site = base / "src", base / "site"
    shutil.copytree(
        EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--disable-pip-version-check",
        "--quiet",
        "--target",
        str(site),
        str(source),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if completed.returncode != 0:
        pytest.fail(f"pip could not install {EXAMPLE}:\n{completed.stdout}\n{completed.stderr}")
    assert (site / "nnv_scipy_milp.py").is_file()
    return site


def run_nnv(*args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``nnv ARGS`` from the repository root, with ``site`` (if any) on PYTHONPATH."""
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run(
        [*NNV, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def xor_file(name: str) -> str:
    path = XOR / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `python examples/make_xor.py` and commit the files")
    return str(path.relative_to(ROOT))


# -- the installed plugin, through the command line ----------------------------------------


def test_nnv_plugins_lists_the_third_party_solver_and_its_origin(plugin_site: Path) -> None:
    completed = run_nnv("plugins", "--json", site=plugin_site)
    assert completed.returncode == 0, completed.stderr
    rows = {(row["kind"], row["name"]): row for row in json.loads(completed.stdout)}
    row = rows[("solver", "scipy-milp")]
    assert row["origin"] == "nnv-scipy-milp 0.1.0"
    assert row["capabilities"] == ["integer", "linear", "optimize"]
    assert row["description"].startswith("MILP through scipy.optimize.milp")
    # the built-in solvers are still there, found the same way
    assert ("solver", "highs") in rows


def test_the_plugin_is_not_installed_in_the_test_environment(plugin_site: Path) -> None:
    """The install above went to a temporary directory only; nothing leaked into the venv."""
    try:
        installed = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pass
    else:
        pytest.fail(
            f"{DISTRIBUTION} is installed in the test environment ({installed.locate_file('')}):"
            f" run `pip uninstall {DISTRIBUTION}`; the tests install it into a temporary folder"
        )
    assert str(plugin_site) not in sys.path
    completed = run_nnv("plugins", "--json")
    assert completed.returncode == 0, completed.stderr
    assert "scipy-milp" not in {row["name"] for row in json.loads(completed.stdout)}


@pytest.mark.parametrize(
    ("property_file", "verdict"),
    [("robust_violated.vnnlib", "sat"), ("robust_holds.vnnlib", "unsat")],
)
def test_nnv_verify_with_the_third_party_solver(
    plugin_site: Path, property_file: str, verdict: str
) -> None:
    completed = run_nnv(
        "verify",
        xor_file("network.onnx"),
        xor_file(property_file),
        "--solver",
        "scipy-milp",
        "--solver-option",
        "time_limit=60",
        site=plugin_site,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == verdict
    if verdict == "unsat":
        assert "by scipy-milp (floating-point MILP)" in completed.stdout


@pytest.mark.shared
def test_nnv_verify_proves_with_the_third_party_solver(plugin_site: Path, nnsynth: Path) -> None:
    """XOR-A p1 holds and its bounds alone do not show it: the plugin's MILP must."""
    completed = run_nnv(
        "verify",
        str(nnsynth / "xor_a" / "model.onnx"),
        str(nnsynth / "xor_a" / "properties" / "prop_1.vnnlib"),
        "--solver",
        "scipy-milp",
        "--strategy",
        "milp",  # one solver call per case: branch and bound would not need the plugin here
        site=plugin_site,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[0] == "unsat"
    assert "0 of 1 cases by bounds, 1 by scipy-milp (floating-point MILP)" in completed.stdout


def test_an_unknown_solver_is_one_line_and_exit_code_2(plugin_site: Path) -> None:
    completed = run_nnv(
        "verify",
        xor_file("network.onnx"),
        xor_file("robust_holds.vnnlib"),
        "--solver",
        "nosuch",
        site=plugin_site,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnv: error:"), completed.stderr
    assert "nosuch" in lines[0] and "scipy-milp" in lines[0]  # names what is installed


def test_an_unknown_option_of_the_plugin_is_one_line_and_exit_code_2(plugin_site: Path) -> None:
    completed = run_nnv(
        "verify",
        xor_file("network.onnx"),
        xor_file("robust_holds.vnnlib"),
        "--solver",
        "scipy-milp",
        "--solver-option",
        "colour=blue",
        site=plugin_site,
    )
    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert lines == [
        "nnv: error: solver 'scipy-milp' has no option 'colour' "
        "(known: disp, mip_rel_gap, node_limit, presolve, time_limit)"
    ]


# -- the solver class, in-process ----------------------------------------------------------


@pytest.fixture(scope="module")
def plugin_module() -> Iterator[ModuleType]:
    """The plugin's module loaded from its source file (no install, sys.path untouched).

    It is in ``sys.modules`` while the tests use it, as an import would leave it (the
    dataclass machinery looks its module up there); removed afterwards.
    """
    spec = importlib.util.spec_from_file_location("nnv_scipy_milp", EXAMPLE / "nnv_scipy_milp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.fixture(scope="module")
def registry(plugin_module: ModuleType) -> Registry:
    """A registry holding only the example plugin, registered as its entry point would be."""
    return Registry(load_entry_points=False, plugins=[plugin_module])


def test_the_hook_contributes_the_solver(registry: Registry, plugin_module: ModuleType) -> None:
    info = registry.get("solver", "scipy-milp")
    assert info.factory is plugin_module.ScipyMilpSolver
    assert info.capabilities == ("integer", "linear", "optimize")


def test_a_milp_is_solved_to_optimality_in_either_sense(registry: Registry) -> None:
    builder = QueryBuilder()
    builder.add_vars(2, -1.0, 1.0)
    builder.add_binaries(1)
    builder.add_rows(np.array([[1.0, 1.0, 0.0]]), None, -np.inf, 1.5)
    objective = np.array([1.0, 2.0, 3.0])
    solver = registry.solver("scipy-milp")
    best = solver.solve(builder.build(objective=objective, maximize=True))
    assert best.status == "optimal" and not best.exact
    assert best.values is not None
    np.testing.assert_allclose(best.values, [0.5, 1.0, 1.0], atol=1e-7)
    assert best.objective == pytest.approx(5.5)
    worst = solver.solve(builder.build(objective=objective, maximize=False))
    assert worst.objective == pytest.approx(-3.0)


def test_relu_pairs_reach_the_solver_as_big_m_rows(registry: Registry) -> None:
    """``solve`` reduces ReLUs for a solver without ``relu``: y = max(0, x), x in [-1, 2]."""
    solver = registry.solver("scipy-milp")
    for target, status in ((1.5, "optimal"), (2.5, "infeasible")):
        builder = QueryBuilder()
        x = builder.add_vars(1, -1.0, 2.0)
        y = builder.add_vars(1, 0.0, 2.0)
        builder.add_relu(y, x)
        builder.add_rows(np.array([[1.0]]), y, target, np.inf)  # y >= target
        solution = solver.solve(builder.build())
        assert solution.status == status, solution.message
        if solution.values is not None:
            assert solution.values[x[0]] >= target - 1e-7


def test_soft_constraints_become_an_objective(registry: Registry) -> None:
    builder = QueryBuilder()
    keep = builder.add_binaries(3)
    builder.add_rows(np.ones((1, 3)), keep, -np.inf, 2.0)  # at most two can be kept
    solution = registry.solver("scipy-milp").solve(builder.build(soft=keep))
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(2.0)


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "prop", "verdict"),
    [
        ("xor_a", 1, "unsat"),
        ("xor_b", 1, "sat"),
        ("xor_b", 2, "sat"),
        ("blobs", 1, "sat"),
        ("blobs", 2, "sat"),
    ],
)
def test_the_repair_papers_instances_without_falsification(
    registry: Registry, nnsynth: Path, name: str, prop: int, verdict: str
) -> None:
    """With falsification off and the plain MILP path, every verdict is the plugin's (the
    paper's Table 2)."""
    loaders = default_registry()
    network = loaders.load_network(nnsynth / name / "model.onnx")
    unsafe = loaders.load_property(nnsynth / name / "properties" / f"prop_{prop}.vnnlib")
    verifier = Verifier(
        registry.solver("scipy-milp"), timeout=60, falsify_samples=0, strategy="milp"
    )
    result = verifier.verify(network, unsafe)
    assert result.status == verdict, result.message
    assert result.proved_by_bounds == 0 and not result.exact
    if verdict == "sat":
        assert result.found_by == "solver" and result.counterexample is not None
        assert unsafe.violations(network.forward, result.counterexample)[0]


def test_a_query_beyond_its_capabilities_is_refused_clearly(registry: Registry) -> None:
    builder = QueryBuilder()
    v = builder.add_vars(3, -1.0, 1.0)
    builder.add_bilinear(v[2:], v[:1], v[1:2])
    with pytest.raises(CapabilityError, match="scipy-milp"):
        registry.solver("scipy-milp").solve(builder.build())


def test_bad_options_are_input_errors(registry: Registry) -> None:
    with pytest.raises(InputError, match="has no option 'colour'"):
        registry.solver("scipy-milp", colour="blue")
    with pytest.raises(InputError, match="option 'node_limit' takes an integer or None, not 'x'"):
        registry.solver("scipy-milp", node_limit="x")
    with pytest.raises(InputError, match="time_limit must be positive"):
        registry.solver("scipy-milp", time_limit=0)
    assert registry.solver("scipy-milp", time_limit=5).options["presolve"] is True  # defaults


def test_solve_reduces_relu_pairs_for_the_plugin(registry: Registry) -> None:
    """The plugin implements only ``_solve``; ``solve`` still reduces ``y = relu(x)``, so
    ``y <= -0.5`` is infeasible (not the LP answer that ignores the pair)."""
    builder = QueryBuilder()
    x = builder.add_vars(1, -1.0, 1.0)
    y = builder.add_vars(1, -10.0, 10.0)
    builder.add_relu(y, x)
    builder.add_rows(np.array([[1.0]]), y, -np.inf, -0.5)
    assert registry.solver("scipy-milp").solve(builder.build()).status == "infeasible"


@pytest.mark.parametrize(
    ("scipy_status", "x", "status"),
    [
        (1, None, "timeout"),  # the time limit struck before any point was found
        (1, np.zeros(1), "feasible"),  # ... after one was found
        (3, None, "unknown"),
        (4, np.zeros(1), "unknown"),
    ],
)
def test_scipy_status_codes_map_to_nnv_statuses(
    plugin_module: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    scipy_status: int,
    x: np.ndarray | None,
    status: str,
) -> None:
    seen: dict[str, Any] = {}

    def fake_milp(c: np.ndarray, **kwargs: Any) -> OptimizeResult:
        seen.update(kwargs)
        return OptimizeResult(status=scipy_status, x=x, message="stopped")

    monkeypatch.setattr(plugin_module, "milp", fake_milp)
    builder = QueryBuilder()
    builder.add_vars(1, 0.0, 1.0)
    solver = plugin_module.ScipyMilpSolver(time_limit=30.0)
    solution = solver.solve(builder.build(), timeout=5.0)
    assert solution.status == status
    assert solution.found == (status == "feasible")
    assert solution.message == "stopped"
    assert seen["options"]["time_limit"] == 5.0  # the tighter of the timeout and the option
