"""How far float32 arithmetic can move a float32 file's outputs from the exact ones.

The proof (:mod:`.certify`) is about the function the file's parameters define, computed
exactly; a runtime computes it in float32. The proof leaves ``CERTIFY_MARGIN`` of slack at
every input of the region, so the float32 file is certified only when the rounding of the
operations after the clip (the head's ``Gemm``, a linear box's two ``Gemm``, the level's
``Add``) provably moves no constraint of the property by that much. The bound is the
textbook one for a dot product of n terms in any order: ``|fl(a.b) - a.b| <= gamma(n)
|a|.|b|`` with ``gamma(n) = n u / (1 - n u)`` and ``u = 2**-24`` (Higham, *Accuracy and
Stability of Numerical Algorithms*, 3.1). ``Min``, ``Max`` and ``Where`` round nothing;
what the backbone computes does not matter, since the proof covers every embedding the box
allows.

Not covered, in float32 as in float64: an input within rounding of the region's boundary
whose region test (``Gemm``, ``ReduceMax``) rounds to the other side.
"""

from __future__ import annotations

import numpy as np

from .embedding import linear_bounds
from .graph import Exported
from .spec import LinearInequalities, Region, Spec

UNIT_ROUNDOFF = 2.0**-24  # float32, round to nearest


def gamma(terms: int) -> float:
    """Higham's ``gamma(n)``: the relative error bound of an n-term float32 sum."""
    return terms * UNIT_ROUNDOFF / (1.0 - terms * UNIT_ROUNDOFF)


def output_error(exported: Exported, region: Region | None) -> np.ndarray:
    """A bound on ``|float32 output - exact output|`` per output, over the region (inf where
    nothing bounds it: a linear box or a level without a bounded region)."""
    head, box = exported.head, exported.box
    if box.is_constant:
        reach, slack = np.maximum(np.abs(box.l0), np.abs(box.u0)), np.zeros(box.size)
    elif region is None:
        return np.full(head.w.shape, np.inf)
    else:
        x_size = np.maximum(np.abs(region.lower), np.abs(region.upper))
        bounds = [linear_bounds(M, c, region.lower, region.upper)
                  for M, c in ((box.L, box.l0), (box.U, box.u0))]
        reach = np.max([np.maximum(np.abs(low), np.abs(high)) for low, high in bounds], axis=0)
        terms = box.L.shape[1] + 1
        slack = np.maximum(  # how far the computed clip bounds can be from the exact ones
            gamma(terms) * (np.abs(box.L) @ x_size + np.abs(box.l0)),
            gamma(terms) * (np.abs(box.U) @ x_size + np.abs(box.u0)),
        )
    size = np.abs(head.W) @ (reach + slack) + np.abs(head.w)
    error = np.abs(head.W) @ slack + gamma(box.size + 1) * size
    if exported.level is not None:
        if region is None:
            return np.full(head.w.shape, np.inf)
        level = max(abs(region.lower[exported.level]), abs(region.upper[exported.level]))
        error = error + UNIT_ROUNDOFF * (size + error + level)
    return error


def constraint_error(exported: Exported, spec: Spec) -> float:
    """The most float32 rounding can move one constraint of ``spec``: a row ``A_c y`` of
    linear inequalities, or one logit of a forbidden pair."""
    error = output_error(exported, spec.region)
    if not np.all(np.isfinite(error)):
        return float("inf")
    if isinstance(spec, LinearInequalities):
        moved = np.abs(spec.A) @ error
    else:
        moved = error[np.unique(spec.pairs)] if spec.pairs.size else np.zeros(1)
    return float(np.max(moved, initial=0.0))
