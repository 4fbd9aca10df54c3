"""nnv from Python: load, verify, repair and train with objects, not only paths.

    import nnv
    net = nnv.load_network("model.onnx")
    prop = nnv.load_property("robust.vnnlib")
    print(nnv.verify(net, prop).status)
    fixed = nnv.repair(net, [prop], {"train": (X, y)}, free=["w2.1.8"])
    fixed.plot()

Everything here is a thin layer over the engines the ``nnv`` command runs (:mod:`nnv.core`,
the plugins through the registry): the same checks, the same certificates, the same result
types. Nothing is written unless ``out=`` names a folder. The names are imported on first
use, so ``import nnv`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module that defines it
_WHERE = {
    "load_network": "nnv.inputs",
    "load_property": "nnv.inputs",
    "verify": "nnv.verification",
    "repair": "nnv.repairing",
    "RepairResult": "nnv.repairing",
    "train": "nnv.training",
    "TrainingResult": "nnv.training",
    "Network": "nnv.core.model.network",
    "Property": "nnv.core.model.property",
    "Dataset": "nnv.core.model.dataset",
    "VerificationResult": "nnv.core.verify.verifier",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'nnv' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
