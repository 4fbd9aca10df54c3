"""SMLE training (Safe Machine Learning via Embedded Overapproximation, AAAI 2025) and its
baselines, as ``nnv`` trainer plugins: ``smle``, ``preprocess`` and ``postprocess``.

A trainer is made with its options (``factory(**options)``) and offers ``fit``/``predict``,
``export`` (ONNX) and ``run(data=..., out=..., property_file=..., property_name=...,
quantile=..., samples=..., progress=...)``, which ``nnv train`` calls. See docs/smle.md.

PyTorch is optional for nnv, so the factories import it only when a trainer is made: listing
plugins never pays for it, and without it only training fails, with one clear line.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from nnv.core import InputError, hookimpl


class _Factory:
    """Makes the trainer ``module.attribute`` on call, importing it then; its signature (what
    the registry checks options against) is the trainer's, read when first asked for."""

    def __init__(self, module: str, attribute: str, description: str) -> None:
        self.module, self.attribute, self.description = module, attribute, description

    def _trainer(self) -> Any:
        try:
            return getattr(importlib.import_module(self.module, __name__), self.attribute)
        except ImportError as error:
            raise InputError(f"{error.name} is not installed: pip install 'nnv[smle]'") from None

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._trainer())

    def __call__(self, **options: Any) -> Any:
        return self._trainer()(**options)


@hookimpl
def nnv_trainers() -> dict[str, _Factory]:
    return {
        "smle": _Factory(
            ".trainer", "SmleTrainer", "SMLE: a network that meets a property by construction"
        ),
        "preprocess": _Factory(
            ".baselines", "PreprocessTrainer", "baseline: train on targets moved onto the property"
        ),
        "postprocess": _Factory(
            ".baselines", "PostprocessTrainer", "baseline: move each prediction onto the property"
        ),
    }
