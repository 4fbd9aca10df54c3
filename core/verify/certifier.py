"""Independent certification of a repaired network before it is reported.

Exact first: where the network is small enough, every property is verified again by an exact
solver (z3 or cvc5, rational arithmetic, no float-derived bounds), so the certificate is a
proof. Otherwise, or if the exact check runs out of time, a MILP verifies each property with
its unsafe set widened by a positive margin, at tight tolerances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.solver import Solver
from nnv.core.verify.verifier import Verifier


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
    ) -> None:
        self.milp = milp
        self.exact = exact
        self.exact_limit = exact_limit  # hidden neurons up to which the exact check is tried
        self.margin = margin
        self.timeout = timeout

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
        for prop in properties:
            result = verifier.verify(network, prop.expanded(margin) if margin else prop)
            if result.status == "sat" and result.counterexample is not None:
                where = result.counterexample.tolist()
                return Certificate(False, label, f"{prop.name} is violated at {where}")
            if result.status != "unsat" or (margin == 0 and not result.exact):
                return None
        return Certificate(True, label)
