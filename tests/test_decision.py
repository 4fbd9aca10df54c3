"""``--decision argmin``: every part that reads a class from outputs follows the run's rule.

The rules mirror each other: a network whose last layer is negated, decided by argmin, makes
the same decisions as the original decided by argmax. So an argmin run on the negated network
must give what the argmax run gives on the original: the same labels, accuracy, soft
constraints kept and repairs (a last-layer parameter moves to minus its value).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from cli_helpers import assert_bad_input, nnv
from test_run import EXAMPLE

from nnv.cli.boundary import plot_boundary
from nnv.core import Dataset, Heuristic, InputError, Network, Property, SoftConstraints, hookimpl
from nnv.core.plugin.registry import Registry, default_registry
from nnv.core.repair.metrics import accuracy_report
from nnv.core.run.config import RunConfig
from nnv.core.run.dispatch import run_repair
from nnv.core.verify.verifier import Verifier
from nnv.plugins.heuristics.grid import GridHeuristic
from nnv.plugins.heuristics.samples import SamplesHeuristic
from nnv.plugins.heuristics.voronoi import VoronoiHeuristic
from nnv.plugins.loaders.vnnlib_write import write_vnnlib
from nnv.plugins.methods.solver.build import _heuristic

FOUR = EXAMPLE.parent / "four_input"


def negated(network: Network) -> Network:
    """The network with its last layer negated: argmin of it is argmax of the original."""
    *hidden, last = network.layers
    return Network([*((a.weight, a.bias) for a in hidden), (-last.weight, -last.bias)])


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The XOR example, and its negated network with the same property for argmin, on file."""
    registry = default_registry()
    folder = tmp_path_factory.mktemp("mirror")
    network = registry.load_network(EXAMPLE / "network.onnx")
    prop = registry.load_property(EXAMPLE / "robust_violated.vnnlib")
    registry.save_network(negated(network), folder / "negated.onnx")
    argmin_prop = Property.classification(
        prop.pieces[0], 0, 2, name="robust_violated", decision="argmin"
    )
    write_vnnlib(argmin_prop, folder / "argmin.vnnlib")
    return SimpleNamespace(
        folder=folder,
        network=network,
        data=Dataset.load(EXAMPLE / "data.npz"),
        argmax=(EXAMPLE / "network.onnx", EXAMPLE / "robust_violated.vnnlib"),
        argmin=(folder / "negated.onnx", folder / "argmin.vnnlib"),
    )


def _run(case: SimpleNamespace, decision: str, out: Path, **settings: Any) -> dict[str, Any]:
    network, prop = getattr(case, decision)
    config = RunConfig(
        network=network,
        properties=[prop],
        data=EXAMPLE / "data.npz",
        out=out,
        decision=decision,  # type: ignore[arg-type]
        workers=1,
        **settings,
    )
    return run_repair(config, default_registry()).result


def test_labels_and_accuracy_follow_the_decision(mirrored: SimpleNamespace) -> None:
    original, flipped, data = mirrored.network, negated(mirrored.network), mirrored.data
    assert accuracy_report(flipped, data, "argmin") == accuracy_report(original, data)
    assert accuracy_report(flipped, data) != accuracy_report(original, data)
    for make in (SamplesHeuristic, GridHeuristic, VoronoiHeuristic):
        wanted = make().constraints(original, data)
        got = make(decision="argmin").constraints(flipped, data)
        np.testing.assert_array_equal(got.labels, wanted.labels)
        np.testing.assert_array_equal(got.region_labels, wanted.region_labels)


@pytest.mark.parametrize(
    ("free", "extra"),
    [
        ("w1.5.2", {}),  # the exact line, a hidden-layer weight (not every point kept)
        ("w2.1.8", {}),  # the exact line, a last-layer weight: moves to minus its value
        ("w2.1.8,w2.2.8", {"line_synthesis": False}),  # the MILP (highs)
        ("b1.8,w2.1.8", {}),  # the pair search: the two multiply
    ],
)
def test_an_argmin_repair_mirrors_the_argmax_one(
    mirrored: SimpleNamespace, tmp_path: Path, free: str, extra: dict[str, Any]
) -> None:
    names = free.split(",")
    wanted = _run(mirrored, "argmax", tmp_path / "max", free=names, **extra)
    got = _run(mirrored, "argmin", tmp_path / "min", free=names, **extra)
    assert wanted["status"] == got["status"] == "repaired"
    assert got["decision"] == "argmin" and got["certified_by"] == wanted["certified_by"]
    assert got["kept"] == wanted["kept"] and got["soft_total"] == wanted["soft_total"]
    changes = {
        decision: [abs(r["parameters"][n]["after"] - r["parameters"][n]["before"]) for n in names]
        for decision, r in (("argmax", wanted), ("argmin", got))
    }
    if len(names) == 2 and not extra:  # the pair search: one answer, found the same way
        assert changes["argmin"] == pytest.approx(changes["argmax"], abs=1e-7)
    # the MILP's smallest total change may be reached by another answer of the same size
    assert sum(changes["argmin"]) == pytest.approx(sum(changes["argmax"]), abs=1e-6)
    if len(names) == 1:
        assert got["accuracy_after"] == pytest.approx(wanted["accuracy_after"], abs=1e-12)
        mirror = -1.0 if names[0].startswith(("w2", "b2")) else 1.0
        after = got["parameters"][names[0]]["after"]
        assert after == pytest.approx(mirror * wanted["parameters"][names[0]]["after"], abs=1e-7)


def test_quantified_mode_keeps_points_by_the_decision(
    mirrored: SimpleNamespace, tmp_path: Path
) -> None:
    quantified = {"free": ["b2.2"], "mode": "quantified", "solver": "z3", "threshold": 790}
    got = _run(mirrored, "argmin", tmp_path / "min", **quantified)
    # z3's first model is its own choice; that it keeps the threshold by argmin is not
    assert got["status"] == "repaired" and got["kept"] >= 790


def test_soft_regions_follow_the_decision(mirrored: SimpleNamespace, tmp_path: Path) -> None:
    grid = {"heuristic": "grid", "heuristic_options": {"cells": 4}, "free": ["w2.1.8"]}
    wanted = _run(mirrored, "argmax", tmp_path / "max", **grid)
    got = _run(mirrored, "argmin", tmp_path / "min", **grid)
    assert wanted["status"] == got["status"] == "repaired"
    assert got["kept"] == wanted["kept"] and got["heuristic_options"]["decision"] == "argmin"


def test_the_boundary_plot_follows_the_decision(mirrored: SimpleNamespace, tmp_path: Path) -> None:
    registry = default_registry()
    prop = registry.load_property(mirrored.argmax[1])
    original, data = mirrored.network, mirrored.data
    plot_boundary(original, None, [prop], data, tmp_path / "max.png")
    plot_boundary(negated(original), None, [prop], data, tmp_path / "min.png", "argmin")
    plot_boundary(negated(original), None, [prop], data, tmp_path / "wrong.png")
    picture = (tmp_path / "max.png").read_bytes()
    assert (tmp_path / "min.png").read_bytes() == picture
    assert (tmp_path / "wrong.png").read_bytes() != picture


def test_the_command_line_takes_the_decision(mirrored: SimpleNamespace, tmp_path: Path) -> None:
    network, prop = mirrored.argmin
    args = ["--network", str(network), "--property", str(prop), "--data", str(EXAMPLE / "data.npz")]
    done = nnv("run", *args, "--free", "w2.2.8", "--decision", "argmin", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["decision"] == "argmin" and result["kept"] == result["soft_total"] == 800
    config = tmp_path / "run.toml"
    config.write_text(f'network = "{network}"\nproperty = "{prop}"\ndecision = "maximal"\n')
    data = ["--data", str(EXAMPLE / "data.npz"), "--out", str(tmp_path / "bad")]
    assert_bad_input(nnv("run", str(config), *data), "decision must be one of argmax, argmin")
    assert_bad_input(nnv("run", *args, "--decision", "min"), "decision must be one of")
    assert not (tmp_path / "bad").exists()


class _ArgmaxOnly(Heuristic):
    """A third party's heuristic that takes no decision: it labels by argmax."""

    name = "argmax_only"

    def constraints(self, network: Network, data: Dataset) -> SoftConstraints:
        X = data.splits["train"][0]
        return SoftConstraints(X, network.predict(X))


@hookimpl
def nnv_heuristics() -> dict[str, type]:
    return {"argmax_only": _ArgmaxOnly}


def test_a_heuristic_labels_by_the_runs_decision_or_is_refused(tmp_path: Path) -> None:
    import sys

    registry = Registry(plugins=(sys.modules[__name__],))
    config = RunConfig(EXAMPLE / "network.onnx", [EXAMPLE / "x.vnnlib"], EXAMPLE / "data.npz")
    config.heuristic = "argmax_only"
    assert isinstance(_heuristic(config, registry), _ArgmaxOnly)
    config.decision = "argmin"
    with pytest.raises(InputError, match="takes no decision option"):
        _heuristic(config, registry)
    config.heuristic, config.heuristic_options = "samples", {"decision": "argmin"}
    with pytest.raises(InputError, match="set it with --decision"):
        _heuristic(config, registry)


def test_retrain_aims_at_several_allowed_classes_under_argmin(tmp_path: Path) -> None:
    """ "Class 0 or 2" on the 4-12-3 example's region (some inputs are class 1), on the negated
    network decided by argmin: retrain accepts the property and proves it."""
    registry = default_registry()
    network = negated(registry.load_network(FOUR / "network.onnx"))
    piece = registry.load_property(FOUR / "robust_violated.vnnlib").pieces[0]
    registry.save_network(network, tmp_path / "negated.onnx")
    prop = Property.decided_as(piece, [0, 2], 3, name="not_class_1", decision="argmin")
    write_vnnlib(prop, tmp_path / "not_class_1.vnnlib")
    inside = np.random.default_rng(0).uniform(piece.lower, piece.upper, (5000, 4))
    assert np.any(network.predict(inside, "argmin") == 1)  # violated before
    config = RunConfig(
        network=tmp_path / "negated.onnx",
        properties=[tmp_path / "not_class_1.vnnlib"],
        data=FOUR / "data.npz",
        out=tmp_path / "run",
        method="retrain",
        decision="argmin",
        method_options={"region_points": 100, "train_points": 100, "epochs": 5},
    )
    outcome = run_repair(config, registry)
    assert outcome.result["status"] == "repaired" and outcome.repaired is not None
    assert outcome.result["allowed_classes"] == {"not_class_1": [0, 2]}
    saved = registry.load_network(tmp_path / "run" / "repaired.onnx")
    assert not np.any(saved.predict(inside, "argmin") == 1)
    assert Verifier(registry.solver("highs")).verify(saved, prop).status == "unsat"
