"""From files to a results folder: load, train, export, certify, measure, write.

The folder gets ``model.onnx`` (the whole model), ``result.json``, ``property.json`` (the
property trained for, e.g. the generated mutual-exclusion pairs) and ``curves.png``; every
file is written atomically, and only once everything is computed (bad input, or a solver
that runs out of time where no result can be had, leaves the folder as it was). This is what
``nnv train`` runs, through the trainer plugins (:mod:`nnv.plugins.smle`).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import onnx

from nnv.core import InputError, NnvError
from nnv.core.plugin.trainer import (
    EpochRecord,
    PhaseStarted,
    Progress,
    TrainRequest,
    TrainResult,
)
from nnv.core.runtime.files import write_atomic, write_text_atomic

from .certify import FileCertificate
from .curves import plot_curves
from .data import Task, load_task
from .forecasting import DEFAULT_QUANTILE, smoothness
from .options import BaselineOptions
from .spec import LinearInequalities, MutualExclusion, Spec, load_spec

MODEL_FILE = "model.onnx"
RESULT_FILE = "result.json"
PROPERTY_FILE = "property.json"
CURVES_FILE = "curves.png"
FILES = (MODEL_FILE, RESULT_FILE, PROPERTY_FILE, CURVES_FILE)


class Estimator(Protocol):
    """What the folder needs from SMLE and the baselines (:mod:`.trainer`,
    :mod:`.baselines`); ``proves`` says whether its certificate can ever be true."""

    name: str
    proves: bool
    options: BaselineOptions
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

    def export(self, precision: str | None = None) -> onnx.ModelProto: ...

    def certificate(
        self, model: onnx.ModelProto, spec: Spec, samples: int, box: tuple[np.ndarray, ...]
    ) -> FileCertificate: ...

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
    estimator: Estimator, request: TrainRequest, progress: Progress | None = None
) -> TrainResult:
    """Train on the request's data for its property and write the results folder."""
    task = load_task(request.data, request.series)
    spec = resolve_spec(task, request.property_file, request.property_name, request.quantile)
    column = resolve_level(task, request.level)
    start = time.perf_counter()
    X, Y = task.splits["train"]
    estimator.fit(X, Y, spec, progress, level=column)
    trained = time.perf_counter() - start
    exported = export_certified(estimator, spec, request.samples, _sample_box(X), progress)
    checked = exported.checked
    metric, scores, violations = _scores(estimator, task, spec)
    result = TrainResult(
        method=estimator.name,
        data=str(request.data),
        series=request.series,
        level=column,
        property_name=spec.name,
        property_kind=spec.kind,
        certified=checked.certified,
        certificate=checked.text,
        proof=checked.proof,
        samples=checked.samples,
        metric=metric,
        scores=scores,
        split_violation_rate=violations,
        projections=estimator.projections_,
        epochs=len(estimator.history_),
        train_seconds=trained,
        total_seconds=time.perf_counter() - start,
        settings=estimator.settings(),
        machine=platform.machine(),
        precision=exported.precision,
        notice=exported.notice,
        files=FILES,
    )
    _write(request, estimator, spec, exported.model, result)
    return result


@dataclass(frozen=True)
class ExportedFile:
    """``model.onnx``'s bytes, in ``precision``, and the certificate of those bytes."""

    model: bytes
    precision: str
    checked: FileCertificate
    notice: str = ""


def export_certified(
    estimator: Estimator,
    spec: Spec,
    samples: int,
    box: tuple[np.ndarray, np.ndarray],
    progress: Progress | None = None,
) -> ExportedFile:
    """The model in the options' precision, certified as read back from its bytes.

    A float32 file that is not certified while the float64 one is (float32 rounding broke
    the certificate) gives way to the float64 one, and ``notice`` says so: a certified
    model is what the user trained for, and the line tells them why its type is not theirs.
    """
    tell = progress or (lambda event: None)
    asked = estimator.options.precision
    tell(PhaseStarted("certifying", f"the {asked} file: proof, {samples} sampled inputs"))
    first = _certify_file(estimator, asked, spec, samples, box)
    if first.checked.certified or asked == "float64" or not estimator.proves:
        return first
    tell(PhaseStarted("certifying", "the float64 file (the float32 one is not certified)"))
    wide = _certify_file(estimator, "float64", spec, samples, box)
    if not wide.checked.certified:
        return first
    reason = first.checked.text.split(";")[0].removeprefix("no proof: ")
    notice = f"{MODEL_FILE} is float64, not float32: {reason}; the float64 file is certified"
    return replace(wide, notice=notice)


def _certify_file(
    estimator: Estimator,
    precision: str,
    spec: Spec,
    samples: int,
    box: tuple[np.ndarray, np.ndarray],
) -> ExportedFile:
    model = estimator.export(precision).SerializeToString()
    checked = estimator.certificate(onnx.load_from_string(model), spec, samples, box)
    return ExportedFile(model, precision, checked)


def _write(
    request: TrainRequest,
    estimator: Estimator,
    spec: Spec,
    model_bytes: bytes,
    result: TrainResult,
) -> None:
    out = Path(request.out)
    write_atomic(out / MODEL_FILE, model_bytes)
    if (out / MODEL_FILE).read_bytes() != model_bytes:  # the certificate is about these bytes
        raise NnvError(f"{out / MODEL_FILE} does not read back as the file nnv certified")
    write_text_atomic(out / PROPERTY_FILE, json.dumps(spec.to_json(), indent=1) + "\n")
    title = f"{estimator.name}: {request.series or Path(request.data).stem} {spec.name}"
    plot_curves(estimator.history_, title, out / CURVES_FILE)
    write_text_atomic(out / RESULT_FILE, json.dumps(result.to_json(), indent=2) + "\n")


def _scores(
    estimator: Estimator, task: Task, spec: Spec
) -> tuple[Literal["r2", "accuracy"], dict[str, float], dict[str, float]]:
    """R^2 (regression) or label-wise accuracy (multi-label), and violations, per split."""
    scores: dict[str, float] = {}
    violations: dict[str, float] = {}
    for split, (X, Y) in task.splits.items():
        outputs = estimator.predict(X)
        if isinstance(spec, LinearInequalities):
            scores[split] = r2_score(Y, outputs)
            inside = np.ones(X.shape[0], bool) if spec.region is None else spec.region.contains(X)
            broken = spec.violated(outputs[inside])
            violations[split] = float(broken.mean()) if broken.size else 0.0
        else:
            scores[split] = float(np.mean((outputs > 0) == (Y > 0.5)))
            violations[split] = float(np.mean(spec.predicted_pairs(outputs) > 0))
    metric: Literal["r2", "accuracy"] = "r2" if isinstance(spec, LinearInequalities) else "accuracy"
    return metric, scores, violations


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
