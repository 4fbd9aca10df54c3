"""SMLE training (Safe Machine Learning via Embedded Overapproximation, AAAI 2025) and its
baselines, as ``nnv`` trainer plugins: ``smle``, ``preprocess`` and ``postprocess``.

Each is a :class:`~nnv.core.plugin.trainer.Trainer` made with its options (the dataclasses
of :mod:`.options`); :meth:`~nnv.core.plugin.trainer.Trainer.train` hands them to the
estimator that does the work (:class:`.trainer.SmleTrainer`, :mod:`.baselines`: ``fit``,
``predict``, ``export``, ``certificate``) and writes the folder (:mod:`.workflow`). See
docs/smle.md.

PyTorch is optional for nnv, so the estimators are imported only when a trainer trains:
listing plugins never pays for it, and without it only training fails, with one clear line.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import ClassVar

from nnv.core import InputError, hookimpl
from nnv.core.plugin.trainer import (
    Progress,
    SolverLookup,
    Trainer,
    TrainingStopped,
    TrainRequest,
    TrainResult,
)

from .grounding import SolveTimeout
from .options import BaselineOptions, SmleOptions


class _Estimated(Trainer):
    """A trainer whose work is done by ``estimator`` (``module:class``, imported on use)."""

    estimator: ClassVar[str]

    def train(
        self, request: TrainRequest, solvers: SolverLookup, progress: Progress | None = None
    ) -> TrainResult:
        module, _, name = self.estimator.partition(":")
        workflow = _heavy(".workflow")
        estimator = getattr(_heavy(module), name)(self.options, solvers)
        try:
            return workflow.train_to_folder(estimator, request, progress)
        except SolveTimeout as error:  # SMLE reports its own; the baselines stop
            raise TrainingStopped(f"{self.name} stopped: {error}") from None


def _heavy(module: str) -> ModuleType:
    try:
        return importlib.import_module(module, __name__)
    except ImportError as error:
        raise InputError(f"{error.name} is not installed: pip install 'nnv[smle]'") from None


class SmlePlugin(_Estimated):
    name = "smle"
    description = "SMLE: a network that meets a property by construction"
    Options = SmleOptions
    estimator = ".trainer:SmleTrainer"


class PreprocessPlugin(_Estimated):
    name = "preprocess"
    description = "baseline: train on targets moved onto the property"
    Options = BaselineOptions
    estimator = ".baselines:PreprocessTrainer"


class PostprocessPlugin(_Estimated):
    name = "postprocess"
    description = "baseline: move each prediction onto the property"
    Options = BaselineOptions
    estimator = ".baselines:PostprocessTrainer"


@hookimpl
def nnv_trainers() -> dict[str, type[Trainer]]:
    return {plugin.name: plugin for plugin in (SmlePlugin, PreprocessPlugin, PostprocessPlugin)}
