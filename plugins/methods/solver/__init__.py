"""The ``solver`` method (the default): the paper's repair, as core's search engine runs it.

Free a few parameters, synthesise their values with a solver so that every property holds
while the most soft constraints are kept, certify, and search over which parameters to free
(:func:`~nnv.plugins.methods.solver.method.search_repair`). Its options are
:class:`~nnv.plugins.methods.solver.options.SolverOptions` (``--free``, ``--search``,
``--solver``, ...).
"""

from __future__ import annotations

from collections.abc import Callable

from nnv.core import hookimpl
from nnv.core.plugin.method import RepairMethod
from nnv.core.plugin.registry import Registry
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import RunConfig
from nnv.core.run.results import RunOutcome
from nnv.plugins.methods.solver.method import search_repair
from nnv.plugins.methods.solver.options import SolverOptions


class SolverMethod(RepairMethod):
    """Free a few parameters and synthesise their values with a solver (the paper's method)."""

    name = "solver"
    description = "free a few parameters, synthesise their values with a solver (the paper's)"
    Options = SolverOptions
    options: SolverOptions

    def repair(
        self,
        config: RunConfig,
        registry: Registry,
        on_step: Callable[[TrialResult], None] | None = None,
        on_planned: Callable[[int | None], None] | None = None,
    ) -> RunOutcome:
        return search_repair(config, self.options, registry, on_step, on_planned)


@hookimpl
def nnv_repair_methods() -> dict[str, type]:
    return {"solver": SolverMethod}
