"""nnv's core: models, the constraint form, the plugin interfaces, hook specs and engines.

Imports no solver library; plugins meet the engines only through the interfaces here. This
module is the public API a plugin author or a library user imports from; the packages below
hold the pieces:

- :mod:`nnv.core.model`: Network, Property, Dataset;
- :mod:`nnv.core.query`: the solver-neutral constraint form and its reductions;
- :mod:`nnv.core.plugin`: hook specs, the registry and every plugin interface;
- :mod:`nnv.core.bounds`: bound propagation;
- :mod:`nnv.core.verify`: verification and certification;
- :mod:`nnv.core.repair`: the repair engine (one trial: free parameters, synthesis, the loop);
- :mod:`nnv.core.run`: a whole repair run (settings, trials and resume, results);
- :mod:`nnv.core.runtime`: process isolation, atomic files, BLAS threads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it; imported on first use (module __getattr__), so that
# `import nnv.core.errors` or `nnv --help` does not pay for numpy, scipy and pluggy
_EXPORTS = {
    "CapabilityError": "errors",
    "InputError": "errors",
    "NnvError": "errors",
    "PluginError": "errors",
    "UnsupportedError": "errors",
    "Dataset": "model.dataset",
    "Layer": "model.network",
    "Network": "model.network",
    "ParameterAddress": "model.network",
    "InputPiece": "model.property",
    "OutputConjunction": "model.property",
    "Property": "model.property",
    "Executor": "plugin.executor",
    "TrialJob": "plugin.executor",
    "TrialTask": "plugin.executor",
    "NetworkLoader": "plugin.formats",
    "NetworkSaver": "plugin.formats",
    "PropertyLoader": "plugin.formats",
    "Heuristic": "plugin.heuristic",
    "SoftConstraints": "plugin.heuristic",
    "hookimpl": "plugin.hookspecs",
    "hookspec": "plugin.hookspecs",
    "RepairMethod": "plugin.method",
    "SearchStrategy": "plugin.search",
    "Solution": "plugin.solver",
    "Solver": "plugin.solver",
    "Trainer": "plugin.trainer",
    "TrainRequest": "plugin.trainer",
    "TrainResult": "plugin.trainer",
    "QueryBuilder": "query.builder",
    "Capability": "query.capabilities",
    "Query": "query.form",
    "TrialResult": "repair.trial",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from nnv.core.errors import CapabilityError, InputError, NnvError, PluginError, UnsupportedError
    from nnv.core.model.dataset import Dataset
    from nnv.core.model.network import Layer, Network, ParameterAddress
    from nnv.core.model.property import InputPiece, OutputConjunction, Property
    from nnv.core.plugin.executor import Executor, TrialJob, TrialTask
    from nnv.core.plugin.formats import NetworkLoader, NetworkSaver, PropertyLoader
    from nnv.core.plugin.heuristic import Heuristic, SoftConstraints
    from nnv.core.plugin.hookspecs import hookimpl, hookspec
    from nnv.core.plugin.method import RepairMethod
    from nnv.core.plugin.search import SearchStrategy
    from nnv.core.plugin.solver import Solution, Solver
    from nnv.core.plugin.trainer import Trainer, TrainRequest, TrainResult
    from nnv.core.query.builder import QueryBuilder
    from nnv.core.query.capabilities import Capability
    from nnv.core.query.form import Query
    from nnv.core.repair.trial import TrialResult

__all__ = [
    "Capability",
    "CapabilityError",
    "Dataset",
    "Executor",
    "Heuristic",
    "InputError",
    "InputPiece",
    "Layer",
    "Network",
    "NetworkLoader",
    "NetworkSaver",
    "NnvError",
    "OutputConjunction",
    "ParameterAddress",
    "PluginError",
    "Property",
    "PropertyLoader",
    "Query",
    "QueryBuilder",
    "RepairMethod",
    "SearchStrategy",
    "SoftConstraints",
    "Solution",
    "Solver",
    "TrialJob",
    "TrialResult",
    "TrainRequest",
    "TrainResult",
    "Trainer",
    "TrialTask",
    "UnsupportedError",
    "hookimpl",
    "hookspec",
]
