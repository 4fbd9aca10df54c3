"""Labelled points of a property's input region: what the retrain baseline trains on.

Retraining can only aim a classifier at classes, so each property must say which classes its
region may be decided as. ``allowed_classes`` reads them from the unsafe outputs under the
run's decision rule (:meth:`Property.allowed_classes`: one class for the paper's robustness
files, several for ACAS Xu's property 8, "COC or WL" under argmin).
"""

from __future__ import annotations

import numpy as np

from nnv.core import InputError, Property
from nnv.core.model.decision import Decision

# rejection sampling of a polytope piece: batches of box samples tried before giving up
MAX_REJECTION_ROUNDS = 100


def allowed_classes(prop: Property, decision: Decision) -> list[int]:
    """The classes the region's inputs may be decided as; an error if the property's unsafe
    outputs do not say "the decision is none of these" under ``decision``."""
    allowed = prop.allowed_classes(decision)
    if allowed is None:
        raise InputError(
            f"{prop.name}: --method retrain needs a property about the decision (each unsafe "
            f"disjunct: one class at least as good as every allowed one, under --decision "
            f"{decision}), and this one's outputs say something else"
        )
    return sorted(allowed)


def uniform_points(prop: Property, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniform over the region (pieces in turn; polytopes by rejection)."""
    shares = np.full(len(prop.pieces), count // len(prop.pieces))
    shares[: count % len(prop.pieces)] += 1
    found = []
    for piece, share in zip(prop.pieces, shares, strict=True):
        kept = np.zeros((0, prop.n_inputs))
        for _ in range(MAX_REJECTION_ROUNDS):
            batch = rng.uniform(piece.lower, piece.upper, (2 * share, prop.n_inputs))
            kept = np.vstack([kept, batch[piece.contains(batch)]])
            if kept.shape[0] >= share:
                break
        else:
            raise InputError(f"{prop.name}: too few random points of its box fall in the region")
        found.append(kept[:share])
    return np.vstack(found)


def points_near(
    prop: Property, seeds: np.ndarray, count: int, jitter: float, rng: np.random.Generator
) -> np.ndarray:
    """The seeds, then Gaussian jitter around them (standard deviation ``jitter`` times the
    region's width per input) kept inside the region, ``count`` points in all."""
    lower, upper = prop.bounding_box()
    scale = jitter * (upper - lower)
    kept = seeds[:count]
    for _ in range(MAX_REJECTION_ROUNDS):
        if kept.shape[0] >= count:
            break
        centres = seeds[rng.integers(seeds.shape[0], size=2 * count)]
        batch = np.clip(centres + rng.normal(size=centres.shape) * scale, lower, upper)
        kept = np.vstack([kept, batch[prop.in_region(batch)]])
    return kept[:count]
