"""The decision boundary of a 2-D classifier before and after repair, as a PNG.

Like the repair paper's figures: each panel colours the plane by the predicted class over the
data's bounding box (plus a margin), draws the class boundaries, outlines every property
region in red and scatters the training points coloured by their label, so one glance shows
whether the boundary left the region and what it cost elsewhere.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnv.core.model.dataset import Dataset
from nnv.core.model.decision import DEFAULT_DECISION, Decision
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.repair.metrics import accuracy_report
from nnv.core.runtime.files import write_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes

RESOLUTION = 300  # grid points per axis
MARGIN = 0.1  # of the data's span, on each side
AREAS = ("#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9")
POINTS = ("#2171b5", "#d94801", "#238b45", "#6a51a3", "#cb181d", "#525252")


def plot_boundary(
    before: Network,
    after: Network | None,
    properties: Sequence[Property],
    data: Dataset,
    path: Path,
    decision: Decision = DEFAULT_DECISION,
) -> bool:
    """Draw ``before`` (and ``after``, when there is one) into ``path``, the plane coloured
    by ``decision`` of the outputs; False, and no file, when the inputs are not 2-D."""
    if before.n_inputs != 2 or data.n_features != 2:
        return False
    # imported here, not at the top: matplotlib costs a quarter of a second at start-up, and
    # every `nnv` command (`nnv verify` above all) imports this module through the CLI
    from matplotlib.figure import Figure

    panels = [("before", before)] + ([("after", after)] if after is not None else [])
    figure = Figure(figsize=(5.2 * len(panels), 4.8), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    low, high = _extent(data, properties)
    for ax, (title, network) in zip(axes, panels, strict=True):
        _panel(ax, network, properties, data, low, high, decision)
        weighted = accuracy_report(network, data, decision)["weighted"]
        ax.set_title(f"{title} repair: weighted accuracy {weighted:.4f}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    write_atomic(path, buffer.getvalue())
    return True


def _extent(data: Dataset, properties: Sequence[Property]) -> tuple[np.ndarray, np.ndarray]:
    """The box around every data point and property region, widened by ``MARGIN``."""
    inputs = np.concatenate([X for X, _ in data.splits.values()])
    corners = [box for prop in properties for box in prop.bounding_box()]
    points = np.vstack([inputs, *corners]) if corners else inputs
    low, high = points.min(axis=0), points.max(axis=0)
    pad = MARGIN * np.maximum(high - low, 1e-9)
    return low - pad, high + pad


def _panel(
    ax: Axes,
    network: Network,
    properties: Sequence[Property],
    data: Dataset,
    low: np.ndarray,
    high: np.ndarray,
    decision: Decision,
) -> None:
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle

    n = network.n_outputs
    xs, ys = (np.linspace(low[i], high[i], RESOLUTION) for i in range(2))
    grid_x, grid_y = np.meshgrid(xs, ys)
    classes = network.predict(np.column_stack([grid_x.ravel(), grid_y.ravel()]), decision)
    classes = classes.reshape(grid_x.shape)
    areas = ListedColormap([AREAS[c % len(AREAS)] for c in range(n)])
    ax.pcolormesh(grid_x, grid_y, classes, cmap=areas, vmin=-0.5, vmax=n - 0.5, shading="auto")
    if n > 1:
        ax.contour(
            grid_x, grid_y, classes, levels=np.arange(n - 1) + 0.5, colors="k", linewidths=0.8
        )
    X, y = data.splits.get("train", next(iter(data.splits.values())))
    ax.scatter(X[:, 0], X[:, 1], s=4, c=[POINTS[c % len(POINTS)] for c in y], linewidths=0)
    for prop in properties:
        for piece in prop.pieces:
            width, height = piece.upper - piece.lower
            box = Rectangle(piece.lower, width, height, fill=False, edgecolor="red", linewidth=1.6)
            ax.add_patch(box)
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
