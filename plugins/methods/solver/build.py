"""Building a solver-method run's pieces from its config: inputs, heuristic, repairer."""

from __future__ import annotations

from nnv.core.errors import InputError
from nnv.core.plugin.executor import default_workers
from nnv.core.plugin.heuristic import Heuristic, SoftConstraints
from nnv.core.plugin.objective import Objective
from nnv.core.plugin.options import accepts
from nnv.core.plugin.registry import Registry
from nnv.core.repair.loop import Repairer
from nnv.core.repair.settings import RepairSettings
from nnv.core.run.config import RunConfig
from nnv.core.run.inputs import Inputs, load_inputs
from nnv.core.verify.certifier import Certifier
from nnv.plugins.methods.solver.options import SolverOptions


def build_run(
    config: RunConfig, options: SolverOptions, registry: Registry
) -> tuple[Inputs, Heuristic, Repairer]:
    """The run's inputs, its heuristic and the repairer that runs its trials."""
    inputs = load_inputs(config, registry)
    heuristic = _heuristic(config, options, registry)
    soft = heuristic.constraints(inputs.network, inputs.data)
    return inputs, heuristic, _repairer(config, options, registry, inputs, soft)


def _heuristic(config: RunConfig, options: SolverOptions, registry: Registry) -> Heuristic:
    """The heuristic with its options; ``seed`` reaches it when it takes one and none is set,
    the run's ``decision`` always: a heuristic that takes none labels by argmax, so it cannot
    serve an argmin run."""
    chosen = dict(options.heuristic_options)
    factory = registry.get("heuristic", options.heuristic).factory
    if "seed" not in chosen and accepts(factory, "seed"):
        chosen["seed"] = config.seed
    if "decision" in chosen:
        raise InputError("the heuristic labels by the run's decision rule: set it with --decision")
    if accepts(factory, "decision"):
        chosen["decision"] = config.decision
    elif config.decision != "argmax":
        raise InputError(
            f"heuristic {options.heuristic!r} takes no decision option, so it labels by argmax "
            f"only, and this run decides by {config.decision}"
        )
    heuristic: Heuristic = registry.create("heuristic", options.heuristic, chosen)
    return heuristic


def _repairer(
    config: RunConfig,
    options: SolverOptions,
    registry: Registry,
    inputs: Inputs,
    soft: SoftConstraints,
) -> Repairer:
    workers = _region_workers(config, options)
    settings = RepairSettings(
        mode=options.mode,
        max_change=options.max_change,
        margins=options.margins,
        threshold=options.threshold,
        threshold_search=options.threshold_search,
        line_synthesis=options.line_synthesis,
        pair_time=options.pair_time,
        trial_timeout=options.trial_timeout,
        decision=config.decision,
    )
    return Repairer(
        inputs.network,
        inputs.properties,
        soft,
        inputs.data,
        solver=registry.create("solver", options.solver, options.solver_options),
        verifier=registry.create(
            "solver", config.verifier_name(registry.names("solver")), config.verifier_options
        ),
        certifier=Certifier.from_registry(registry, events=registry.hook, workers=workers),
        settings=settings,
        events=registry.hook,
        objectives=[_objective(registry, name) for name in options.objective],
        workers=workers,
    )


def _region_workers(config: RunConfig, options: SolverOptions) -> int:
    """Processes that prove a trial's regions side by side: the run's workers when it names a
    single free set on several regions (its only trial has the cores to itself), else one."""
    sets = options.given_sets()
    single = sets is not None and len({frozenset(s) for s in sets}) == 1
    if not single or len(config.properties) < 2 and config.partition is None:
        return 1
    return options.workers or default_workers()


def _objective(registry: Registry, name: str) -> Objective:
    """The objective plugin ``name`` (an unknown name is an ``InputError``)."""
    objective: Objective = registry.create("objective", name, {})
    return objective
