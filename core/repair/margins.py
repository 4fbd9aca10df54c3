"""The margins of one repair trial: scaled to the network's outputs, and adapted as it runs.

Synthesis asks every counterexample to sit ``synthesis_margin`` outside the unsafe set, and
the loop verifies candidates against the unsafe set widened by the smaller ``verify_margin``
(so a counterexample once fixed is never found again). Both are given for outputs of order 1
(:class:`~nnv.core.repair.settings.RepairSettings`). A margin of 1e-3 is 0.01 % of a
classifier's outputs of order 10, but more than the violations to close on ACAS Xu, whose
outputs spread over about 0.04: the repair would overshoot by more than the problem. So each
margin is multiplied by :func:`output_scale`, the order of magnitude of the outputs' spread.

The synthesis margin then adapts within the trial (:class:`SynthesisMargin`):

- *relax* when synthesis finds no values: a quarter of the margin, down to twice the verify
  margin, before the trial is called ``not_repaired``;
- *tighten* when the verifier cannot decide a candidate in its time (a near miss): twice the
  margin, up to ``MAX_TIGHTEN`` x the start and below any margin synthesis failed at, so that
  the next candidate sits further from the unsafe set and is quicker to prove.

Margins choose candidates only: every candidate is still verified and certified, so no margin
can make a repair sound that is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast, get_args

import numpy as np

from nnv.core.errors import InputError
from nnv.core.model.network import Network

# what the given margins are for: outputs of order 1 (absolute), or times output_scale
MarginScale = Literal["absolute", "outputs"]
MARGIN_SCALES: tuple[MarginScale, ...] = get_args(MarginScale)

RELAX = 4.0  # synthesis found nothing: the margin is divided by this
TIGHTEN = 2.0  # the verifier could not decide a candidate: the margin is multiplied by this
MAX_TIGHTEN = 16.0  # the margin grows to at most this many x its start


def check_margin_scale(value: object) -> MarginScale:
    """``value`` as a :data:`MarginScale`; an ``InputError`` otherwise."""
    if value not in MARGIN_SCALES:
        raise InputError(f"margins must be one of {', '.join(MARGIN_SCALES)}, not {value!r}")
    return cast(MarginScale, value)


def output_scale(network: Network, points: np.ndarray) -> float:
    """The order of magnitude (a power of ten) of the median spread between the largest and
    smallest output over ``points``: 1 for outputs spread over 1 to 10, 0.01 for ACAS Xu.
    A power of ten keeps the margins of every network of one magnitude exactly as given; 1
    where there are no points or the outputs do not spread."""
    if len(points) == 0:
        return 1.0
    outputs = network.forward(np.asarray(points, dtype=np.float64))
    spread = float(np.median(outputs.max(axis=1) - outputs.min(axis=1)))
    if not math.isfinite(spread) or spread <= 0:
        return 1.0
    return float(10.0 ** math.floor(math.log10(spread)))


@dataclass
class SynthesisMargin:
    """The synthesis margin of one trial, ``value`` now, within ``[floor, cap]``."""

    value: float
    floor: float  # twice the verify margin: a fixed counterexample stays outside the check
    cap: float

    @classmethod
    def starting(cls, synthesis: float, verify: float) -> SynthesisMargin:
        return cls(synthesis, min(2.0 * verify, synthesis), synthesis * MAX_TIGHTEN)

    def relax(self) -> bool:
        """A smaller margin after synthesis found no values at this one; False at the floor.
        The margin never grows back to where it failed."""
        if self.value <= self.floor:
            return False
        self.cap = min(self.cap, self.value / TIGHTEN)
        self.value = max(self.value / RELAX, self.floor)
        return True

    def tighten(self) -> bool:
        """A larger margin after a candidate the verifier could not decide; False at the cap."""
        grown = min(self.value * TIGHTEN, self.cap)
        if grown <= self.value:
            return False
        self.value = grown
        return True
