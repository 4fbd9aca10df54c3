"""Building a solver-method run's pieces from its config: inputs, heuristic, repairer."""

from __future__ import annotations

import inspect
from typing import Any

from nnv.core.errors import InputError
from nnv.core.plugin.heuristic import Heuristic, SoftConstraints
from nnv.core.plugin.objective import Objective
from nnv.core.plugin.registry import Registry
from nnv.core.repair.loop import Repairer
from nnv.core.repair.settings import RepairSettings
from nnv.core.run.config import RunConfig
from nnv.core.run.inputs import Inputs, load_inputs
from nnv.core.verify.certifier import Certifier


def build_run(config: RunConfig, registry: Registry) -> tuple[Inputs, Heuristic, Repairer]:
    """The run's inputs, its heuristic and the repairer that runs its trials."""
    inputs = load_inputs(config, registry)
    heuristic = _heuristic(config, registry)
    soft = heuristic.constraints(inputs.network, inputs.data)
    return inputs, heuristic, _repairer(config, registry, inputs, soft)


def _heuristic(config: RunConfig, registry: Registry) -> Heuristic:
    """The heuristic with its options; ``seed`` reaches it when it takes one and none is set,
    ``decision`` always: a heuristic that takes none labels by argmax, so it cannot serve an
    argmin run."""
    factory = registry.get("heuristic", config.heuristic).factory
    options = dict(config.heuristic_options)
    if "seed" not in options and takes_option(factory, "seed"):
        options["seed"] = config.seed
    if "decision" in options:
        raise InputError("the heuristic labels by the run's decision rule: set it with --decision")
    if takes_option(factory, "decision"):
        options["decision"] = config.decision
    elif config.decision != "argmax":
        raise InputError(
            f"heuristic {config.heuristic!r} takes no decision option, so it labels by argmax "
            f"only, and this run decides by {config.decision}"
        )
    try:
        heuristic: Heuristic = factory(**options)
    except TypeError as error:
        raise InputError(f"heuristic {config.heuristic!r}: bad options ({error})") from None
    return heuristic


def takes_option(factory: Any, name: str) -> bool:
    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _repairer(
    config: RunConfig, registry: Registry, inputs: Inputs, soft: SoftConstraints
) -> Repairer:
    settings = RepairSettings(
        mode=config.mode,
        max_change=config.max_change,
        threshold=config.threshold,
        threshold_search=config.threshold_search,
        line_synthesis=config.line_synthesis,
        pair_time=config.pair_time,
        trial_timeout=config.trial_timeout,
        decision=config.decision,
    )
    return Repairer(
        inputs.network,
        inputs.properties,
        soft,
        inputs.data,
        solver=registry.solver(config.solver),
        verifier=registry.solver(config.verifier),
        certifier=Certifier(registry.solver("highs"), registry.solver("z3")),
        settings=settings,
        objectives=[_objective(registry, name) for name in config.objective],
    )


def _objective(registry: Registry, name: str) -> Objective:
    """The objective plugin ``name``, built without options."""
    objective: Objective = registry.get("objective", name).factory()
    return objective
