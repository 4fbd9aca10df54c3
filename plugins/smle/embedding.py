"""The overapproximation: every embedding ``y = clip(h(x), l(x), u(x))`` the model can reach.

Whatever the backbone h computes, ``clip(e, l, u) = max(min(e, u), l)`` lies in ``[l, u]`` when
``l <= u`` and equals ``l`` when ``l > u``; so the reachable embeddings of the inputs of a
region lie in ``{(x, y): x in region, l(x) <= y, (y <= u(x) or y <= l(x))}``, a set that does
not involve h. The counterexample searches add this set to a Query and then ask about
``g(y)`` only: verification that costs nothing in the size of the backbone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nnv.core import InputError, QueryBuilder

from .spec import Region


@dataclass(frozen=True)
class Box:
    """``l(x) = L x + l0`` and ``u(x) = U x + u0``; constant when ``L`` and ``U`` are zero."""

    L: np.ndarray  # (k, d)
    l0: np.ndarray  # (k,)
    U: np.ndarray
    u0: np.ndarray

    @property
    def size(self) -> int:
        return int(self.l0.shape[0])

    @property
    def is_constant(self) -> bool:
        return not (np.any(self.L) or np.any(self.U))


@dataclass(frozen=True)
class Embedding:
    """Where the embedding's variables sit in a Query, and their bounds."""

    x: np.ndarray | None  # input variables (None for a constant box: y does not depend on x)
    y: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def add_embedding(builder: QueryBuilder, box: Box, region: Region | None) -> Embedding:
    """Add the reachable ``(x, y)`` of ``region`` (every input when None) to ``builder``."""
    if box.is_constant:
        lower, upper = box.l0, np.maximum(box.l0, box.u0)
        return Embedding(None, builder.add_vars(box.size, lower, upper), lower, upper)
    if region is None:
        raise InputError("a linear box needs a bounded input region (use --box constant)")
    x = builder.add_vars(region.dimension, region.lower, region.upper)
    builder.add_rows(region.A, x, -np.inf, region.b)
    bounds = (region.lower, region.upper)
    low_l, high_l = linear_bounds(box.L, box.l0, *bounds)
    low_u, high_u = linear_bounds(box.U, box.u0, *bounds)
    lower, upper = low_l, np.maximum(high_l, high_u)
    y = builder.add_vars(box.size, lower, upper)
    columns = np.concatenate([y, x])
    eye = sp.identity(box.size, format="csr")
    above_lower = sp.hstack([eye, sp.csr_matrix(-box.L)], format="csr")
    below_upper = sp.hstack([eye, sp.csr_matrix(-box.U)], format="csr")
    builder.add_rows(above_lower, columns, box.l0, np.inf)  # y >= l(x), always
    ordered, _ = linear_bounds(box.U - box.L, box.u0 - box.l0, *bounds)
    ordered = ordered >= 0  # l <= u everywhere: y <= u(x) plainly
    builder.add_rows(below_upper[ordered], columns, -np.inf, box.u0[ordered])
    crossed = np.flatnonzero(~ordered)  # l may exceed u: y <= u(x) or y = l(x)
    if crossed.size:
        within, collapsed = builder.add_binaries(crossed.size), builder.add_binaries(crossed.size)
        pick = sp.hstack([sp.identity(crossed.size)] * 2, format="csr")
        builder.add_rows(pick, np.concatenate([within, collapsed]), 1.0, np.inf)
        builder.add_indicators(within, below_upper[crossed], columns, -np.inf, box.u0[crossed])
        builder.add_indicators(collapsed, above_lower[crossed], columns, -np.inf, box.l0[crossed])
    return Embedding(x, y, lower, upper)


def linear_bounds(
    M: np.ndarray, c: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``M y + c`` over the box ``[lower, upper]`` (exact for each row)."""
    positive, negative = np.maximum(M, 0.0), np.minimum(M, 0.0)
    return positive @ lower + negative @ upper + c, positive @ upper + negative @ lower + c
