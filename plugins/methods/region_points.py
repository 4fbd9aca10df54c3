"""Labelled points of a property's input region: what the retrain baseline trains on.

Retraining can only aim a classifier at a class, so each property must say which class its
region needs. ``required_class`` reads it from the unsafe outputs: every unsafe conjunction
must contain a row ``a (y_c - y_o) <= d`` (a > 0) for one and the same class c, as
``Property.classification`` and the paper's VNN-LIB files write them; an input classified
as c with enough margin then falsifies every conjunction.
"""

from __future__ import annotations

import numpy as np

from nnv.core import InputError, OutputConjunction, Property

# rejection sampling of a polytope piece: batches of box samples tried before giving up
MAX_REJECTION_ROUNDS = 100


def required_class(prop: Property) -> int:
    """The class every input of the region must get; an error if the property names none."""
    if prop.label is not None:
        return prop.label
    common: set[int] | None = None
    for conjunction in prop.unsafe_outputs:
        classes = _classes_beaten(conjunction)
        common = classes if common is None else common & classes
    if common is None or len(common) != 1:
        raise InputError(
            f"{prop.name}: --method retrain needs a classification property (every unsafe "
            "output says one required class loses to another), and this one names "
            f"{'several classes' if common else 'no class'}"
        )
    return common.pop()


def _classes_beaten(conjunction: OutputConjunction) -> set[int]:
    """The classes c for which some row reads ``a (y_c - y_o) <= d`` with a > 0."""
    found = set()
    for row in conjunction.C:
        nonzero = np.flatnonzero(row)
        if nonzero.size == 2 and row[nonzero[0]] == -row[nonzero[1]]:
            found.add(int(nonzero[0] if row[nonzero[0]] > 0 else nonzero[1]))
    return found


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
