"""The ``retrain`` method's own keys of result.json, and how they read in the summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nnv.core.run.results import ResultDetails, Row, SummaryPlace, percent, placed


@dataclass
class RetrainDetails(ResultDetails):
    """What the fine-tuning did (see docs/repair.md, "The retrain baseline")."""

    sampling: str = field(metadata=placed("certified_by"))
    iterations: int  # fine-tuning iterations run
    max_iterations: int
    allowed_classes: dict[str, list[int]] = field(metadata=placed("accuracy_after"))
    # the best network trained, kept as unverified.onnx when none was proved
    unverified_network: dict[str, Any] | None
    region_points: int
    train_points: int
    method_options: dict[str, Any] = field(metadata=placed("verifier"))

    def method_note(self) -> str:
        return f" ({self.sampling} sampling)" if self.sampling else ""

    def summary(self, place: SummaryPlace) -> list[Row]:
        if place != "certificate":
            return []
        rows = [("iterations", f"{self.iterations} of at most {self.max_iterations}")]
        unverified = self.unverified_network
        if unverified:
            rows.append(
                (
                    "unverified network",
                    f"{unverified['file']} (iteration {unverified['iteration']}, weighted "
                    f"{percent(unverified['accuracy']['weighted'])}, not a repair)",
                )
            )
        return rows
