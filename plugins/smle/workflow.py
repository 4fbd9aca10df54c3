"""From files to a results folder: load, train, export, certify, measure, write.

The folder gets ``model.onnx`` (the whole model), ``result.json``, ``property.json`` (the
property trained for, e.g. the generated mutual-exclusion pairs) and ``curves.png``; every
file is written atomically. This is what ``nnv train`` runs, through the trainer plugins'
``run`` method.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnx

from nnv.core import InputError
from nnv.core.runtime.files import write_atomic, write_text_atomic

from .curves import plot_curves
from .data import Task, load_task
from .fitting import EpochRecord, Progress
from .forecasting import DEFAULT_QUANTILE, smoothness
from .spec import LinearInequalities, MutualExclusion, Spec, load_spec

MODEL_FILE = "model.onnx"
RESULT_FILE = "result.json"
PROPERTY_FILE = "property.json"
CURVES_FILE = "curves.png"
SAMPLES = 100_000


class Trainer(Protocol):
    name: str
    seed: int
    history_: list[EpochRecord]
    projections_: int

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        spec: Spec,
        progress: Progress | None = None,
        level: int | None = None,
    ) -> Any: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def export(self) -> onnx.ModelProto: ...

    def certificate(
        self, model: onnx.ModelProto, spec: Spec, samples: int, box: tuple[np.ndarray, ...]
    ) -> dict[str, Any]: ...

    def settings(self) -> dict[str, Any]: ...


def resolve_spec(
    task: Task, property_file: Path | None, name: str | None, quantile: float | None
) -> Spec:
    """The property to train for: from a file, or generated (``quantile``) from the labels
    (multi-label data) or from the series' one-step differences (forecasting)."""
    if property_file is not None and quantile is not None:
        raise InputError("give a property file or --quantile, not both")
    if property_file is not None:
        spec = load_spec(property_file, name)
    elif task.kind == "multilabel":
        q = 0.0 if quantile is None else quantile
        spec = MutualExclusion.from_labels(task.splits["train"][1], q)
        if not spec.pairs.shape[0]:
            raise InputError(f"quantile {q:g} forbids no label pair")
    elif task.steps is not None:
        spec = smoothness(task.steps, DEFAULT_QUANTILE if quantile is None else quantile)
    elif quantile is not None:
        raise InputError("--quantile applies to multi-label and forecasting data only")
    else:
        raise InputError("regression data needs a property file (--property)")
    if name is not None and property_file is None:
        raise InputError("--property-name needs --property")
    if isinstance(spec, MutualExclusion) != (task.kind == "multilabel"):
        kind = "mutual exclusion" if isinstance(spec, MutualExclusion) else "linear inequalities"
        raise InputError(f"{spec.name} ({kind}) does not fit {task.kind} data")
    if spec.n_outputs != task.n_outputs:
        raise InputError(
            f"{spec.name} is over {spec.n_outputs} outputs, the data has {task.n_outputs}"
        )
    if spec.region is not None and spec.region.dimension != task.n_inputs:
        raise InputError(
            f"{spec.name}'s region is over {spec.region.dimension} inputs, the data has "
            f"{task.n_inputs}"
        )
    return spec


def resolve_level(task: Task, level: bool | None) -> int | None:
    """The input column the models predict relative to: the task's (forecasting: the last
    input) unless ``level`` is False; asking for one on data that has none is bad input."""
    if level and task.level is None:
        raise InputError("--level applies to forecasting data only")
    return None if level is False else task.level


def train_to_folder(
    trainer: Trainer,
    data: Path,
    out: Path,
    property_file: Path | None = None,
    property_name: str | None = None,
    quantile: float | None = None,
    samples: int = SAMPLES,
    progress: Progress | None = None,
    series: str | None = None,
    level: bool | None = None,
) -> dict[str, Any]:
    """Train on ``data`` (``series``: which series of a forecasting file) for the property and
    write the results folder ``out``. ``level``: predict relative to the task's level input
    (forecasting: the last input; None: when the task has one), or not (False)."""
    task = load_task(data, series)
    spec = resolve_spec(task, property_file, property_name, quantile)
    column = resolve_level(task, level)
    out = Path(out)
    start = time.perf_counter()
    X, Y = task.splits["train"]
    trainer.fit(X, Y, spec, progress, level=column)
    trained = time.perf_counter() - start
    model = trainer.export()
    model_bytes = model.SerializeToString()
    write_atomic(out / MODEL_FILE, model_bytes)
    checked = trainer.certificate(onnx.load_from_string(model_bytes), spec, samples, _sample_box(X))
    result = {
        "method": trainer.name,
        "data": str(data),
        **({} if series is None else {"series": series}),
        **({} if column is None else {"level": column}),
        "property": spec.name,
        "property_kind": spec.kind,
        "certified": checked["certified"],
        "certificate": checked["certificate"],
        "proof": checked["proof"],
        "samples": checked["samples"],
        "violation_rate": checked["samples"]["violation_rate"],
        **_scores(trainer, task, spec),
        "projections": trainer.projections_,
        "epochs": len(trainer.history_),
        "seconds": {"train": trained, "total": time.perf_counter() - start},
        "settings": trainer.settings(),
        "machine": platform.machine(),
    }
    write_text_atomic(out / PROPERTY_FILE, json.dumps(spec.to_json(), indent=1) + "\n")
    plot_curves(
        trainer.history_,
        f"{trainer.name}: {series or Path(data).stem} {spec.name}",
        out / CURVES_FILE,
    )
    write_text_atomic(out / RESULT_FILE, json.dumps(result, indent=2) + "\n")
    return result


def _scores(trainer: Trainer, task: Task, spec: Spec) -> dict[str, Any]:
    """R^2 (regression) or label-wise accuracy (multi-label) and violations, per split."""
    scores: dict[str, float] = {}
    violations: dict[str, float] = {}
    for split, (X, Y) in task.splits.items():
        outputs = trainer.predict(X)
        if isinstance(spec, LinearInequalities):
            scores[split] = r2_score(Y, outputs)
            inside = np.ones(X.shape[0], bool) if spec.region is None else spec.region.contains(X)
            broken = spec.violated(outputs[inside])
            violations[split] = float(broken.mean()) if broken.size else 0.0
        else:
            scores[split] = float(np.mean((outputs > 0) == (Y > 0.5)))
            violations[split] = float(np.mean(spec.predicted_pairs(outputs) > 0))
    metric = "r2" if isinstance(spec, LinearInequalities) else "accuracy"
    return {metric: scores, "split_violation_rate": violations}


def r2_score(Y: np.ndarray, P: np.ndarray) -> float:
    """The coefficient of determination, averaged uniformly over the outputs."""
    residual = np.sum((Y - P) ** 2, axis=0)
    total = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    return float(np.mean(1.0 - residual / np.where(total > 0, total, 1.0)))


def _sample_box(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where inputs are drawn for a property over every input: the training data's bounding
    box, widened by half its span on each side."""
    low, high = X.min(axis=0), X.max(axis=0)
    span = np.maximum(high - low, 1e-9)
    return low - 0.5 * span, high + 0.5 * span
