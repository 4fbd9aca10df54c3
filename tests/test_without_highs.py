"""Core names no solver plugin: certifiers are chosen by capability from what is installed,
and without the highs plugin ``nnv verify --solver z3`` and ``nnv run --solver z3`` still work.

Plugins are hidden by filtering the entry points nnv reads (group ``nnv``), in this process
(a Registry built while the filter is on) and in a subprocess running the real command line,
exactly as if the distribution that provides them were not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_bad_input, nnv

from nnv.core import Dataset, PluginError, hookimpl
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.registry import ENTRY_POINT_GROUP, Registry
from nnv.core.repair.loop import Repairer
from nnv.core.repair.settings import RepairSettings
from nnv.core.verify.certifier import Certifier

ROOT = Path(__file__).resolve().parent.parent
XOR = ROOT / "examples" / "xor"
NETWORK = XOR / "network.onnx"
VIOLATED, HOLDS = XOR / "robust_violated.vnnlib", XOR / "robust_holds.vnnlib"

# The command line with some entry points of the group "nnv" hidden (argv[1]: their names).
WITHOUT = """
import importlib.metadata as metadata, sys
hidden, original = set(sys.argv[1].split(",")), metadata.entry_points
def entry_points(**selection):
    found = original(**selection)
    if selection.get("group") != "nnv":
        return found
    return [point for point in found if point.name not in hidden]
metadata.entry_points = entry_points
sys.argv = ["nnv", *sys.argv[2:]]
from nnv.cli.main import main
main()
"""


def nnv_without(hidden: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", WITHOUT, hidden, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture
def registry_without(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Registry]]:
    """A Registry built as if the plugins named were not installed."""
    import importlib.metadata

    original = importlib.metadata.entry_points

    def make(*hidden: str) -> Registry:
        def entry_points(**selection: str) -> object:
            found = original(**selection)
            if selection.get("group") != ENTRY_POINT_GROUP:
                return found
            return [point for point in found if point.name not in hidden]

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
        try:
            return Registry()
        finally:
            monkeypatch.setattr(importlib.metadata, "entry_points", original)

    yield make


def _pair(certifier: Certifier) -> tuple[str, str | None]:
    described = certifier.describe()
    return str(described["milp"]), None if described["exact"] is None else str(described["exact"])


def test_certifiers_are_chosen_by_capability(registry_without: Callable[..., Registry]) -> None:
    # today's choices wherever they are installed: highs for the margin check, z3 exact
    assert _pair(Certifier.from_registry(registry_without())) == ("highs", "z3")
    assert "highs" not in registry_without("highs").names("solver")
    # another float MILP solver for the margin check, another exact one for the proof
    assert _pair(Certifier.from_registry(registry_without("highs"))) == ("pyomo", "z3")
    assert _pair(Certifier.from_registry(registry_without("z3"))) == ("highs", "cvc5")
    # no float MILP solver at all: the exact solver does the margin check too
    assert _pair(Certifier.from_registry(registry_without("highs", "pyomo"))) == ("z3", "z3")
    # no exact solver: the margin check alone
    assert _pair(Certifier.from_registry(registry_without("z3", "cvc5"))) == ("highs", None)
    with pytest.raises(PluginError, match="no installed solver can certify"):
        Certifier.from_registry(registry_without("highs", "pyomo", "z3", "cvc5"))


def _verdict(done: subprocess.CompletedProcess[str]) -> list[str]:
    """What ``nnv verify`` printed, without the time it took."""
    return [line for line in done.stdout.splitlines() if not line.startswith("time:")]


@pytest.mark.parametrize("prop", [VIOLATED, HOLDS], ids=["violated", "holds"])
def test_nnv_verify_with_z3_needs_no_highs(prop: Path) -> None:
    hidden = nnv_without("highs", "verify", str(NETWORK), str(prop), "--solver", "z3")
    shown = nnv("verify", str(NETWORK), str(prop), "--solver", "z3")
    assert hidden.returncode == shown.returncode == 0, hidden.stderr
    assert _verdict(hidden) == _verdict(shown)
    assert _verdict(hidden)[0] == ("sat" if prop == VIOLATED else "unsat")


@pytest.mark.parametrize("hidden", ["highs", "highs,pyomo"])
def test_nnv_run_with_z3_needs_no_highs(tmp_path: Path, hidden: str) -> None:
    """The verifier defaults to the synthesis solver, and the repair is certified by z3."""
    done = nnv_without(
        hidden,
        "run",
        "--network", str(NETWORK),
        "--property", str(VIOLATED),
        "--data", str(XOR / "data.npz"),
        "--free", "w2.2.8",
        "--solver", "z3",
        "--out", str(tmp_path),
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "repaired"
    assert (result["solver"], result["verifier"]) == ("z3", "z3")
    assert result["certified_by"] == "z3 (exact)"
    assert json.loads((tmp_path / "result.json").read_text())["verifier"] == "z3"
    assert (tmp_path / "repaired.onnx").is_file()


def test_nnv_run_without_highs_names_the_missing_default(tmp_path: Path) -> None:
    """The synthesis solver's default is highs: without it, one clear line (exit 2)."""
    done = nnv_without(
        "highs",
        "run",
        "--network", str(NETWORK),
        "--property", str(VIOLATED),
        "--data", str(XOR / "data.npz"),
        "--free", "w2.2.8",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert_bad_input(done, "unknown solver 'highs'")


# -- counterexample events from repair and certification ------------------------------------


class _Heard:
    """An observer of nnv_counterexample_found."""

    def __init__(self) -> None:
        self.found: list[tuple[str, np.ndarray, np.ndarray]] = []

    @hookimpl
    def nnv_counterexample_found(
        self, source: str, inputs: np.ndarray, outputs: np.ndarray
    ) -> None:
        self.found.append((source, inputs, outputs))


def test_repair_and_certification_announce_their_counterexamples() -> None:
    registry, heard = Registry(), _Heard()
    registry.manager.register(heard)
    network = registry.load_network(NETWORK)
    prop = registry.load_property(VIOLATED)
    data = Dataset.load(XOR / "data.npz")
    X = data.splits["train"][0]
    certifier = Certifier.from_registry(registry, events=registry.hook)
    refused = certifier.certify(network, [prop])
    assert not refused.ok
    assert [source for source, _, _ in heard.found] == ["certification"]
    heard.found.clear()
    repairer = Repairer(
        network,
        [prop],
        SoftConstraints(X, network.predict(X)),
        data,
        solver=registry.solver("highs"),
        verifier=registry.solver("highs"),
        certifier=certifier,
        settings=RepairSettings(seed_counterexamples=0),  # the loop must find them itself
        events=registry.hook,
    )
    result = repairer.trial(("w2.1.8", "w2.2.8"))
    assert result.repaired
    assert heard.found and {source for source, _, _ in heard.found} == {"repair"}
    assert len(heard.found) == result.rounds - 1  # one per round that was not the last
    for _, inputs, outputs in heard.found:  # a candidate's counterexample, in the region
        assert prop.in_region(inputs)[0]
        assert outputs.shape == (network.n_outputs,) and np.isfinite(outputs).all()
