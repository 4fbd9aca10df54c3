"""How a repair trial ends: a candidate certified (or refused) with what it costs, or the
reason no candidate was reached.

Nothing here trusts the loop: a candidate is reported ``repaired`` only after the certifier
proves every property in this process, and the soft constraints it keeps are counted again
(points replayed in float64, regions verified).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnv.core.model.dataset import Dataset
from nnv.core.model.decision import DEFAULT_DECISION, Decision, margins
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.solver import Solver
from nnv.core.repair.metrics import accuracy_report
from nnv.core.repair.settings import RepairSettings
from nnv.core.repair.trial import FreeSet, TrialResult
from nnv.core.status import TrialStatus
from nnv.core.verify.certifier import Certifier
from nnv.core.verify.verifier import Verifier


def region_property(
    network: Network, soft: SoftConstraints, region: int, decision: Decision = DEFAULT_DECISION
) -> Property:
    """Soft region ``region`` as a property: every point of it gets the region's label."""
    return Property.classification(
        soft.regions[region],
        int(soft.region_labels[region]),
        network.n_outputs,
        name=f"soft region {region + 1}",
        decision=decision,
    )


class Outcomes:
    """Turns the end of a trial on ``network`` into its :class:`TrialResult`."""

    def __init__(
        self,
        network: Network,
        properties: Sequence[Property],
        soft: SoftConstraints,
        data: Dataset,
        verifier: Solver,
        certifier: Certifier,
        settings: RepairSettings,
    ) -> None:
        self.network = network
        self.properties = list(properties)
        self.soft = soft
        self.data = data
        self.verifier = verifier
        self.certifier = certifier
        self.settings = settings

    def stopped(
        self, names: FreeSet, status: TrialStatus, rounds: int, message: str
    ) -> TrialResult:
        """A trial that ends without a certified candidate (or before certification)."""
        return TrialResult(
            free=names,
            status=status,
            soft_total=self.soft.count,
            rounds=rounds,
            message=message,
        )

    def finish(
        self,
        names: FreeSet,
        candidate: Network,
        regions: list[int],
        rounds: int,
        timeout: float | None,
    ) -> TrialResult:
        """A verified candidate, certified within ``timeout`` seconds: ``repaired`` only if
        the certificate holds; its accuracy and the soft constraints it keeps either way. The
        values reported are the candidate's own, rounded to the network's precision as the file
        written will hold them."""
        certificate = self.certifier.certify(candidate, self.properties, timeout)
        result = self.stopped(names, "repaired" if certificate.ok else "not_repaired", rounds, "")
        result.values = {name: candidate.parameter(name) for name in names}
        result.accuracy = accuracy_report(candidate, self.data, self.settings.decision)["weighted"]
        result.kept = self.kept(candidate, regions)
        if certificate.ok:
            result.certified_by = certificate.by
        else:
            result.message = f"certification failed: {certificate.message}"
        return result

    def recertify(self, claimed: TrialResult) -> TrialResult:
        """A repaired trial read back from a file, checked in this process: its values
        certified on every property, its accuracy and kept count recomputed (soft regions
        verified again). One that fails comes back ``not_repaired``, saying why."""
        names = claimed.free
        values = np.array([claimed.values[name] for name in names])
        candidate = self.network.with_parameters(dict(zip(names, values, strict=True)))
        regions = self.regions_kept(candidate)
        result = self.finish(names, candidate, regions, claimed.rounds, None)
        result.seconds = claimed.seconds
        result.max_change_used = claimed.max_change_used
        result.synthesis_margin = claimed.synthesis_margin
        if not result.repaired:
            result.message = f"resumed from trials.csv, then {result.message}"
        return result

    def kept(self, candidate: Network, regions: list[int]) -> int:
        """Soft constraints the repaired network keeps: points checked in float64, regions
        verified by the loop."""
        if self.soft.points.shape[0]:
            outputs = candidate.forward(self.soft.points)
            lead = margins(outputs, self.soft.labels, self.settings.decision)
            points = int(np.sum(lead >= self.settings.soft_margin))
        else:
            points = 0
        return points + len(regions)

    def regions_kept(self, candidate: Network) -> list[int]:
        """The soft regions every point of which ``candidate`` labels right (verified)."""
        verifier = Verifier(self.verifier, timeout=self.certifier.timeout)
        return [
            r
            for r in range(len(self.soft.regions))
            if verifier.verify(
                candidate, region_property(self.network, self.soft, r, self.settings.decision)
            ).status
            == "unsat"
        ]
