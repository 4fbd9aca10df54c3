"""Cheap attempts to find a violation before any solver runs.

Samples (the centre, the corners of small boxes, uniform points), then projected gradient
steps that push each candidate towards the unsafe set. Every hit is an exact float64 forward
pass, so a returned point is a genuine counterexample.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from nnv.core.model.network import Network
from nnv.core.model.property import InputPiece, OutputConjunction, Property

MAX_CORNER_DIMENSION = 10


def sample_piece(piece: InputPiece, count: int, rng: np.random.Generator) -> np.ndarray:
    """The centre, the corners (in low dimension) and uniform points of a piece."""
    center = (piece.lower + piece.upper) / 2
    points = [center[None, :], rng.uniform(piece.lower, piece.upper, (count, piece.dimension))]
    if piece.dimension <= MAX_CORNER_DIMENSION:
        corners = np.array(list(itertools.product((0.0, 1.0), repeat=piece.dimension)))
        points.append(piece.lower + corners * (piece.upper - piece.lower))
    candidates = np.vstack(points)
    return candidates[piece.contains(candidates)]


def unsafe_margin(outputs: np.ndarray, conjunction: OutputConjunction) -> np.ndarray:
    """``max_i (C y - d)_i`` per row: ``<= 0`` exactly when the output is unsafe."""
    return np.max(outputs @ conjunction.C.T - conjunction.d, axis=1)


def _margin_gradient(
    network: Network, points: np.ndarray, conjunction: OutputConjunction
) -> tuple[np.ndarray, np.ndarray]:
    """The margin of each point, and the input gradient of the sum of its positive slacks.

    A point is unsafe when every row of ``C y - d`` is <= 0; pushing down all the rows still
    above zero at once works better than following only the worst one, which just hands the
    lead to the next row.
    """
    activations = network.activations(points)
    slack = activations[-1] @ conjunction.C.T - conjunction.d
    above = slack > 0
    gradient = np.where(
        above.any(axis=1, keepdims=True), above, slack == slack.max(1, keepdims=True)
    )
    gradient = gradient.astype(np.float64) @ conjunction.C
    for index in range(len(network.layers) - 1, -1, -1):
        gradient = network.layers[index].pull_back(gradient)
        if index > 0:
            gradient = gradient * (activations[index - 1] > 0)
    return slack.max(axis=1), gradient


def attack(
    network: Network,
    conjunction: OutputConjunction,
    lower: np.ndarray,
    upper: np.ndarray,
    starts: np.ndarray,
    steps: int = 50,
    deadline: float | None = None,
) -> np.ndarray | None:
    """Signed projected gradient descent from each start within its box; a violating point.

    ``lower``/``upper`` are one box for all starts, or one box per start (rows). Past
    ``deadline`` (a ``time.perf_counter()`` value) the steps stop.
    """
    points = np.clip(starts, lower, upper)
    step = (upper - lower) / 4
    for _ in range(steps):
        margin, gradient = _margin_gradient(network, points, conjunction)
        hit = np.flatnonzero(margin <= 0)
        if hit.size:
            return points[hit[0]]
        if _late(deadline):
            return None
        points = np.clip(points - step * np.sign(gradient), lower, upper)
        step = step * 0.9
    margin, _ = _margin_gradient(network, points, conjunction)
    hit = np.flatnonzero(margin <= 0)
    return points[hit[0]] if hit.size else None


def falsify(
    network: Network,
    prop: Property,
    samples: int = 2000,
    seed: int = 0,
    attack_starts: int = 16,
    restarts: int = 16,
    deadline: float | None = None,
) -> np.ndarray | None:
    """A point of the region with an unsafe output, or None if none was found (or when
    ``deadline``, a ``time.perf_counter()`` value, passes first).

    Samples first; then, per unsafe disjunct, gradient steps from the ``attack_starts``
    samples closest to it and from ``restarts`` fresh uniform points.
    """
    rng = np.random.default_rng(seed)
    for piece in prop.pieces:
        if _late(deadline):
            return None
        points = sample_piece(piece, samples, rng)
        if not points.shape[0]:
            continue
        outputs = network.forward(points)
        unsafe = prop.is_unsafe(outputs)
        if unsafe.any():
            return points[np.argmax(unsafe)]
        if not piece.is_box or attack_starts + restarts == 0:
            continue  # gradient steps project onto boxes only
        for conjunction in prop.unsafe_outputs:
            if _late(deadline):
                return None
            margins = unsafe_margin(outputs, conjunction)
            starts = np.vstack(
                [
                    points[np.argsort(margins)[:attack_starts]],
                    rng.uniform(piece.lower, piece.upper, (restarts, piece.dimension)),
                ]
            )
            found = attack(network, conjunction, piece.lower, piece.upper, starts, 50, deadline)
            if found is not None:
                return found
    return None


def _late(deadline: float | None) -> bool:
    return deadline is not None and time.perf_counter() > deadline


def closest_to_unsafe(
    network: Network, prop: Property, samples: int = 500, steps: int = 30, seed: int = 0
) -> np.ndarray | None:
    """The point of the region (of its boxes) found nearest to an unsafe output: the smallest
    :func:`unsafe_margin` over samples and gradient steps from the closest of them.

    Where the region reaches unsafe outputs this is the deepest violation found. Repair adds
    it to the counterexamples beside each one the verifier finds (fixing the worst point
    first saves rounds), and when the verifier could not decide a candidate in the time it
    had: such a candidate sits too close to the unsafe set to prove, and asking the next one
    to be safe at this point, with the synthesis margin, pushes it away."""
    rng = np.random.default_rng(seed)
    best, closest = None, np.inf
    for piece in prop.pieces:
        points = sample_piece(piece, samples, rng)
        if not points.shape[0] or not piece.is_box:
            continue
        outputs = network.forward(points)
        for conjunction in prop.unsafe_outputs:
            margins = unsafe_margin(outputs, conjunction)
            starts = np.clip(points[np.argsort(margins)[:16]], piece.lower, piece.upper)
            step = (piece.upper - piece.lower) / 4
            for _ in range(steps + 1):
                margin, gradient = _margin_gradient(network, starts, conjunction)
                if margin.min() < closest:
                    closest, best = float(margin.min()), starts[np.argmin(margin)].copy()
                starts = np.clip(starts - step * np.sign(gradient), piece.lower, piece.upper)
                step = step * 0.9
    return best


def violating_samples(
    network: Network, prop: Property, count: int, samples: int = 2000, seed: int = 0
) -> np.ndarray:
    """Up to ``count`` sampled points of the region with unsafe outputs, the worst first.

    Repair starts its counterexample set with these, which saves rounds of the loop.
    """
    rng = np.random.default_rng(seed)
    found, depth = [], []
    for piece in prop.pieces:
        points = sample_piece(piece, samples, rng)
        if not points.shape[0]:
            continue
        outputs = network.forward(points)
        for conjunction in prop.unsafe_outputs:
            margins = unsafe_margin(outputs, conjunction)
            hits = margins <= 0
            found.append(points[hits])
            depth.append(margins[hits])
    if not found:
        return np.zeros((0, prop.n_inputs))
    points, margins = np.vstack(found), np.concatenate(depth)
    return points[np.argsort(margins)[:count]]
