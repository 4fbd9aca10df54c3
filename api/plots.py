"""Pictures of results: a 2-D classifier's decision boundary before and after repair, a
verification's counterexample on the property's box, a training run's curves.

The CLI writes the boundary as ``boundary.png``; the Python API's results return these as
matplotlib figures (``.plot()``). matplotlib is imported inside the functions: it costs a
quarter of a second, and ``nnv verify`` must not pay it.

Like the repair paper's figures: each panel fills each class's area over the data's bounding
box (plus a margin) up to the zero line of its decision function (its output minus the best
other output: a smooth boundary, not grid cells), hatches where the repair changed the class,
outlines every property region in red and scatters the train (dots) and sampled (crosses)
points in their label's colour, with a legend; a run that did not repair says so in red.
Inputs of more than two dimensions are drawn on a 2-D slice through the property's centre.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnv.core.errors import InputError
from nnv.core.model.dataset import Dataset
from nnv.core.model.decision import DEFAULT_DECISION, Decision
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.trainer import EpochRecord
from nnv.core.repair.metrics import accuracy_report
from nnv.core.runtime.files import write_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

RESOLUTION = 300  # grid points per axis
MARGIN = 0.1  # of the data's span, on each side
AREAS = ("#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9")
POINTS = ("#2171b5", "#d94801", "#238b45", "#6a51a3", "#cb181d", "#525252")


def boundary_figure(
    before: Network,
    after: Network | None,
    properties: Sequence[Property],
    data: Dataset,
    axes: tuple[int, int] | None = None,
    decision: Decision = DEFAULT_DECISION,
) -> Figure | None:
    """``before`` and ``after`` (None: not repaired, marked so) as panels over the data's box:
    class areas filled up to smooth boundaries, the region the repair changed hatched,
    property regions in red, train and sampled points, a legend. Inputs of more than 2
    dimensions are shown on a 2-D slice through the first property's centre along ``axes``
    (default: the two inputs its box is widest in). None when there are fewer than 2 inputs."""
    if before.n_inputs < 2 or data.n_features != before.n_inputs:
        return None
    from matplotlib.figure import Figure

    plane = _Plane.through(properties, data, axes)
    panels = [("before repair", before), ("after repair", after)]
    if after is None:
        panels = [("original network", before)]
    figure = Figure(figsize=(5.2 * len(panels), 5.4), layout="constrained")
    panes = figure.subplots(1, len(panels), squeeze=False)[0]
    first = plane.scores(before, decision)
    changed = False
    for ax, (title, network) in zip(panes, panels, strict=True):
        scores = first if network is before else plane.scores(network, decision)
        _regions(ax, plane, scores)
        if network is not before:
            changed = _changed(ax, plane, first, scores)
        _points(ax, plane, data)
        _properties(ax, plane, properties)
        weighted = accuracy_report(network, data, decision)["weighted"]
        ax.set_title(f"{title}: weighted accuracy {weighted:.4f}")
    if after is None:
        figure.suptitle("NOT REPAIRED", color="red", weight="bold")
    elif plane.fixed:
        figure.suptitle(f"slice through the property's centre: {plane.fixed}", fontsize=9)
    figure.legend(
        handles=_legend(before.n_outputs, "sampled" in data.splits, changed),
        loc="outside lower center",
        ncols=2 * len(panels),
        fontsize=8,
    )
    return figure


def plot_boundary(
    before: Network,
    after: Network | None,
    properties: Sequence[Property],
    data: Dataset,
    path: Path,
    decision: Decision = DEFAULT_DECISION,
) -> bool:
    """Draw :func:`boundary_figure` into ``path``; False, and no file, when there are fewer
    than 2 inputs."""
    figure = boundary_figure(before, after, properties, data, decision=decision)
    if figure is None:
        return False
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    write_atomic(path, buffer.getvalue())
    return True


def counterexample_figure(
    network: Network, prop: Property, point: np.ndarray | None, title: str
) -> Figure:
    """The network's outputs along each input of the property's first box (the other inputs
    at the box's centre, or at the counterexample when there is one), the counterexample
    marked: for any input size, a picture of what was checked and where it failed."""
    from matplotlib.figure import Figure

    piece = prop.pieces[0]
    centre = (piece.lower + piece.upper) / 2 if point is None else np.asarray(point)
    shown = min(network.n_inputs, 4)
    figure = Figure(figsize=(3.6 * shown, 3.2), layout="constrained")
    axes = figure.subplots(1, shown, squeeze=False)[0]
    for index, ax in enumerate(axes):
        values = np.linspace(piece.lower[index], piece.upper[index], 200)
        points = np.repeat(centre[None, :], values.size, axis=0)
        points[:, index] = values
        outputs = network.forward(points)
        for output in range(outputs.shape[1]):
            ax.plot(values, outputs[:, output], label=f"y{output}", linewidth=1.2)
        if point is not None:
            ax.axvline(point[index], color="red", linestyle="--", label="counterexample")
        ax.set_xlabel(f"x{index}")
        ax.set_ylabel("output")
    axes[0].legend(fontsize=7)
    figure.suptitle(title)
    return figure


def curves_figure(epochs: Sequence[EpochRecord], title: str) -> Figure:
    """Training and validation loss, and the largest violation found (log scale, so the
    first epochs' spike does not hide the rest), per epoch."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.4), layout="constrained")
    loss_ax, violation_ax = figure.subplots(1, 2)
    numbers = [record.epoch for record in epochs]
    loss_ax.plot(numbers, [r.train_loss for r in epochs], label="train")
    loss_ax.plot(numbers, [r.val_loss for r in epochs], label="validation")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend()
    violation_ax.plot(numbers, [max(r.violation, 1e-12) for r in epochs], color="tab:red")
    violation_ax.set_yscale("log")
    violation_ax.set_xlabel("epoch")
    violation_ax.set_ylabel("largest violation found")
    figure.suptitle(title)
    return figure


class _Plane:
    """The 2-D plane a picture shows: two input axes over a box; the other inputs, if any,
    fixed at the first property's centre."""

    def __init__(
        self,
        axes: tuple[int, int],
        centre: np.ndarray,
        low: np.ndarray,
        high: np.ndarray,
        width: np.ndarray,
    ) -> None:
        self.axes, self.centre, self.width = axes, centre, width
        xs, ys = (np.linspace(low[i], high[i], RESOLUTION) for i in range(2))
        self.grid_x, self.grid_y = np.meshgrid(xs, ys)
        self.low, self.high = low, high
        others = [k for k in range(centre.size) if k not in axes]
        self.fixed = ", ".join(f"x{k} = {centre[k]:.4g}" for k in others)

    @classmethod
    def through(
        cls, properties: Sequence[Property], data: Dataset, axes: tuple[int, int] | None
    ) -> _Plane:
        inputs = np.concatenate([X for X, _ in data.splits.values()])
        n = inputs.shape[1]
        pieces = [piece for prop in properties for piece in prop.pieces]
        if pieces:
            lower, upper = pieces[0].lower, pieces[0].upper
            centre, width = (lower + upper) / 2, upper - lower
        else:
            centre, width = inputs.mean(axis=0), np.zeros(n)
        if axes is None:
            span = np.maximum(np.ptp(inputs, axis=0), 1e-12)
            axes = tuple(sorted(np.argsort(-width / span, kind="stable")[:2].tolist()))
        if len(set(axes)) != 2 or not all(0 <= a < n for a in axes):
            raise InputError(f"axes {axes} are not two different inputs of {n}")
        chosen = list(axes)
        points = [inputs[:, chosen]] + [
            np.vstack([piece.lower[chosen], piece.upper[chosen]]) for piece in pieces
        ]
        stacked = np.vstack(points)
        low, high = stacked.min(axis=0), stacked.max(axis=0)
        pad = MARGIN * np.maximum(high - low, 1e-9)
        return cls((chosen[0], chosen[1]), centre, low - pad, high + pad, width)

    def inputs(self) -> np.ndarray:
        grid = np.repeat(self.centre[None, :], self.grid_x.size, axis=0)
        grid[:, self.axes[0]] = self.grid_x.ravel()
        grid[:, self.axes[1]] = self.grid_y.ravel()
        return grid

    def scores(self, network: Network, decision: Decision = DEFAULT_DECISION) -> np.ndarray:
        """Per class, its output minus the best other output on the grid: >= 0 where it wins
        (the decision function, so its zero line is a smooth boundary); under argmin the
        lowest output wins, so the outputs are negated first."""
        outputs = np.atleast_2d(network.forward(self.inputs()))
        if decision == "argmin":
            outputs = -outputs
        if outputs.shape[1] == 1:
            return np.ones((1, *self.grid_x.shape))
        margins = []
        for c in range(outputs.shape[1]):
            others = np.delete(outputs, c, axis=1).max(axis=1)
            margins.append((outputs[:, c] - others).reshape(self.grid_x.shape))
        return np.array(margins)

    def on_slice(self, X: np.ndarray) -> np.ndarray:
        """Points whose other inputs lie within the property's box (all, for 2-D inputs)."""
        others = [k for k in range(X.shape[1]) if k not in self.axes]
        near = np.abs(X[:, others] - self.centre[others]) <= self.width[others] / 2 + 1e-12
        return near.all(axis=1)


def _regions(ax: Axes, plane: _Plane, scores: np.ndarray) -> None:
    for c, margin in enumerate(scores):
        if margin.max() > 0:
            colour = AREAS[c % len(AREAS)]
            ax.contourf(
                plane.grid_x, plane.grid_y, margin, levels=[0, margin.max() + 1], colors=[colour]
            )
            ax.contour(plane.grid_x, plane.grid_y, margin, levels=[0], colors="k", linewidths=0.9)
    ax.set_xlim(plane.low[0], plane.high[0])
    ax.set_ylim(plane.low[1], plane.high[1])
    ax.set_xlabel(f"x{plane.axes[0]}")
    ax.set_ylabel(f"x{plane.axes[1]}")


def _changed(ax: Axes, plane: _Plane, before: np.ndarray, after: np.ndarray) -> bool:
    """Hatch where the two networks' classes differ; whether they differ anywhere."""
    differs = (before.argmax(axis=0) != after.argmax(axis=0)).astype(float)
    if not differs.any():
        return False
    ax.contourf(
        plane.grid_x, plane.grid_y, differs, levels=[0.5, 1.5], colors="none", hatches=["////"]
    )
    ax.contour(
        plane.grid_x,
        plane.grid_y,
        differs,
        levels=[0.5],
        colors="#444444",
        linewidths=0.6,
        linestyles="dashed",
    )
    return True


def _points(ax: Axes, plane: _Plane, data: Dataset) -> None:
    i, j = plane.axes
    for split, marker, size in (("train", "o", 4), ("sampled", "x", 10)):
        if split not in data.splits:
            continue
        X, y = data.splits[split]
        keep = plane.on_slice(X)
        colours = [POINTS[c % len(POINTS)] for c in y[keep]]
        ax.scatter(X[keep, i], X[keep, j], s=size, c=colours, marker=marker, linewidths=0.6)


def _properties(ax: Axes, plane: _Plane, properties: Sequence[Property]) -> None:
    from matplotlib.patches import Rectangle

    i, j = plane.axes
    for prop in properties:
        for piece in prop.pieces:
            inside = plane.on_slice(np.atleast_2d((piece.lower + piece.upper) / 2))[0]
            if not inside:
                continue
            box = Rectangle(
                (piece.lower[i], piece.lower[j]),
                piece.upper[i] - piece.lower[i],
                piece.upper[j] - piece.lower[j],
                fill=False,
                edgecolor="red",
                linewidth=1.8,
            )
            ax.add_patch(box)


def _legend(n_classes: int, sampled: bool, changed: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list = [
        Patch(facecolor=AREAS[c % len(AREAS)], edgecolor="k", label=f"class {c}")
        for c in range(n_classes)
    ]
    handles.append(Patch(fill=False, edgecolor="red", linewidth=1.8, label="property region"))
    handles.append(
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            color="#525252",
            markersize=3,
            label="train points (label colour)",
        )
    )
    if sampled:
        handles.append(
            Line2D(
                [],
                [],
                marker="x",
                linestyle="",
                color="#525252",
                markersize=5,
                label="sampled points",
            )
        )
    if changed:
        handles.append(Patch(fill=False, hatch="////", label="class changed by the repair"))
    return handles
