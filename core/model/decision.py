"""Which output is a classifier's decision: the largest (``argmax``) or the smallest (``argmin``).

Most classifiers decide by the largest score; ACAS Xu's advisories are the *minimal* score
(COC, WL, WR, SL, SR = outputs 0..4). Everything that reads a class from outputs (accuracy,
the heuristics' labels, the soft constraints synthesis keeps, the boundary plot, retrain's
targets) goes through one decision rule, the run's ``--decision``.

The rules are mirror images: argmin on ``y`` is argmax on ``-y``. :func:`scores` gives the
outputs in the orientation where the decided class scores highest, so one code path ("the
label leads every other score by a margin") serves both; :func:`sign` is that orientation as a
factor, for the linear rows of the encodings.
"""

from __future__ import annotations

from typing import Literal, cast

import numpy as np

from nnv.core.errors import InputError

Decision = Literal["argmax", "argmin"]
DECISIONS: tuple[Decision, ...] = ("argmax", "argmin")
DEFAULT_DECISION: Decision = "argmax"


def check_decision(value: object, where: str = "decision") -> Decision:
    """``value`` as a :data:`Decision`; an ``InputError`` naming ``where`` otherwise."""
    if value not in DECISIONS:
        raise InputError(f"{where} must be one of {', '.join(DECISIONS)}, not {value!r}")
    return cast(Decision, value)


def sign(decision: Decision) -> float:
    """+1 for argmax, -1 for argmin: ``sign * y`` is highest at the decided class."""
    return 1.0 if check_decision(decision) == "argmax" else -1.0


def scores(outputs: np.ndarray, decision: Decision) -> np.ndarray:
    """The outputs oriented so that the decided class has the highest score."""
    return sign(decision) * np.asarray(outputs, dtype=np.float64)


def decide(outputs: np.ndarray, decision: Decision) -> np.ndarray:
    """The decided class of each row of ``outputs`` (ties go to the lowest index)."""
    return np.argmax(scores(np.atleast_2d(outputs), decision), axis=1)


def margins(outputs: np.ndarray, labels: np.ndarray, decision: Decision) -> np.ndarray:
    """How far each row's ``label`` leads the best other class (negative: it does not win)."""
    oriented = scores(np.atleast_2d(outputs), decision)
    rows = np.arange(oriented.shape[0])
    own = oriented[rows, labels]
    others = oriented.copy()
    others[rows, labels] = -np.inf
    return own - others.max(axis=1)
