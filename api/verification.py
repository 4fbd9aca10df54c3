"""``nnv.verify``: does a network meet a property? The engine ``nnv verify`` runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.registry import default_registry
from nnv.core.runtime.files import write_text_atomic
from nnv.core.verify.verifier import VerificationResult, Verifier
from nnv.inputs import NetworkLike, PropertyLike, as_network, as_property

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Verification:
    """A verdict (``status``: sat, unsat, timeout or unknown, in VNN-LIB's sense) with the
    network and property it is about; ``result`` is the engine's own record."""

    result: VerificationResult
    network: Network
    property: Property

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def holds(self) -> bool:
        """True only when the property was proved (``unsat``)."""
        return self.result.holds

    @property
    def counterexample(self) -> np.ndarray | None:
        """An input in the region whose output breaks the property (replayed), for ``sat``."""
        return self.result.counterexample

    @property
    def seconds(self) -> float:
        return self.result.seconds

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()

    def plot(self) -> Figure:
        """The outputs along each input through the counterexample (or the box's centre)."""
        from nnv.plots import counterexample_figure

        title = f"{self.property.name}: {self.status} ({self.seconds:.2f} s)"
        return counterexample_figure(self.network, self.property, self.counterexample, title)

    def __repr__(self) -> str:
        return f"Verification(status={self.status!r}, seconds={self.seconds:.3f})"


def verify(
    network: NetworkLike,
    prop: PropertyLike,
    *,
    solver: str = "highs",
    solver_options: dict[str, Any] | None = None,
    timeout: float | None = None,
    seed: int = 0,
    result_file: str | Path | None = None,
    **verifier_options: Any,
) -> Verification:
    """Verify ``network`` against ``prop`` with the solver plugin ``solver``.

    ``verifier_options`` go to :class:`~nnv.core.verify.verifier.Verifier` (``strategy`` ...).
    Writes nothing unless ``result_file`` names a VNN-COMP result file.
    """
    registry = default_registry()
    chosen = registry.create("solver", solver, solver_options)
    net = as_network(network, registry)
    checked = as_property(prop, registry)
    checked.check_fits(net.n_inputs, net.n_outputs)
    verifier = Verifier(
        chosen, timeout=timeout, seed=seed, events=registry.hook, **verifier_options
    )
    result = verifier.verify(net, checked)
    if result_file is not None:
        write_text_atomic(Path(result_file), result.vnncomp_text())
    return Verification(result, net, checked)
