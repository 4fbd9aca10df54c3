"""What every bound computation shares: the ReLU relaxation and the outward rounding.

The relaxation (DeepPoly / CROWN) bounds ``relu(z)`` over ``lower <= z <= upper`` by two lines:
the chord from ``(l, 0)`` to ``(u, u)`` above, and a line of slope 0 or 1 below (CROWN's
adaptive choice: 1 when the neuron is more often positive).

The outward rounding makes float rounding harmless: a bound computed in float64 may be off by a
few ulps of the terms summed into it, so every concretised bound is moved outward by
``ROUNDING`` times (1 + the magnitude of those terms). Exact solvers rely on these bounds too,
so a bound must never cut off a reachable value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# relative outward margin of every concretised bound
ROUNDING = 1e-9


# (s_up, t_up, s_low) of one layer: s_low z <= relu(z) <= s_up z + t_up, elementwise
Relaxation = tuple[np.ndarray, np.ndarray, np.ndarray]


def rounding_margin(*magnitudes: Any) -> Any:
    """``ROUNDING * (1 + m_1 + m_2 + ...)``, summed left to right: how far to move a bound
    whose terms have these magnitudes (the same expression everywhere, so the same bits).
    numpy arrays and floats give a numpy array; torch tensors (the torch bound engine,
    :mod:`nnv.core.bounds.crown`) give a tensor."""
    total: Any = 1.0
    for magnitude in magnitudes:
        total = total + magnitude
    margin = ROUNDING * total
    return margin if hasattr(margin, "detach") else np.asarray(margin)


def widen(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds moved outward by their own magnitude's margin."""
    return lower - rounding_margin(np.abs(lower)), upper + rounding_margin(np.abs(upper))


def relu_relaxation(lower: Any, upper: Any, where: Callable[..., Any] = np.where) -> Relaxation:
    """Slopes and offset of the ReLU relaxation: ``s_low z <= relu(z) <= s_up z + t_up``.

    A neuron always on (``lower >= 0``) has both slopes 1; always off, both 0; an unstable one
    the chord above and slope 1 below when ``upper > -lower``, else 0. ``where`` is
    ``torch.where`` for tensors (the torch engine shares these expressions, and its gradients
    flow through them).
    """
    active = lower >= 0
    unstable = (lower < 0) & (upper > 0)
    span = where(unstable, upper - lower, 1.0)
    s_up = where(active, 1.0, where(unstable, upper / span, 0.0))
    t_up = where(unstable, -s_up * lower, 0.0)
    s_low = where(active | (unstable & (upper > -lower)), 1.0, 0.0)
    return s_up, t_up, s_low
