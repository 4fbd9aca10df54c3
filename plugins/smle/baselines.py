"""The SMLE paper's baselines: project the targets (preprocess) or the predictions
(postprocess) onto the property with the MAP/projection operator, and a plain network.

- linear inequalities: the Euclidean projection onto ``{y : A y <= b}`` of the rows whose
  input lies in the region;
- mutual exclusion: the most likely labelling with no forbidden pair (for targets: the
  consistent labelling nearest in Hamming distance).

Preprocess guarantees nothing about the trained network; postprocess guarantees the
property at inference, at the price of a solve per prediction (which the exported ONNX file,
the network alone, does not contain). The oracle (the true targets projected) is
:func:`project_targets` applied to test data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from nnv.core import InputError, Solver
from nnv.core.plugin.registry import default_registry
from nnv.core.plugin.trainer import Progress, SolverLookup

from .certify import FileCertificate, sample_check
from .exclusion import map_labels
from .export import export_plain
from .fitting import fit_network
from .linear import project_points
from .model import (
    DTYPE,
    check_level,
    delevel,
    level_column,
    relu_layers,
    standardisation,
    training_loss,
)
from .options import BaselineOptions
from .spec import LinearInequalities, MutualExclusion, Spec
from .trainer import default_widths


class PlainNet(nn.Module):
    """Standardised inputs, ReLU hidden layers, a linear output layer; with a ``level`` (an
    input column) the same de-levelling as :class:`.model.SmleNet`: the layers see
    ``x - x[level]`` and ``x[level]`` is added to every output."""

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        widths: Sequence[int],
        shift: Any,
        scale: Any,
        level: int | None = None,
    ) -> None:
        super().__init__()
        self.level = level_column(level, n_inputs)
        last = widths[-1] if widths else n_inputs
        self.layers = nn.Sequential(
            *relu_layers(n_inputs, widths), nn.Linear(last, n_outputs, dtype=DTYPE)
        )
        self.register_buffer("shift", torch.as_tensor(np.asarray(shift, dtype=np.float64)))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float64)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.layers((delevel(x, self.level) - self.shift) * self.scale)
        return output if self.level is None else output + x[:, self.level : self.level + 1]


def project_targets(spec: Spec, X: np.ndarray, Y: np.ndarray, solver: Solver) -> np.ndarray:
    """Targets (0/1 labels for mutual exclusion) moved onto the property where it applies."""
    if isinstance(spec, MutualExclusion):
        return map_labels(spec, 2.0 * Y - 1.0, solver)
    return _project_in_region(spec, X, Y, solver)


def _project_in_region(
    spec: LinearInequalities, X: np.ndarray, Y: np.ndarray, solver: Solver
) -> np.ndarray:
    inside = np.ones(X.shape[0], dtype=bool) if spec.region is None else spec.region.contains(X)
    projected = np.array(Y, dtype=np.float64)
    projected[inside] = project_points(spec, projected[inside], solver)
    return projected


class _Baseline:
    """A plain network trained on (possibly projected) targets; ``solvers`` builds the
    projection's solver (the registry, by default)."""

    name: str
    guarantee: str
    proves = False  # no proof: the samples only measure

    on_targets = False  # project the training targets (preprocess)
    on_outputs = False  # project the predictions (postprocess)

    def __init__(
        self, options: BaselineOptions | None = None, solvers: SolverLookup | None = None
    ) -> None:
        self.options = options or BaselineOptions()
        self.solvers = solvers or default_registry()

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        spec: Spec,
        progress: Progress | None = None,
        level: int | None = None,
    ) -> _Baseline:
        """Train on ``(X, Y)``; ``level`` as for SMLE (so that the comparison is fair)."""
        options = self.options
        check_level(spec, level, X.shape[1])
        torch.manual_seed(options.seed)
        self.solver_ = self.solvers.solver(options.solver, **options.solver_options)
        if isinstance(spec, LinearInequalities) and "quadratic" not in self.solver_.capabilities:
            raise InputError(f"solver {options.solver!r} takes no quadratic objective")
        self.spec_ = spec
        targets = project_targets(spec, X, Y, self.solver_) if self.on_targets else Y
        self.model_ = PlainNet(
            X.shape[1],
            Y.shape[1],
            options.widths or default_widths(X.shape[1], Y.shape[1], spec),
            *standardisation(X, level),
            level,
        )
        rng = np.random.default_rng(options.seed)
        self.history_ = fit_network(
            self.model_, X, targets, training_loss(spec), options.loop, rng, None, progress
        )
        self.projections_ = 0
        return self

    def network_outputs(self, X: np.ndarray) -> np.ndarray:
        self.model_.eval()
        with torch.no_grad():
            return self.model_(torch.as_tensor(np.asarray(X, dtype=np.float64))).numpy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Outputs; for mutual exclusion, scores whose sign gives the labels."""
        outputs = self.network_outputs(X)
        if not self.on_outputs:
            return outputs
        if isinstance(self.spec_, MutualExclusion):
            return 2.0 * map_labels(self.spec_, outputs, self.solver_) - 1.0
        return _project_in_region(self.spec_, X, outputs, self.solver_)

    def export(self, precision: str | None = None) -> onnx.ModelProto:
        """The network alone (postprocess's projection is not part of the file), in
        ``precision`` (None: the options')."""
        model, precision = self.model_, precision or self.options.precision
        return export_plain(model.layers, model.shift, model.scale, model.level, precision)

    def certificate(
        self, model: onnx.ModelProto, spec: Spec, samples: int, box: tuple[np.ndarray, ...]
    ) -> FileCertificate:
        """No proof; the samples measure how often the exported network violates."""
        low, high = box
        checked = sample_check(model, spec, samples, (low, high), self.options.seed)
        return FileCertificate(False, self.guarantee, None, checked)

    def settings(self) -> dict[str, Any]:
        widths = [m.out_features for m in self.model_.layers if isinstance(m, nn.Linear)]
        return {
            "widths": widths[:-1],
            "solver": self.options.solver,
            "solver_options": dict(self.options.solver_options),
            "seed": self.options.seed,
            "precision": self.options.precision,
            **asdict(self.options.loop),
        }


class PreprocessTrainer(_Baseline):
    """Train on targets projected onto the property; no guarantee for the network."""

    name = "preprocess"
    guarantee = "none: preprocess trains on projected targets; samples run the network"

    on_targets = True


class PostprocessTrainer(_Baseline):
    """Train on the raw targets; project every prediction onto the property."""

    name = "postprocess"
    guarantee = (
        "none in the file: postprocess projects each prediction at inference (a solve per "
        "prediction), which model.onnx (the network alone) does not do; samples run the network"
    )

    on_outputs = True
