"""Independent certification of a repaired network before it is reported.

Exact first: where the network is small enough, every property is verified again by an exact
solver (one with the ``exact`` capability, such as z3 or cvc5: rational arithmetic, no
float-derived bounds), so the certificate is a proof. Otherwise, or if the exact check runs out
of time, a MILP verifies each property with its unsafe set widened by a positive margin, at
tight tolerances. :meth:`Certifier.from_registry` picks both solvers by capability from what is
installed, so no plugin is named here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from nnv.core.errors import InputError, PluginError
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.registry import Registry
from nnv.core.plugin.solver import Solver
from nnv.core.query.capabilities import Capability
from nnv.core.runtime.parallel import map_forked
from nnv.core.verify.verifier import CounterexampleEvents, Verifier

# the solvers certificates have always come from, first among those that qualify, so that
# results stay what they were wherever these are installed
PREFERRED_EXACT = "z3"
PREFERRED_MILP = "highs"


@dataclass(frozen=True)
class Certificate:
    ok: bool
    by: str  # e.g. "z3 (exact)" or "highs (MILP, margin 1e-06)"
    message: str = ""


class Certifier:
    """Certifies networks with an exact solver where the size allows, else a MILP with margin."""

    def __init__(
        self,
        milp: Solver,
        exact: Solver | None = None,
        exact_limit: int = 64,
        margin: float = 1e-6,
        timeout: float = 120.0,
        events: CounterexampleEvents | None = None,
        workers: int = 1,
    ) -> None:
        self.milp = milp
        self.exact = exact
        self.exact_limit = exact_limit  # hidden neurons up to which the exact check is tried
        self.margin = margin
        self.timeout = timeout
        self.events = events  # hears of each counterexample that refuses a certificate
        self.workers = workers  # processes checking properties at once (map_forked)

    @classmethod
    def from_registry(
        cls, registry: Registry, events: CounterexampleEvents | None = None, workers: int = 1
    ) -> Certifier:
        """A certifier with the installed solvers: an ``exact`` one for the exact check (z3
        when installed; none at all is allowed), and a float MILP solver (``integer``, not
        ``exact``; highs when installed, else an exact solver does the margin check too).
        A ``PluginError`` when no installed solver can certify at all."""
        exact = _first(registry, PREFERRED_EXACT, _is_exact)
        milp = _first(registry, PREFERRED_MILP, _is_float_milp) or exact
        if milp is None:
            raise PluginError("no installed solver can certify a repair (one with integers)")
        return cls(milp, exact, events=events, workers=workers)

    def describe(self) -> dict[str, object]:
        """The settings a certificate depends on (for a run's fingerprint)."""
        return {
            "milp": self.milp.name,
            "exact": None if self.exact is None else self.exact.name,
            "exact_limit": self.exact_limit,
            "margin": self.margin,
            "timeout": self.timeout,
        }

    def certify(
        self, network: Network, properties: Sequence[Property], timeout: float | None = None
    ) -> Certificate:
        budget = self.timeout if timeout is None else max(min(self.timeout, timeout), 1.0)
        hidden = sum(layer.n_out for layer in network.layers[:-1])
        if self.exact is not None and hidden <= self.exact_limit:
            verdict = self._check(self.exact, network, properties, 0.0, budget)
            if verdict is not None:
                return verdict
        return self._check(self.milp, network, properties, self.margin, budget) or Certificate(
            False, self.milp.name, "the MILP check was not conclusive"
        )

    def _check(
        self,
        solver: Solver,
        network: Network,
        properties: Sequence[Property],
        margin: float,
        timeout: float,
    ) -> Certificate | None:
        """A certificate, a refusal with the counterexample, or None when undecided."""
        label = (
            f"{solver.name} (exact)" if margin == 0 else f"{solver.name} (MILP, margin {margin:g})"
        )
        verifier = Verifier(solver, timeout=timeout)
        checked = [prop.expanded(margin) if margin else prop for prop in properties]
        results = map_forked(partial(verifier.verify, network), checked, self.workers)
        for prop, result in zip(properties, results, strict=True):
            if result.status == "sat" and result.counterexample is not None:
                if self.events is not None and result.output is not None:
                    self.events.nnv_counterexample_found(
                        source="certification", inputs=result.counterexample, outputs=result.output
                    )
                where = result.counterexample.tolist()
                return Certificate(False, label, f"{prop.name} is violated at {where}")
            if result.status != "unsat" or (margin == 0 and not result.exact):
                return None
        return Certificate(True, label)


def _is_exact(capabilities: frozenset[Capability]) -> bool:
    """Takes a verification Query (ReLUs natively or as big-M rows) in rational arithmetic."""
    takes_relu = bool({Capability.RELU, Capability.INTEGER} & capabilities)
    return Capability.EXACT in capabilities and takes_relu


def _is_float_milp(capabilities: frozenset[Capability]) -> bool:
    return Capability.INTEGER in capabilities and Capability.EXACT not in capabilities


def _first(
    registry: Registry, preferred: str, qualifies: Callable[[frozenset[Capability]], bool]
) -> Solver | None:
    """The preferred solver if it qualifies, else the first other one by name that does and
    can be made with its default options (a backend that is not available cannot)."""
    names = registry.names("solver")
    order = ([preferred] if preferred in names else []) + [n for n in names if n != preferred]
    for name in order:
        if not qualifies(
            getattr(registry.get("solver", name).factory, "capabilities", frozenset())
        ):
            continue
        try:
            return registry.solver(name)
        except InputError:  # e.g. a Pyomo backend that is not installed
            continue
    return None
