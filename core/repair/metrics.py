"""What a repair cost: accuracy per split before and after."""

from __future__ import annotations

import numpy as np

from nnv.core.model.dataset import WEIGHTED_SPLITS, Dataset
from nnv.core.model.decision import DEFAULT_DECISION, Decision
from nnv.core.model.network import Network


def accuracy_report(
    network: Network, data: Dataset, decision: Decision = DEFAULT_DECISION
) -> dict[str, float]:
    """Accuracy per split, and ``weighted``: the size-weighted mean over train, test, sampled.
    A point is right when ``decision`` of the outputs is its label."""
    report: dict[str, float] = {}
    correct = total = 0
    for split, (X, y) in data.splits.items():
        hits = int(np.sum(network.predict(X, decision) == y)) if X.shape[0] else 0
        report[split] = hits / X.shape[0] if X.shape[0] else float("nan")
        if split in WEIGHTED_SPLITS:
            correct += hits
            total += X.shape[0]
    report["weighted"] = correct / total if total else float("nan")
    return report
