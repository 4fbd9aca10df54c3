"""The boundary picture explains itself: a legend, smooth boundaries (contours of the decision
function), the changed region, a mark on runs that did not repair, slices of wider inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import random_network
from matplotlib.collections import QuadMesh
from matplotlib.contour import ContourSet

from nnv.core import InputPiece, Network, Property
from nnv.core.errors import InputError
from nnv.core.model.dataset import Dataset
from nnv.plots import boundary_figure, plot_boundary

ROOT = Path(__file__).resolve().parent.parent
XOR = ROOT / "examples" / "xor"


def _xor() -> tuple[Network, Property, Dataset]:
    from nnv.core.plugin.registry import default_registry

    registry = default_registry()
    net = registry.load_network(XOR / "network.onnx")
    prop = registry.load_property(XOR / "robust_violated.vnnlib")
    return net, prop, Dataset.load(XOR / "data.npz")


def _shifted(net: Network, bias: float) -> Network:
    """``net`` with its last layer's second bias moved: a different boundary."""
    layers = [(layer.dense().copy(), layer.bias.copy()) for layer in net.layers]
    layers[-1][1][1] += bias
    return Network(layers)


def _labels(figure) -> list[str]:
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def test_the_picture_has_a_legend_smooth_boundaries_and_the_changed_region() -> None:
    net, prop, data = _xor()
    figure = boundary_figure(net, _shifted(net, -0.8), [prop], data)
    assert figure is not None
    labels = _labels(figure)
    for wanted in ("class 0", "class 1", "property region", "sampled points"):
        assert wanted in labels
    assert "class changed by the repair" in labels
    assert any(label.startswith("train points") for label in labels)
    for ax in figure.axes:
        # boundaries are contours of the decision function, not a mesh of grid cells
        assert any(isinstance(c, ContourSet) for c in ax.collections)
        assert not any(isinstance(c, QuadMesh) for c in ax.collections)
    # the same network after: nothing changed, nothing hatched
    same = boundary_figure(net, net, [prop], data)
    assert same is not None and "class changed by the repair" not in _labels(same)


def test_a_run_that_did_not_repair_is_marked(tmp_path: Path) -> None:
    net, prop, data = _xor()
    figure = boundary_figure(net, None, [prop], data)
    assert figure is not None and len(figure.axes) == 1
    assert figure.get_suptitle() == "NOT REPAIRED"
    assert plot_boundary(net, None, [prop], data, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_wider_inputs_are_drawn_on_a_slice_through_the_property_centre() -> None:
    rng = np.random.default_rng(0)
    net = random_network(rng, (5, 12, 3))
    centre = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    lower, upper = centre - 0.05, centre + 0.05
    lower[[1, 3]], upper[[1, 3]] = centre[[1, 3]] - 0.4, centre[[1, 3]] + 0.4
    prop = Property.classification(InputPiece(lower, upper), 0, n_outputs=3)
    X = rng.uniform(-1, 1, size=(200, 5))
    data = Dataset.from_arrays({"train": (X, net.predict(X))}, "test")
    figure = boundary_figure(net, None, [prop], data)
    assert figure is not None
    ax = figure.axes[0]
    # the default axes are the two inputs the property's box is widest in
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x3")
    given = boundary_figure(net, net, [prop], data, axes=(0, 4))
    assert given is not None
    assert (given.axes[0].get_xlabel(), given.axes[0].get_ylabel()) == ("x0", "x4")
    assert "x1 = 0.2" in given.get_suptitle() and "x3 = 0.4" in given.get_suptitle()
    with pytest.raises(InputError):
        boundary_figure(net, net, [prop], data, axes=(2, 2))
