"""Every status vocabulary of nnv, each in one place, as a ``Literal`` a type checker enforces.

The strings are what files and users see (result.json, trials.csv, ``nnv verify``'s verdict),
so they are plain strings, not enum members; ``typing.get_args`` lists a vocabulary's words.
"""

from __future__ import annotations

import math
from typing import Literal

# A solver's answer to a Query (:class:`nnv.core.plugin.solver.Solution`). ``optimal`` and
# ``feasible`` carry values that were checked against the Query; ``infeasible`` is a proof only
# from a solver with the ``exact`` capability whose Solution says ``exact``.
SolveStatus = Literal["optimal", "feasible", "infeasible", "timeout", "unknown", "error"]

# A verification's verdict in VNN-LIB's sense: ``sat`` means the property is violated (a
# counterexample, replayed in float64), ``unsat`` that it holds. The same words serve every
# stage: one (piece, disjunct) case, a branch-and-bound search, the whole property.
Verdict = Literal["sat", "unsat", "timeout", "unknown"]

# One repair trial (:class:`nnv.core.repair.trial.TrialResult`, a row of trials.csv).
TrialStatus = Literal["repaired", "not_repaired", "timeout", "error"]

# A whole repair run (result.json's ``status``), whatever the method: ``repaired`` only with a
# certified network; ``partially_proved`` when time ran out on a candidate the verifier had
# proved on part of the regions (the share is reported; nothing is certified); ``error`` when
# every trial failed so.
RunStatus = Literal["repaired", "partially_proved", "not_repaired", "timeout", "error"]


def proved_share(fraction: float) -> str:
    """The share of a region's volume a partial proof covers, as users read it: rounded down
    to 0.01 %, so that a share short of the whole never reads 100.00 %."""
    return f"{math.floor(10_000 * fraction + 1e-9) / 100:.2f} %"
