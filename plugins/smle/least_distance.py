"""The shortest vector in a polyhedron, exactly: Lawson and Hanson's least-distance program.

``min |d|^2 s.t. G d <= s`` is solved through one non-negative least-squares problem
(Lawson & Hanson, *Solving Least Squares Problems*, ch. 23): with ``E = [-G'; -s']`` and
``f = (0, ..., 0, 1)``, the NNLS residual ``r = E u - f`` gives ``d = -r[:n] / r[n]``, and
``r = 0`` means the polyhedron is empty. The projection falls back to this when the QP solver
fails, which HiGHS's active-set QP does on the degenerate projections late in training.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

EMPTY = 1e-12  # a residual this small means no point satisfies the rows


def least_distance(G: np.ndarray, s: np.ndarray) -> np.ndarray | None:
    """The shortest ``d`` with ``G d <= s``, or None when there is none."""
    G = np.asarray(G, dtype=np.float64)
    n = G.shape[1]
    if np.all(s >= 0.0):
        return np.zeros(n)
    E = np.vstack([-G.T, -np.asarray(s, dtype=np.float64)[None, :]])
    f = np.zeros(n + 1)
    f[n] = 1.0
    u, _ = nnls(E, f, maxiter=50 * E.shape[1])
    residual = E @ u - f
    if abs(residual[n]) < EMPTY:
        return None
    return -residual[:n] / residual[n]
