"""``nnv.train``: train a network that meets a property by construction (SMLE) or a baseline.

The trainer is the plugin ``nnv train --method NAME`` runs, built through the registry (its
options checked the same way) and given the same request; the certificate is the one it
checks on the exported file. Without ``out`` the trainer writes into a temporary folder
that is removed afterwards; the exported model is kept in memory (:meth:`TrainingResult.to_onnx`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnv.core.errors import InputError
from nnv.core.plugin.registry import default_registry
from nnv.core.plugin.trainer import (
    SAMPLES,
    EpochRecord,
    TrainEvent,
    TrainRequest,
    TrainResult,
)
from nnv.core.runtime.files import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MODEL_FILE = "model.onnx"  # what every trainer exports into its folder


@dataclass(frozen=True)
class TrainingResult:
    """A training run: ``result`` is result.json as a typed record, ``model`` the exported
    ONNX file's bytes, ``epochs`` what the progress hook heard."""

    result: TrainResult
    model: bytes
    epochs: list[EpochRecord] = field(default_factory=list)
    out: Path | None = None

    @property
    def certified(self) -> bool:
        """True only when the exported file was proved to meet the property."""
        return self.result.certified

    @property
    def certificate(self) -> str:
        return self.result.certificate

    @property
    def status(self) -> str:
        return "certified" if self.certified else "not_certified"

    @property
    def scores(self) -> Mapping[str, float]:
        """R^2 or label-wise accuracy per split (``result.metric`` says which)."""
        return self.result.scores

    def to_onnx(self, path: str | Path) -> Path:
        """Write the exported model, as certified, to ``path``."""
        write_atomic(Path(path), self.model)
        return Path(path)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The exported model's outputs (onnxruntime, the file the certificate is about)."""
        import onnxruntime

        session = onnxruntime.InferenceSession(self.model, providers=["CPUExecutionProvider"])
        feed = session.get_inputs()[0]
        dtype = np.float64 if "double" in feed.type else np.float32
        return np.asarray(session.run(None, {feed.name: np.asarray(X, dtype=dtype)})[0])

    def plot(self) -> Figure:
        """The training curves: losses and the largest violation found, per epoch."""
        from nnv.plots import curves_figure

        title = f"{self.result.method} on {self.result.property_name}: {self.status}"
        return curves_figure(self.epochs, title)

    def __repr__(self) -> str:
        return f"TrainingResult(method={self.result.method!r}, certified={self.certified})"


def train(
    data: str | Path | Mapping[str, tuple[Any, Any]],
    *,
    method: str = "smle",
    property_file: str | Path | None = None,
    property_name: str | None = None,
    quantile: float | None = None,
    series: str | None = None,
    level: bool | None = None,
    samples: int = SAMPLES,
    out: str | Path | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    **options: Any,
) -> TrainingResult:
    """Train with the trainer ``method`` (smle, preprocess, postprocess, or a plugin's).

    ``data`` is a file (.npz, .arff, .csv) or a mapping of split name to ``(X, Y)`` arrays
    (regression targets or 0/1 labels); ``options`` are the trainer's (``epochs=50``,
    ``box="unit"``, ``solver="highs"`` ...: see docs/smle.md), checked before training.
    """
    registry = default_registry()
    trainer = registry.create("trainer", method, options)
    epochs: list[EpochRecord] = []

    def heard(event: TrainEvent) -> None:
        if isinstance(event, EpochRecord):
            epochs.append(event)
            if on_epoch is not None:
                on_epoch(event)

    with tempfile.TemporaryDirectory(prefix="nnv-train-") as scratch:
        folder = Path(scratch) / "run" if out is None else Path(out)
        request = TrainRequest(
            data=_data_file(data, Path(scratch)),
            out=folder,
            property_file=None if property_file is None else Path(property_file),
            property_name=property_name,
            quantile=quantile,
            series=series,
            level=level,
            samples=samples,
        )
        result = trainer.train(request, registry, heard)
        model = (folder / MODEL_FILE).read_bytes()
    return TrainingResult(result, model, epochs, None if out is None else Path(out))


def _data_file(data: str | Path | Mapping[str, tuple[Any, Any]], scratch: Path) -> Path:
    """A file of ``data``: the user's own, or the arrays saved as ``x_<split>``/``y_<split>``."""
    if isinstance(data, str | Path):
        return Path(data)
    if not isinstance(data, Mapping):
        kind = type(data).__name__
        raise InputError(f"data is a file or a mapping of split to (X, Y), not {kind}")
    arrays: dict[str, np.ndarray] = {}
    for split, pair in data.items():
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InputError(f"data split {split!r} must be a pair (X, Y)")
        arrays[f"x_{split}"] = np.asarray(pair[0], dtype=np.float64)
        arrays[f"y_{split}"] = np.asarray(pair[1], dtype=np.float64)
    path = scratch / "data.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path
