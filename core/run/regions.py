"""A property's region cut into boxes (APRNN style): repair some violating boxes, hold the
others out, and measure how far the repair generalises to them.

``--partition SIDE`` cuts each box of a property's input region into a grid of boxes of side
at most SIDE (in input units; a side narrower than SIDE stays whole). A box is *violating*
when one of ``samples`` points drawn in it (its centre included) breaks the property; which
boxes violate is thus found by sampling, not proved, and a box where sampling found nothing
is not claimed safe. The violating boxes are shuffled with the run's seed; the first
``repair_boxes`` become the run's properties (each is repaired and certified like any
property), the rest are held out. After the repair every held-out box is verified on the
repaired network: *generalisation* is the fraction proved, and the fraction of the violating
sample points in them that the repair fixed.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nnv.core.errors import InputError
from nnv.core.model.network import Network
from nnv.core.model.property import InputPiece, Property
from nnv.core.plugin.registry import Registry
from nnv.core.runtime.parallel import map_forked
from nnv.core.verify.verifier import Verifier

MAX_BOXES = 1_000_000  # a finer partition than this is a mistake, not a request
_CHUNK = 200_000  # sample points per forward pass
SECONDS_PER_BOX = 10.0  # the verifier's time for each held-out box


@dataclass(frozen=True)
class Partition:
    """A property cut into boxes, the violating ones split into repaired and held out."""

    side: float
    boxes: int  # how many boxes the regions were cut into
    samples: int  # points drawn in each box
    repair: list[Property]
    held_out: list[Property]
    # the violating sample points of each held-out box (for the points' generalisation)
    held_out_points: list[np.ndarray] = field(repr=False)

    @property
    def violating(self) -> int:
        return len(self.repair) + len(self.held_out)


def partition(
    network: Network,
    properties: list[Property],
    side: float,
    repair_boxes: int | None,
    samples: int,
    seed: int,
) -> Partition:
    """Cut every property's region into boxes of side ``side`` and sort out the violating
    ones: the first ``repair_boxes`` (all when None) in a seeded order are to be repaired."""
    rng = np.random.default_rng(seed)
    violating: list[tuple[Property, np.ndarray]] = []
    count = 0
    for prop in properties:
        boxes = [box for piece in prop.pieces for box in _grid(prop, piece, side)]
        count += len(boxes)
        if count > MAX_BOXES:
            raise InputError(
                f"--partition {side}: more than {MAX_BOXES:,} boxes; choose a larger side"
            )
        for index, bad in _violating(network, prop, boxes, samples, rng):
            lower, upper = boxes[index]
            piece = InputPiece(lower, upper)
            box = replace(prop, pieces=(piece,), name=f"{prop.name}[box {index}]")
            violating.append((box, bad))
    if not violating:
        raise InputError(
            f"--partition {side}: no box of the {count} violates the property at any of its "
            f"{samples} sample points; nothing to repair"
        )
    order = rng.permutation(len(violating))
    chosen = [violating[i] for i in order]
    split = len(chosen) if repair_boxes is None else min(repair_boxes, len(chosen))
    return Partition(
        side=side,
        boxes=count,
        samples=samples,
        repair=[box for box, _ in chosen[:split]],
        held_out=[box for box, _ in chosen[split:]],
        held_out_points=[points for _, points in chosen[split:]],
    )


def _grid(prop: Property, piece: InputPiece, side: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The boxes of side at most ``side`` that tile ``piece`` (a box, not a polytope)."""
    if not piece.is_box:
        raise InputError(f"{prop.name}: --partition cuts boxes, and this region has A x <= b")
    cuts: list[np.ndarray] = []
    for low, high in zip(piece.lower, piece.upper, strict=True):
        pieces = max(1, math.ceil((high - low) / side - 1e-9))
        if math.prod(len(c) - 1 for c in cuts) * pieces > MAX_BOXES:
            raise InputError(
                f"--partition {side}: more than {MAX_BOXES:,} boxes; choose a larger side"
            )
        edges = np.linspace(low, high, pieces + 1)
        edges[0], edges[-1] = low, high  # the region's own bounds, exactly
        cuts.append(edges)
    return [
        (
            np.array([cuts[d][i] for d, i in enumerate(cell)]),
            np.array([cuts[d][i + 1] for d, i in enumerate(cell)]),
        )
        for cell in itertools.product(*(range(len(c) - 1) for c in cuts))
    ]


def _violating(
    network: Network,
    prop: Property,
    boxes: list[tuple[np.ndarray, np.ndarray]],
    samples: int,
    rng: np.random.Generator,
) -> list[tuple[int, np.ndarray]]:
    """(box index, its violating sample points) of each box where a sample breaks ``prop``."""
    found: list[tuple[int, np.ndarray]] = []
    per_chunk = max(1, _CHUNK // samples)
    for start in range(0, len(boxes), per_chunk):
        chunk = boxes[start : start + per_chunk]
        lower = np.array([box[0] for box in chunk])
        upper = np.array([box[1] for box in chunk])
        unit = rng.random((len(chunk), samples, prop.n_inputs))
        unit[:, 0, :] = 0.5  # the centre
        points = lower[:, None, :] + (upper - lower)[:, None, :] * unit
        flat = points.reshape(-1, prop.n_inputs)
        unsafe = prop.is_unsafe(network.forward(flat)).reshape(len(chunk), samples)
        for offset in np.flatnonzero(unsafe.any(axis=1)):
            found.append((start + int(offset), points[offset][unsafe[offset]]))
    return found


@dataclass
class Generalisation:
    """How the repaired network does on the held-out boxes."""

    held_out: int
    proved: int  # boxes the verifier proved safe on the repaired network
    violated: int  # boxes where it found a (replayed) counterexample
    unknown: int  # timeout or error within the time each box had
    points: int  # violating sample points in the held-out boxes
    points_fixed: int  # of those, the ones the repaired network gets right
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "held_out": self.held_out,
            "proved": self.proved,
            "violated": self.violated,
            "unknown": self.unknown,
            "boxes_generalised": _ratio(self.proved, self.held_out),
            "points": self.points,
            "points_fixed": self.points_fixed,
            "points_generalised": _ratio(self.points_fixed, self.points),
            "seconds": round(self.seconds, 3),
        }


def generalisation(
    parts: Partition,
    repaired: Network,
    registry: Registry,
    verifier: str,
    verifier_options: dict[str, Any],
    deadline: float | None,
    workers: int = 1,
) -> Generalisation:
    """Verify each held-out box on ``repaired`` (each within :data:`SECONDS_PER_BOX`, none
    past the run's ``deadline`` on the monotonic clock; ``workers`` at once) and count the
    held-out violating points it fixed."""
    start = time.monotonic()
    solver = registry.create("solver", verifier, verifier_options)

    def verdict(box: Property) -> str:
        left = SECONDS_PER_BOX if deadline is None else deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        return Verifier(solver, timeout=min(SECONDS_PER_BOX, left)).verify(repaired, box).status

    verdicts = list(map_forked(verdict, parts.held_out, workers))
    fixed = sum(
        int(np.sum(~box.is_unsafe(repaired.forward(points))))
        for box, points in zip(parts.held_out, parts.held_out_points, strict=True)
    )
    return Generalisation(
        held_out=len(parts.held_out),
        proved=verdicts.count("unsat"),
        violated=verdicts.count("sat"),
        unknown=len(verdicts) - verdicts.count("unsat") - verdicts.count("sat"),
        points=sum(len(points) for points in parts.held_out_points),
        points_fixed=fixed,
        seconds=time.monotonic() - start,
    )


def regions_result(
    parts: Partition | None,
    repaired: Network | None,
    registry: Registry,
    verifier: str,
    verifier_options: dict[str, Any],
    deadline: float | None,
    workers: int = 1,
) -> dict[str, Any] | None:
    """result.json's ``regions`` of a run (None without --partition); the held-out boxes are
    verified only when there is a repaired network (``workers`` at once)."""
    if parts is None:
        return None
    found = (
        None
        if repaired is None
        else generalisation(
            parts, repaired, registry, verifier, verifier_options, deadline, workers
        )
    )
    return region_report(parts, found)


def region_report(parts: Partition, found: Generalisation | None) -> dict[str, Any]:
    """result.json's ``regions``: the partition, and the generalisation when repaired."""
    return {
        "side": parts.side,
        "boxes": parts.boxes,
        "samples_per_box": parts.samples,
        "violating": parts.violating,
        "repaired_boxes": [box.name for box in parts.repair],
        "held_out_boxes": len(parts.held_out),
        "generalisation": None if found is None else found.to_dict(),
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
