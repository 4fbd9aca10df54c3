"""How far float32 arithmetic can move a float32 file's outputs from the exact ones.

The proof (:mod:`.certify`) is about the function the file's parameters define, computed
exactly; a runtime computes it in float32. The proof leaves ``CERTIFY_MARGIN`` of slack at
every input of the region, so the float32 file is certified only when the rounding of the
operations after the clip (the head's ``Gemm``, a linear box's two ``Gemm``, the level's
``Add``) provably moves no constraint of the property by that much. The bound is the
textbook one for a dot product of n terms in any order: ``|fl(a.b) - a.b| <= gamma(n)
|a|.|b|`` with ``gamma(n) = n u / (1 - n u)`` and ``u = 2**-24`` (Higham, *Accuracy and
Stability of Numerical Algorithms*, 3.1). What the backbone computes does not matter, since
the proof covers every embedding the box allows.

The rest of the file rounds nothing (:mod:`.export`), which is why this bound is the whole
error: the clip's two maxima of pairs take ``-H_j`` against ``-u_j(x)``, then ``-T_j``
against ``l_j(x)``, each made by one ``Gemm`` whose other products are ``0 * t`` (exactly
zero for a finite backbone output: a float32 overflow, past 3.4e38, is outside this
argument), and a maximum rounds nothing; a constant bound sums exact zeros and ``u0``, a
linear one the same terms as its own ``Gemm`` (the bound above holds in any order); the
level ``MatMul(X, e_c)`` sums one non-zero product. Inside the region the switch's width
``s = min(K * Relu(worst), S)`` is zero (the test passes, ``worst <= 0``), so ``-Z_j - s``,
``Z_j - s`` and ``max(min(O, Z), Z)`` give ``Z`` exactly: the output is the head's ``Gemm``
plus the level, as bounded here.

The region switch of a float32 file tests ``fl(A') x <= b'`` with ``A'`` the float32 values
nearest ``A`` and ``b'`` (:func:`switch_threshold`) widened by what the change of ``A`` and
the float32 rounding of the test can cost: every float32 input of the property's region
then takes the constrained head (:func:`switch_covers` checks that on the file); inputs
just outside the region may take it too, or (in the switch's thin band) the outside head
clamped to within ``s`` of it, which the property does not mind.
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


def switch_slack(region: Region, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How much a float32 test ``A x <= b`` (rows as in ``region``) must exceed the region's
    own ``b`` so that every x of the region passes it in float32 arithmetic."""
    size = np.maximum(np.abs(region.lower), np.abs(region.upper))
    terms = A.shape[1] + 1
    return np.abs(A - region.A) @ size + gamma(terms) * (np.abs(A) @ size + np.abs(b))


def switch_covers(region: Region, A: np.ndarray, b: np.ndarray) -> bool:
    """Whether a float32 file's switch ``A x <= b`` passes every input of ``region``."""
    if A.shape != region.A.shape or b.shape != region.b.shape:
        return False
    return bool(np.all(b >= region.b + switch_slack(region, A, b)))


def switch_threshold(region: Region) -> np.ndarray:
    """The float32 ``b'`` of the switch ``fl(A) x <= b'`` that :func:`switch_covers` accepts:
    the region's ``b`` plus the slack, rounded up to float32 values."""
    A = region.A.astype(np.float32).astype(np.float64)
    b = region.b.astype(np.float32).astype(np.float64)
    while not switch_covers(region, A, b):  # one or two steps: the slack is tiny
        short = b < region.b + switch_slack(region, A, b)
        target = (region.b + 2 * switch_slack(region, A, b))[short].astype(np.float32)
        b[short] = np.nextafter(target, np.float32(np.inf)).astype(np.float64)
    return b
